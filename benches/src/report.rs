//! The JSON object every scenario prints (DESIGN §8).

use std::time::Duration;

/// One scenario's result.
pub(crate) struct Report {
    pub(crate) scenario: String,
    pub(crate) clients: usize,
    pub(crate) ops: usize,
    pub(crate) op_bytes: usize,
    pub(crate) elapsed: Duration,
    /// Per-op latencies, any order.
    pub(crate) latencies: Vec<Duration>,
    /// What the baseline was (e.g. `fsync-batch16`), and its figure from the same run.
    pub(crate) baseline: Option<(String, f64)>,
}

impl Report {
    pub(crate) fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn print(mut self, json: bool) {
        self.latencies.sort_unstable();
        let pct = |p: f64| {
            let n = self.latencies.len();
            if n == 0 {
                return 0;
            }
            self.latencies[((n as f64 * p).ceil() as usize).clamp(1, n) - 1].as_micros() as u64
        };
        let ops_per_sec = self.ops_per_sec();
        let (baseline, baseline_ops) = match &self.baseline {
            Some((name, v)) => (serde_json::json!(name), serde_json::json!(v.round())),
            None => (serde_json::json!("none"), serde_json::Value::Null),
        };
        let value = serde_json::json!({
            "scenario": self.scenario,
            "clients": self.clients,
            "ops": self.ops,
            "op_bytes": self.op_bytes,
            "ops_per_sec": ops_per_sec.round(),
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "max_us": pct(1.0),
            "baseline": baseline,
            "baseline_ops_per_sec": baseline_ops,
        });
        if json {
            println!("{value}");
        } else {
            println!("{}", serde_json::to_string_pretty(&value).expect("json"));
            if let Some((name, v)) = &self.baseline {
                println!("ratio to {name}: {:.2}", ops_per_sec / v);
            }
        }
    }
}
