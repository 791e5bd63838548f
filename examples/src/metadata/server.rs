//! Running the service: serve the API until a shutdown signal, drain, close the log.

use std::future::Future;

use rig_core::{Log, Rig};
use tokio::net::TcpListener;

use super::node::NodeControl;
use super::{http, MetadataService};

/// The log backends the `metadata` binary can run on today.
pub const BACKENDS: [&str; 4] = ["file", "s3", "2pc", "raft"];

/// Checks a `--backend` value: the name of a backend that exists.
///
/// ```
/// use rig_examples::metadata::server::parse_backend;
/// assert_eq!(parse_backend("file").unwrap(), "file");
/// assert_eq!(parse_backend("raft").unwrap(), "raft");
/// assert!(parse_backend("zookeeper").unwrap_err().contains("file"));
/// ```
pub fn parse_backend(name: &str) -> Result<String, String> {
    if BACKENDS.contains(&name) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "backend {name:?} does not exist; the backends are: {}",
            BACKENDS.join(", ")
        ))
    }
}

/// Binds `addr` (e.g. `127.0.0.1:0` for any free port).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    // The service's own listening socket: the binary's production edge, not library code.
    #[allow(clippy::disallowed_methods)]
    TcpListener::bind(addr).await
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, lets requests
/// in flight finish (their operations drain through the engine), and closes `rig` and its log.
pub async fn serve<L: Log>(
    rig: Rig<MetadataService, L>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    serve_with(rig, NodeControl::none(), listener, shutdown).await
}

/// Like [`serve`], with the backend's extra abilities (`/status` details, promotion).
pub async fn serve_with<L: Log>(
    rig: Rig<MetadataService, L>,
    control: NodeControl,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    axum::serve(listener, http::router_with(rig.clone(), control))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!(version = rig.applied_version(), "drained; closing the log");
    rig.close().await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for ctrl-c: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        biased;
        _ = ctrl_c => tracing::info!("ctrl-c: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}
