//! `rig-load`'s report: throughput and latency percentiles, as text like `ab` or as JSON.

use serde::Serialize;
use tokio::time::Duration;

/// The percentiles `ab` prints.
const PERCENTILES: [u32; 9] = [50, 66, 75, 80, 90, 95, 98, 99, 100];

/// The outcome of one run.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    url: String,
    op: &'static str,
    concurrency: usize,
    complete: u64,
    failed: u64,
    elapsed_s: f64,
    requests_per_sec: f64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    #[serde(skip)]
    sorted_ms: Vec<f64>,
}

/// The latency at percentile `p` (nearest rank) of `sorted` (ascending); 0 when empty.
fn percentile(sorted: &[f64], p: u32) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (f64::from(p) / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Report {
    pub(crate) fn new(
        url: &str,
        op: &'static str,
        concurrency: usize,
        elapsed: Duration,
        latencies: Vec<Duration>,
        failed: u64,
    ) -> Self {
        let mut sorted_ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        sorted_ms.sort_by(f64::total_cmp);
        let complete = sorted_ms.len() as u64;
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mean_ms = if sorted_ms.is_empty() {
            0.0
        } else {
            sorted_ms.iter().sum::<f64>() / sorted_ms.len() as f64
        };
        Self {
            url: url.to_owned(),
            op,
            concurrency,
            complete,
            failed,
            elapsed_s: secs,
            requests_per_sec: complete as f64 / secs,
            mean_ms,
            p50_ms: percentile(&sorted_ms, 50),
            p90_ms: percentile(&sorted_ms, 90),
            p99_ms: percentile(&sorted_ms, 99),
            max_ms: percentile(&sorted_ms, 100),
            sorted_ms,
        }
    }

    /// The report laid out like ApacheBench's.
    pub(crate) fn ab_text(&self) -> String {
        let mut out = format!(
            "Server URL:             {}\n\
             Operation:              POST /do {}\n\
             Concurrency Level:      {}\n\
             Time taken for tests:   {:.3} seconds\n\
             Complete requests:      {}\n\
             Failed requests:        {}\n\
             Requests per second:    {:.2} [#/sec] (mean)\n\
             Time per request:       {:.3} [ms] (mean)\n\n\
             Percentage of the requests served within a certain time (ms)\n",
            self.url,
            self.op,
            self.concurrency,
            self.elapsed_s,
            self.complete,
            self.failed,
            self.requests_per_sec,
            self.mean_ms,
        );
        for p in PERCENTILES {
            let label = if p == 100 { " (longest request)" } else { "" };
            let ms = percentile(&self.sorted_ms, p);
            out.push_str(&format!("  {p:>3}%  {ms:>8.2}{label}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50), 50.0);
        assert_eq!(percentile(&sorted, 99), 99.0);
        assert_eq!(percentile(&sorted, 100), 100.0);
        assert_eq!(percentile(&[7.0], 50), 7.0);
        assert_eq!(percentile(&[], 50), 0.0);
    }

    #[test]
    fn the_report_counts_and_rates() {
        let lat = vec![Duration::from_millis(10), Duration::from_millis(30)];
        let r = Report::new("u", "user_create", 2, Duration::from_secs(2), lat, 1);
        assert_eq!((r.complete, r.failed), (2, 1));
        assert_eq!(r.requests_per_sec, 1.0);
        assert!((r.mean_ms - 20.0).abs() < 1e-9);
        assert!(r.ab_text().contains("Failed requests:        1"));
    }
}
