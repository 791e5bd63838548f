//! `rig-load`: a load generator for the metadata service's `POST /do`, in the spirit of `ab`.
//!
//! ```sh
//! rig-load --url http://127.0.0.1:8080 --concurrency 100 --requests 100     # the seed's ab run
//! rig-load --url http://127.0.0.1:8080 --concurrency 16 --duration 10 --op user_update --json
//! ```
//!
//! Each of the `--concurrency` workers keeps one HTTP/1.1 connection open and sends its next
//! request when the previous one is answered. `user_create` creates fresh users (durable: one
//! fsync per group-commit round); `user_update` first creates one user per worker, then updates
//! it (acknowledged once applied, before the fsync).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use hyper::Method;
use rig_examples::metadata::HttpConn;
use serde_json::json;
use tokio::time::{Duration, Instant};

mod report;
use report::Report;

/// The `/do` method the load is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Op {
    /// Create a new user per request.
    UserCreate,
    /// Update one user per worker, over and over.
    UserUpdate,
}

/// Sends `POST /do` requests to a metadata service and reports throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "rig-load", version)]
struct Args {
    /// The service's base URL (`http://host:port`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Requests in flight at once (one connection each).
    #[arg(long, short = 'c', default_value_t = 100)]
    concurrency: usize,
    /// How many requests to send in all.
    #[arg(long, short = 'n', default_value_t = 100)]
    requests: u64,
    /// Run for this many seconds instead of a fixed number of requests.
    #[arg(long)]
    duration: Option<f64>,
    /// What each request does.
    #[arg(long, value_enum, default_value = "user-create")]
    op: Op,
    /// Print one JSON object instead of the ab-style report.
    #[arg(long)]
    json: bool,
}

/// One worker's results: latencies of answered requests, and failures.
#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<Duration>,
    failed: u64,
    first_error: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let (addr, _) = HttpConn::split_url(&args.url)?;
    let concurrency = args.concurrency.max(1);
    let mut run = [0u8; 4];
    getrandom::fill(&mut run).map_err(|e| format!("cannot draw a run id: {e}"))?;
    let run = u32::from_le_bytes(run);

    let mut conns = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let mut conn = HttpConn::connect(&addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        if args.op == Op::UserUpdate {
            let body = do_body(Op::UserCreate, run, w as u64, 0);
            let (status, answer) = conn.request(Method::POST, "/do", Some(body)).await?;
            if !status.is_success() {
                return Err(format!("setup user_create failed: {status} {answer:?}").into());
            }
        }
        conns.push(conn);
    }

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = args.duration.map(|s| started + Duration::from_secs_f64(s));
    let limit = if deadline.is_some() {
        u64::MAX
    } else {
        args.requests
    };
    let mut workers = Vec::with_capacity(concurrency);
    for (w, conn) in conns.into_iter().enumerate() {
        let next = next.clone();
        let op = args.op;
        let worker = worker(conn, op, run, w as u64, next, limit, deadline, addr.clone());
        workers.push(tokio::spawn(worker));
    }
    let mut total = Tally::default();
    for w in workers {
        let t = w.await?;
        total.latencies.extend(t.latencies);
        total.failed += t.failed;
        total.first_error = total.first_error.or(t.first_error);
    }
    let elapsed = started.elapsed();
    let report = Report::new(
        &args.url,
        op_name(args.op),
        concurrency,
        elapsed,
        total.latencies,
        total.failed,
    );
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.ab_text());
    }
    if let Some(e) = total.first_error {
        eprintln!("first failure: {e}");
    }
    Ok(())
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::UserCreate => "user_create",
        Op::UserUpdate => "user_update",
    }
}

/// The `/do` body of request `i` of worker `w`.
fn do_body(op: Op, run: u32, w: u64, i: u64) -> Bytes {
    let body = match op {
        Op::UserCreate => json!({"method": "user_create", "data": {
            "id": format!("load-{run:08x}-{w}-{i}"),
            "name": format!("load user {i}"),
            "email": format!("load{i}@example.com"),
        }}),
        Op::UserUpdate => json!({"method": "user_update", "data": {
            "id": format!("load-{run:08x}-{w}-0"),
            "name": format!("load user {i}"),
        }}),
    };
    Bytes::from(body.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    mut conn: HttpConn,
    op: Op,
    run: u32,
    w: u64,
    next: Arc<AtomicU64>,
    limit: u64,
    deadline: Option<Instant>,
    addr: String,
) -> Tally {
    let mut tally = Tally::default();
    // Request 0 of each worker is the setup user of `user_update`; numbering starts at 1.
    let mut i = 0;
    loop {
        if next.fetch_add(1, Ordering::Relaxed) >= limit
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            return tally;
        }
        i += 1;
        let body = do_body(op, run, w, i);
        let sent = Instant::now();
        match conn.request(Method::POST, "/do", Some(body)).await {
            Ok((status, _)) if status.is_success() => tally.latencies.push(sent.elapsed()),
            Ok((status, answer)) => {
                tally.failed += 1;
                tally.first_error.get_or_insert_with(|| {
                    format!("{status}: {}", String::from_utf8_lossy(&answer))
                });
            }
            Err(e) => {
                tally.failed += 1;
                tally.first_error.get_or_insert_with(|| e.to_string());
                match HttpConn::connect(&addr).await {
                    Ok(c) => conn = c,
                    Err(_) => return tally,
                }
            }
        }
    }
}
