//! `rig-cli status`: one row per node of a deployment, from each node's `GET /status`.

use rig_examples::metadata::http::StatusResponse;
use rig_examples::metadata::MetadataClient;
use serde::Serialize;

/// One node's answer, or why it gave none.
#[derive(Debug, Serialize)]
pub(crate) struct NodeStatus {
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl NodeStatus {
    /// The node's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The node's status as JSON (`null` when it did not answer).
    pub(crate) fn status_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.status).expect("status encodes")
    }

    /// True when the node answered.
    pub(crate) fn reachable(&self) -> bool {
        self.status.is_some()
    }
}

/// Asks every node in `urls` for its status, all at once.
pub(crate) async fn gather(urls: &[String]) -> Vec<NodeStatus> {
    let asks = urls.iter().map(|url| async move {
        let answer = match MetadataClient::new(url) {
            Ok(c) => c.status().await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(s) => NodeStatus {
                url: url.clone(),
                status: Some(s),
                error: None,
            },
            Err(e) => NodeStatus {
                url: url.clone(),
                status: None,
                error: Some(e.to_string()),
            },
        }
    });
    futures_util::future::join_all(asks).await
}

/// The rows as a table for a terminal.
pub(crate) fn table(nodes: &[NodeStatus]) -> String {
    let mut out = format!(
        "{:<24} {:<9} {:<24} {:>9} {:>9} {:>9} {:>6} {:<10} {:<12} replicas (lag)\n",
        "node", "role", "leader", "applied", "committed", "durable", "epoch", "mode", "backend"
    );
    for n in nodes {
        let Some(s) = &n.status else {
            out.push_str(&format!(
                "{:<24} UNREACHABLE: {}\n",
                n.url,
                n.error.as_deref().unwrap_or("")
            ));
            continue;
        };
        let replicas: Vec<String> = s
            .details
            .replicas
            .iter()
            .map(|r| {
                let state = if r.connected { "" } else { " down" };
                format!("{} ({}{state})", r.addr, r.lag)
            })
            .collect();
        out.push_str(&format!(
            "{:<24} {:<9} {:<24} {:>9} {:>9} {:>9} {:>6} {:<10} {:<12} {}\n",
            n.url,
            s.role,
            s.leader.as_deref().unwrap_or("-"),
            s.version,
            s.committed,
            s.durable,
            s.details.epoch.map_or("-".to_owned(), |e| e.to_string()),
            s.details.mode.as_deref().unwrap_or("-"),
            s.backend,
            replicas.join(", ")
        ));
    }
    out
}
