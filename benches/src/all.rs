//! `rig-bench all`: every scenario at a small fixed configuration, one after another, into one
//! JSON array (`target/rig-bench/results.json`) that `rig-bench report` turns into BENCHMARKS.md.
//!
//! The configuration is fixed so runs compare: clients 1, 16, 64 and 256 for the engine and
//! replicated scenarios, each measured three times (the median ratio is kept, with the spread),
//! op counts sized so the whole run stays under five minutes on a 2-core machine. Each scenario
//! carries its same-run baseline (see each module).

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Value};

use crate::{engine, okaywal_peer, probe, raft, recovery, s3, two_pc};

/// The client counts of every scaling scenario.
pub(crate) const CLIENTS: [usize; 4] = [1, 16, 64, 256];

/// One scenario of the suite: its name and what produces its JSON objects.
struct Scenario {
    name: &'static str,
    run: fn() -> Vec<Value>,
}

/// Measurements of each configuration; the page reports the median ratio and the spread.
const REPEATS: usize = 3;

/// Runs `one` [`REPEATS`] times per client count of [`CLIENTS`] and keeps, for each count, the
/// run with the median ratio to its baseline, with the smallest and largest ratio seen
/// (`ratio_min`, `ratio_max`): on a shared machine the spread is part of the result.
fn per_clients(one: impl Fn(usize) -> crate::report::Report) -> Vec<Value> {
    CLIENTS
        .iter()
        .map(|&c| median_of_repeats(|| one(c)))
        .collect()
}

fn median_of_repeats(one: impl Fn() -> crate::report::Report) -> Value {
    let ratio = |v: &Value| {
        v["ops_per_sec"].as_f64().unwrap_or(0.0)
            / v["baseline_ops_per_sec"].as_f64().unwrap_or(f64::NAN)
    };
    let mut runs: Vec<Value> = (0..REPEATS).map(|_| one().to_json()).collect();
    runs.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
    let (lo, hi) = (ratio(&runs[0]), ratio(&runs[runs.len() - 1]));
    let mut median = runs.swap_remove(runs.len() / 2);
    median["repeats"] = json!(REPEATS);
    median["ratio_min"] = json!((lo * 1000.0).round() / 1000.0);
    median["ratio_max"] = json!((hi * 1000.0).round() / 1000.0);
    median
}

/// The suite, in run order. A new scenario is one line here.
const SUITE: &[Scenario] = &[
    Scenario {
        name: "fsync-probe",
        run: || probe::results(1.0),
    },
    Scenario {
        name: "mem",
        run: || per_clients(|c| engine::run(false, c, 20_000 + 100 * c, 64)),
    },
    Scenario {
        name: "file",
        run: || per_clients(|c| engine::run(true, c, 1_000 + 200 * c, 64)),
    },
    Scenario {
        name: "log",
        run: || per_clients(|c| engine::run_log(c, 1_000 + 200 * c, 64)),
    },
    Scenario {
        name: "okaywal",
        run: || {
            [1, 16, 64]
                .iter()
                .map(|&w| median_of_repeats(|| okaywal_peer::run(w, 500 + 100 * w)))
                .collect()
        },
    },
    Scenario {
        name: "recovery",
        run: || vec![recovery::measure(64, 1024)],
    },
    Scenario {
        name: "2pc",
        run: || per_clients(|c| two_pc::run(c, 500 + 100 * c, 64, None)),
    },
    Scenario {
        name: "s3",
        run: || {
            let put = std::time::Duration::from_millis(20);
            per_clients(|c| s3::run_s3(c, (20 * c).max(50), s3::Target::Memory(put)))
        },
    },
    Scenario {
        name: "raft",
        run: || {
            per_clients(|c| {
                raft::run(&raft::Params {
                    nodes: 3,
                    clients: c,
                    ops: 400 + 4 * c,
                    op_bytes: 64,
                    tcp: true,
                    file: true,
                    mode: raft::parse_mode("strict").expect("a commit mode"),
                    lossy_follower_drop_pct: 0,
                })
            })
        },
    },
];

/// Where results go unless `--out` says otherwise: the workspace's `target/rig-bench/`.
pub(crate) fn default_results_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/rig-bench/results.json")
}

/// What the run was measured on, as the first object of the array.
fn machine(total_secs: f64) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0);
    json!({
        "scenario": "machine",
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": model,
        "memory_gib": (mem_kib as f64 / (1u64 << 20) as f64).round(),
        "os": std::env::consts::OS,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |k| k.trim().to_owned()),
        "total_secs": (total_secs * 10.0).round() / 10.0,
    })
}

/// Runs the suite (or the scenarios named in `only`), prints each object (one line each with
/// `json`), and writes the array to `out`.
pub(crate) fn run(json_lines: bool, only: Option<&str>, out: PathBuf) {
    let wanted: Option<Vec<&str>> = only.map(|o| o.split(',').collect());
    let started = Instant::now();
    let mut results = Vec::new();
    for s in SUITE {
        if wanted.as_ref().is_some_and(|w| !w.contains(&s.name)) {
            continue;
        }
        let t = Instant::now();
        let values = (s.run)();
        eprintln!(
            "rig-bench all: {} done in {:.1} s",
            s.name,
            t.elapsed().as_secs_f64()
        );
        for v in &values {
            if json_lines {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(v).expect("json"));
            }
        }
        results.extend(values);
    }
    let total = started.elapsed().as_secs_f64();
    results.insert(0, machine(total));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("create the results directory");
    }
    let text = serde_json::to_string_pretty(&Value::Array(results)).expect("json");
    std::fs::write(&out, text + "\n").expect("write the results");
    eprintln!(
        "rig-bench all: {total:.1} s in all; results in {}",
        out.display()
    );
}
