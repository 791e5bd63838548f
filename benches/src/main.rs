//! `rig-bench`: one scenario per run, one JSON object (DESIGN §8) per scenario.
//!
//! ```text
//! rig-bench fsync-probe [--seconds S]
//! rig-bench file    --clients C --ops N --op-bytes B [--json]
//! rig-bench mem     --clients C --ops N [--op-bytes B] [--json]
//! rig-bench log     --clients C --ops N [--op-bytes B] [--json]   (FileLog::append, no engine)
//! rig-bench okaywal --writers W [--ops N] [--json]
//! rig-bench recovery [--mb M] [--op-bytes B]
//! rig-bench all [--json] [--only a,b] [--out results.json]   (every scenario, small fixed sizes)
//! rig-bench report [--results results.json] [--page BENCHMARKS.md] [--assets docs/bench]
//! rig-bench raft --nodes 3 --clients C --net mem|tcp --log mem|file --mode volatile|strict [--ops N] [--op-bytes B] [--threads T] [--lossy-follower-drop-pct P] [--json]
//! ```
//! Every figure is meant to be read as a ratio to the baseline measured in the same run: the
//! disk and CPU are shared and noisy.
// Benchmarks measure the real disk and the wall clock directly, outside the seams.
#![allow(clippy::disallowed_methods)]

mod all;
mod engine;
mod okaywal_peer;
mod page;
mod plots;
mod probe;
mod raft;
mod recovery;
mod report;
mod s3;
mod two_pc;
mod two_pc_pair;

use std::collections::HashMap;

fn usage() -> ! {
    eprintln!(
        "usage: rig-bench fsync-probe [--seconds S]\n       rig-bench file --clients C --ops N --op-bytes B [--json]\n       rig-bench mem --clients C --ops N [--op-bytes B] [--json]\n       rig-bench log --clients C --ops N [--op-bytes B] [--json]\n       rig-bench okaywal --writers W [--ops N] [--json]\n       rig-bench recovery [--mb M] [--op-bytes B]\n       rig-bench 2pc --clients C [--ops N] [--rounds-in-flight R] [--json]\n       rig-bench s3 --clients C (--put-latency-ms L | --endpoint URL --bucket B) [--ops N] [--json]\n       rig-bench raft --nodes 3 --clients C --net mem|tcp --log mem|file --mode volatile|strict [--ops N] [--op-bytes B] [--threads T] [--lossy-follower-drop-pct P] [--json]\n       rig-bench all [--json] [--only a,b] [--out results.json]\n       rig-bench report [--results results.json] [--page BENCHMARKS.md] [--assets docs/bench]"
    );
    std::process::exit(2)
}

/// `--name value` pairs and bare `--flag`s.
fn parse(args: &[String]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let Some(name) = args[i].strip_prefix("--") else {
            usage()
        };
        match args.get(i + 1).filter(|v| !v.starts_with("--")) {
            Some(v) => {
                out.insert(name.to_owned(), v.clone());
                i += 2;
            }
            None => {
                out.insert(name.to_owned(), String::new());
                i += 1;
            }
        }
    }
    out
}

fn num(opts: &HashMap<String, String>, name: &str, default: Option<u64>) -> u64 {
    match opts.get(name) {
        Some(v) => v.parse().unwrap_or_else(|_| usage()),
        None => default.unwrap_or_else(|| usage()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { usage() };
    let opts = parse(&args[1..]);
    let json = opts.contains_key("json");
    match cmd.as_str() {
        "fsync-probe" => probe::run_probe(num(&opts, "seconds", Some(2)) as f64),
        "file" | "mem" => {
            let clients = num(&opts, "clients", None) as usize;
            let ops = num(&opts, "ops", None) as usize;
            let op_bytes = num(&opts, "op-bytes", Some(64)) as usize;
            let r = engine::run(cmd == "file", clients.max(1), ops.max(1), op_bytes);
            r.print(json);
        }
        "log" => {
            let clients = num(&opts, "clients", None) as usize;
            let ops = num(&opts, "ops", None) as usize;
            let op_bytes = num(&opts, "op-bytes", Some(64)) as usize;
            engine::run_log(clients.max(1), ops.max(1), op_bytes).print(json);
        }
        "okaywal" => {
            let writers = num(&opts, "writers", None) as usize;
            let ops = num(&opts, "ops", Some(20_000)) as usize;
            okaywal_peer::run(writers.max(1), ops.max(1)).print(json);
        }
        "recovery" => recovery::run(
            num(&opts, "mb", Some(512)),
            num(&opts, "op-bytes", Some(1024)) as usize,
        ),
        "2pc" => two_pc::run(
            num(&opts, "clients", None).max(1) as usize,
            num(&opts, "ops", Some(20_000)).max(1) as usize,
            num(&opts, "op-bytes", Some(64)) as usize,
            opts.get("rounds-in-flight")
                .map(|_| num(&opts, "rounds-in-flight", None).max(1) as usize),
        )
        .print(json),
        "s3" => {
            let clients = num(&opts, "clients", None).max(1) as usize;
            let ops = num(&opts, "ops", Some(20 * clients as u64)).max(1) as usize;
            let target = match opts.get("endpoint") {
                Some(url) => s3::Target::Endpoint {
                    url: url.clone(),
                    bucket: opts.get("bucket").cloned().unwrap_or_else(|| usage()),
                },
                None => s3::Target::Memory(std::time::Duration::from_millis(num(
                    &opts,
                    "put-latency-ms",
                    None,
                ))),
            };
            s3::run_s3(clients, ops, target).print(json);
        }
        "raft" => {
            let text = |name: &str, default: &str| {
                opts.get(name)
                    .cloned()
                    .unwrap_or_else(|| default.to_owned())
            };
            let clients = num(&opts, "clients", None).max(1) as usize;
            let params = raft::Params {
                nodes: num(&opts, "nodes", Some(3)).max(1),
                clients,
                ops: num(&opts, "ops", Some(200 * clients as u64)).max(1) as usize,
                op_bytes: num(&opts, "op-bytes", Some(0)) as usize,
                tcp: match text("net", "mem").as_str() {
                    "mem" => false,
                    "tcp" => true,
                    _ => usage(),
                },
                file: match text("log", "mem").as_str() {
                    "mem" => false,
                    "file" => true,
                    _ => usage(),
                },
                mode: raft::parse_mode(&text("mode", "volatile")).unwrap_or_else(|| usage()),
                lossy_follower_drop_pct: match num(&opts, "lossy-follower-drop-pct", Some(0)) {
                    pct @ 0..=100 => pct,
                    _ => usage(),
                },
            };
            raft::run_on(&params, num(&opts, "threads", Some(0)) as usize).print(json);
        }
        "all" => all::run(
            json,
            opts.get("only").map(String::as_str),
            opts.get("out")
                .map_or_else(all::default_results_path, Into::into),
        ),
        "report" => {
            let d = page::Paths::defaults();
            let path = |name: &str, default: std::path::PathBuf| {
                opts.get(name).map_or(default, Into::into)
            };
            let paths = page::Paths {
                results: path("results", d.results),
                page: path("page", d.page),
                assets: path("assets", d.assets),
            };
            match page::generate(&paths) {
                Ok(page) => eprintln!("rig-bench report: wrote {}", page.display()),
                Err(e) => {
                    eprintln!("rig-bench report: {e}");
                    std::process::exit(1)
                }
            }
        }
        _ => usage(),
    }
}
