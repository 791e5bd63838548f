//! The JSON object every scenario prints (DESIGN §8).

use std::time::Duration;

/// The percentiles of each latency distribution kept in the JSON (`latency_cdf_us`: `[p, µs]`).
const CDF_PERCENTILES: [f64; 12] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0,
];

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

    /// The scenario's JSON object (DESIGN §8), with the latency distribution as percentiles.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let pct = |p: f64| {
            let n = sorted.len();
            if n == 0 {
                return 0;
            }
            sorted[((n as f64 * p / 100.0).ceil() as usize).clamp(1, n) - 1].as_micros() as u64
        };
        let (baseline, baseline_ops) = match &self.baseline {
            Some((name, v)) => (serde_json::json!(name), serde_json::json!(v.round())),
            None => (serde_json::json!("none"), serde_json::Value::Null),
        };
        let cdf: Vec<serde_json::Value> = CDF_PERCENTILES
            .iter()
            .map(|p| serde_json::json!([p, pct(*p)]))
            .collect();
        serde_json::json!({
            "scenario": self.scenario,
            "clients": self.clients,
            "ops": self.ops,
            "op_bytes": self.op_bytes,
            "ops_per_sec": self.ops_per_sec().round(),
            "p50_us": pct(50.0),
            "p99_us": pct(99.0),
            "max_us": pct(100.0),
            "baseline": baseline,
            "baseline_ops_per_sec": baseline_ops,
            "latency_cdf_us": cdf,
        })
    }

    pub(crate) fn print(self, json: bool) {
        let value = self.to_json();
        if json {
            println!("{value}");
        } else {
            println!("{}", serde_json::to_string_pretty(&value).expect("json"));
            if let Some((name, v)) = &self.baseline {
                println!("ratio to {name}: {:.2}", self.ops_per_sec() / v);
            }
        }
    }
}
