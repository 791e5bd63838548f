//! `rig-bench report`: turns `rig-bench all`'s results into BENCHMARKS.md and its SVG plots.
//!
//! The page is generated, never edited by hand: a table per backend (ops/s, p50/p99 per client
//! count, ratio to the same-run baseline), the plots, and what machine the run was on.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::plots::{self, Series};

/// What a scenario measures and what its same-run baseline is, for the page.
const ABOUT: &[(&str, &str, &str)] = &[
    (
        "mem",
        "the engine (`Rig::execute`) over the in-memory `MemLog`: the engine's own cost",
        "`memlog-append`: the same clients calling `MemLog::append` directly, no engine",
    ),
    (
        "file",
        "the engine over `FileLog` (segmented files, group commit, fdatasync)",
        "`fsync-batchN`: the disk's ceiling with one fdatasync per N 64-byte records, N = clients",
    ),
    (
        "log",
        "`FileLog::append` called directly (no engine), one op per call",
        "`fsync-batchN`, as for `file`",
    ),
    (
        "okaywal",
        "okaywal, a peer write-ahead log, W writer threads committing 64-byte entries",
        "`fsync-batchN`, N = writers",
    ),
    (
        "2pc",
        "the engine over a 2PC primary and one replica on loopback TCP, each on its own fsynced `FileLog`",
        "`file`: the engine over a single `FileLog` with the same clients, in the same run",
    ),
    (
        "s3",
        "`S3Log::append` over an in-memory object store with 20 ms injected PUT latency",
        "`put-per-op-serial`: one PUT per op, one at a time (the design without batching or pipelining)",
    ),
    (
        "raft",
        "a 3-node `RaftLog` group in one process, loopback TCP links, fsynced files, Strict commit; clients append on the leader",
        "the same group in Volatile commit mode, in the same run",
    ),
];

fn about(scenario: &str) -> Option<(&'static str, &'static str)> {
    ABOUT
        .iter()
        .find(|(name, _, _)| scenario == *name || scenario.starts_with(&format!("{name}-")))
        .map(|(_, what, base)| (*what, *base))
}

fn f(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `12345.0` as `12 345`: readable ops/s.
fn grouped(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let digits = format!("{:.0}", v.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// Microseconds as `850 µs`, `12.3 ms` or `1.20 s`.
fn duration(us: f64) -> String {
    if !us.is_finite() {
        "–".into()
    } else if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

fn ratio(v: &Value) -> f64 {
    f(v, "ops_per_sec") / f(v, "baseline_ops_per_sec")
}

/// The ratio, with the spread over repeated measurements when there were several.
fn ratio_spread(v: &Value) -> String {
    let (lo, hi) = (f(v, "ratio_min"), f(v, "ratio_max"));
    if lo.is_finite() && hi.is_finite() && f(v, "repeats") > 1.0 {
        format!("{:.2} ({lo:.2}–{hi:.2})", ratio(v))
    } else {
        format!("{:.2}", ratio(v))
    }
}

/// Where `rig-bench report` reads and writes.
#[derive(Debug)]
pub(crate) struct Paths {
    /// `rig-bench all`'s output.
    pub(crate) results: PathBuf,
    /// The page.
    pub(crate) page: PathBuf,
    /// The plots and the copy of the results the page is built from.
    pub(crate) assets: PathBuf,
}

impl Paths {
    /// The workspace's `target/rig-bench/results.json`, `BENCHMARKS.md` and `docs/bench/`.
    pub(crate) fn defaults() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        Self {
            results: root.join("target/rig-bench/results.json"),
            page: root.join("BENCHMARKS.md"),
            assets: root.join("docs/bench"),
        }
    }
}

/// Where a scenario comes on the page: in [`ABOUT`]'s order, unknown ones last.
fn rank(scenario: &str) -> (usize, String) {
    let i = ABOUT
        .iter()
        .position(|(name, _, _)| scenario == *name || scenario.starts_with(&format!("{name}-")))
        .unwrap_or(ABOUT.len());
    (i, scenario.to_owned())
}

/// Groups the scaling scenarios' objects by scenario, in page order, each ordered by clients.
fn scaling(results: &[Value]) -> BTreeMap<(usize, String), Vec<&Value>> {
    let mut by: BTreeMap<(usize, String), Vec<&Value>> = BTreeMap::new();
    for v in results.iter().filter(|v| v.get("ops_per_sec").is_some()) {
        by.entry(rank(s(v, "scenario"))).or_default().push(v);
    }
    for rows in by.values_mut() {
        rows.sort_by(|a, b| f(a, "clients").total_cmp(&f(b, "clients")));
    }
    by
}

/// Writes the page and its plots; returns the page's path.
pub(crate) fn generate(paths: &Paths) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(&paths.results)
        .map_err(|e| format!("reading {}: {e}", paths.results.display()))?;
    let results: Vec<Value> = serde_json::from_str(&text)?;
    std::fs::create_dir_all(&paths.assets)?;
    std::fs::write(paths.assets.join("results.json"), &text)?;
    let by = scaling(&results);
    let points = |key: &dyn Fn(&Value) -> f64| -> Vec<Series> {
        by.iter()
            .filter(|(_, rows)| rows.len() > 1)
            .map(|((_, name), rows)| Series {
                label: name.clone(),
                points: rows
                    .iter()
                    .map(|v| (f(v, "clients"), key(v)))
                    .filter(|p| p.1.is_finite() && p.1 > 0.0)
                    .collect(),
            })
            .collect()
    };
    plots::against_clients(
        &paths.assets.join("throughput.svg"),
        "Throughput against clients",
        "ops/s",
        &points(&|v| f(v, "ops_per_sec")),
    )?;
    plots::against_clients(
        &paths.assets.join("ratio.svg"),
        "Ratio to the same-run baseline",
        "ops/s ÷ baseline ops/s",
        &points(&ratio),
    )?;
    let rel = |file: &str| -> String {
        let page_dir = paths.page.parent().unwrap_or(Path::new("."));
        let full = paths.assets.join(file);
        let full = full.strip_prefix(page_dir).unwrap_or(&full);
        full.to_string_lossy().into_owned()
    };
    let mut md = header(&results);
    let _ = writeln!(
        md,
        "## Throughput and ratios\n\n![Throughput against clients]({})\n\n![Ratio to the same-run baseline against clients]({})\n",
        rel("throughput.svg"),
        rel("ratio.svg")
    );
    md.push_str(&headline(&by));
    for ((_, name), rows) in &by {
        md.push_str(&table(name, rows));
        let percentiles = cdf_percentiles(rows);
        if !percentiles.is_empty() {
            let file = format!("latency-{name}.svg");
            let series: Vec<Series> = rows
                .iter()
                .map(|v| Series {
                    label: clients(f(v, "clients")),
                    points: v["latency_cdf_us"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, p)| (i as f64, p[1].as_f64().unwrap_or(0.0).max(1.0)))
                        .collect(),
                })
                .collect();
            plots::latency_distribution(
                &paths.assets.join(&file),
                &format!("{name}: latency distribution"),
                &percentiles,
                &series,
            )?;
            let _ = writeln!(md, "![{name} latency distribution]({})\n", rel(&file));
        }
    }
    md.push_str(&others(&results));
    std::fs::write(&paths.page, md)?;
    Ok(paths.page.clone())
}

fn cdf_percentiles(rows: &[&Value]) -> Vec<f64> {
    rows.first()
        .and_then(|v| v["latency_cdf_us"].as_array())
        .map(|a| a.iter().filter_map(|p| p[0].as_f64()).collect())
        .unwrap_or_default()
}

fn header(results: &[Value]) -> String {
    let m = results
        .iter()
        .find(|v| s(v, "scenario") == "machine")
        .cloned()
        .unwrap_or(Value::Null);
    let mut md = String::from(
        "# Benchmarks\n\n<!-- Generated by `rig-bench report` from docs/bench/results.json: do not edit. -->\n\n",
    );
    let _ = writeln!(
        md,
        "Measured with `cargo run --release -p rig-benches --bin rig-bench -- all --json` (every \
         scenario at a small fixed configuration), then rendered with `cargo run --release -p \
         rig-benches --bin rig-bench -- report`. The raw results are in \
         [docs/bench/results.json](docs/bench/results.json).\n"
    );
    let _ = writeln!(
        md,
        "**Machine:** {} CPUs ({}), {} GiB of memory, {} ({}), a virtual disk; the whole suite took \
         {:.0} s. The machine is a small shared virtual machine: other work ran beside the suite, \
         and its disk and CPU are noisy.\n",
        f(&m, "cpus"),
        s(&m, "cpu_model"),
        f(&m, "memory_gib"),
        s(&m, "os"),
        s(&m, "kernel"),
        f(&m, "total_secs"),
    );
    md.push_str(
        "**Read every figure as a ratio to its same-run baseline.** Absolute ops/s say more about \
         this machine than about rig; each scenario measures a baseline in the same process, \
         minutes apart at most, and the ratio is the figure that carries over to other \
         machines.\n\n| scenario | what it measures | same-run baseline |\n|---|---|---|\n",
    );
    for (name, what, base) in ABOUT {
        let _ = writeln!(md, "| `{name}` | {what} | {base} |");
    }
    md.push('\n');
    md
}

fn clients(n: f64) -> String {
    if n == 1.0 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

/// Every scaling scenario's ratio at each client count, in one table.
fn headline(by: &BTreeMap<(usize, String), Vec<&Value>>) -> String {
    let mut counts: Vec<f64> = by.values().flatten().map(|v| f(v, "clients")).collect();
    counts.sort_by(f64::total_cmp);
    counts.dedup();
    let mut md = String::from(
        "### Ratio to the same-run baseline\n\nEach cell: the median ratio of three measurements, \
         and in brackets the smallest and largest; the ops/s and latencies in the tables \
         below are the median measurement's.\n\n| scenario | baseline |",
    );
    for c in &counts {
        let _ = write!(md, " {} |", clients(*c));
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---:|".repeat(counts.len()));
    md.push('\n');
    for ((_, name), rows) in by {
        let base = rows.first().map_or("", |v| s(v, "baseline"));
        let base = match base.strip_prefix("fsync-batch") {
            Some(_) => "fsync-batchN",
            None => base,
        };
        let _ = write!(md, "| `{name}` | `{base}` |");
        for c in &counts {
            match rows.iter().find(|v| f(v, "clients") == *c) {
                Some(v) => {
                    let _ = write!(md, " {} |", ratio_spread(v));
                }
                None => md.push_str(" – |"),
            }
        }
        md.push('\n');
    }
    md.push('\n');
    md
}

fn table(name: &str, rows: &[&Value]) -> String {
    let mut md = format!("## `{name}`\n\n");
    if let Some((what, base)) = about(name) {
        let _ = writeln!(md, "What it measures: {what}. Baseline: {base}.\n");
    }
    md.push_str(
        "| clients | ops | ops/s | p50 | p99 | max | baseline | baseline ops/s | ratio (spread) |\n|---:|---:|---:|---:|---:|---:|---|---:|---:|\n",
    );
    for v in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | `{}` | {} | {} |",
            f(v, "clients"),
            f(v, "ops"),
            grouped(f(v, "ops_per_sec")),
            duration(f(v, "p50_us")),
            duration(f(v, "p99_us")),
            duration(f(v, "max_us")),
            s(v, "baseline"),
            grouped(f(v, "baseline_ops_per_sec")),
            ratio_spread(v),
        );
    }
    md.push('\n');
    md
}

/// The fsync probe and the recovery scenario, which have figures of their own.
fn others(results: &[Value]) -> String {
    let mut md = String::new();
    let probes: Vec<&Value> = results
        .iter()
        .filter(|v| s(v, "scenario") == "fsync-probe")
        .collect();
    if !probes.is_empty() {
        md.push_str(
            "## The disk: `fsync-probe`\n\nThe baselines of the disk-bound scenarios: 64-byte \
             records written to a preallocated file, one fdatasync per N records.\n\n| records per \
             fdatasync | records/s | fdatasyncs/s |\n|---:|---:|---:|\n",
        );
        for v in probes {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                f(v, "records_per_fsync"),
                grouped(f(v, "records_per_sec")),
                grouped(f(v, "fsyncs_per_sec")),
            );
        }
        md.push('\n');
    }
    for v in results.iter().filter(|v| s(v, "scenario") == "recovery") {
        let _ = writeln!(
            md,
            "## `recovery`\n\nA `FileLog` of {} entries of {} bytes ({:.0} MiB of segments) \
             reopened (every record scanned and verified) and replayed (read back through \
             `Log::read`, as the engine does on open).\n\n| open | open GiB/s | replay | replay GiB/s |\n|---:|---:|---:|---:|\n| {} | {:.2} | {} | {:.2} |\n",
            f(v, "entries"),
            f(v, "op_bytes"),
            f(v, "segment_bytes") / (1u64 << 20) as f64,
            duration(f(v, "open_secs") * 1e6),
            f(v, "open_gib_per_sec"),
            duration(f(v, "replay_secs") * 1e6),
            f(v, "replay_gib_per_sec"),
        );
    }
    md
}
