//! A progress bar on stderr for long work, drawn only when stderr is a terminal (never in
//! scripts, pipes or tests' captured output).

use std::io::{IsTerminal, Write};

/// Draws `label [#####.....] done/total` in place, at most once per percent.
#[derive(Debug)]
pub(crate) struct Progress {
    label: &'static str,
    total: u64,
    drawn_percent: Option<u64>,
    enabled: bool,
}

impl Progress {
    /// A bar for `total` units of work; silent unless stderr is a terminal.
    pub(crate) fn new(label: &'static str, total: u64) -> Self {
        Self {
            label,
            total,
            drawn_percent: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Shows that `done` units are finished.
    pub(crate) fn set(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let percent = percent(done, self.total);
        if self.drawn_percent == Some(percent) {
            return;
        }
        self.drawn_percent = Some(percent);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{}", render(self.label, done, self.total));
        let _ = err.flush();
    }

    /// Clears the bar's line.
    pub(crate) fn finish(&mut self) {
        if self.enabled && self.drawn_percent.is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

fn percent(done: u64, total: u64) -> u64 {
    // No work at all is all done.
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}

/// The bar's text: 30 cells, `#` for done.
pub(crate) fn render(label: &str, done: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let filled = percent(done, total) * WIDTH / 100;
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '.' })
        .collect();
    format!("{label} [{bar}] {done}/{total} ({}%)", percent(done, total))
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn the_bar_fills_with_the_work_done() {
        assert_eq!(
            render("verify", 0, 10),
            "verify [..............................] 0/10 (0%)"
        );
        assert_eq!(
            render("verify", 5, 10),
            "verify [###############...............] 5/10 (50%)"
        );
        assert_eq!(
            render("verify", 10, 10),
            "verify [##############################] 10/10 (100%)"
        );
        assert!(
            render("verify", 0, 0).ends_with("(100%)"),
            "no work is all done"
        );
    }
}
