//! Opening the engine: restore the latest snapshot, replay the log after it.

use tokio::time::Instant;

use super::apply::ApplyState;
use super::envelope::{self, Envelope};
use crate::{Error, Log, Result, Service};

/// Entries read per request while replaying.
pub(crate) const REPLAY_CHUNK: usize = 4096;

pub(crate) async fn recover<S: Service, L: Log + ?Sized>(
    service: &mut S,
    log: &L,
) -> Result<ApplyState> {
    let started = Instant::now();
    let mut state = ApplyState {
        applied: service.version().await,
        ..ApplyState::default()
    };
    if let Some(env) = load_snapshot(log).await? {
        if env.version > state.applied {
            restore(service, log, &mut state, env.version, env.service).await?;
        }
        state.clients = env.clients;
    }
    let target = log.committed();
    let start = state.applied;
    if target > start && log.first_version() > start + 1 {
        return Err(Error::corrupt(
            log.name(),
            format!(
                "state is at version {start} but the log starts at {}: entries are missing",
                log.first_version()
            ),
        ));
    }
    if target > start {
        tracing::info!(
            from = start + 1,
            to = target,
            backend = log.name(),
            "replaying log"
        );
    }
    let mut last_report = Instant::now();
    while state.applied < target {
        let entries = log.read(state.applied + 1, REPLAY_CHUNK).await?;
        if entries.is_empty() {
            return Err(Error::corrupt(
                log.name(),
                format!(
                    "log reports committed version {target} but ends at {}",
                    state.applied
                ),
            ));
        }
        for p in entries {
            // Replayed outputs have no caller; only fatal errors matter.
            let _ = state.apply(service, p.version, &p.op).await?;
        }
        if last_report.elapsed().as_secs() >= 2 {
            last_report = Instant::now();
            tracing::info!(applied = state.applied, target, "replay progress");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        applied = state.applied,
        replayed = state.applied - start,
        secs,
        "recovery complete"
    );
    state.ops_since_snapshot = 0;
    state.bytes_since_snapshot = 0;
    Ok(state)
}

/// The log's newest snapshot, decoded and checked against the version the log stores it under.
pub(crate) async fn load_snapshot<L: Log + ?Sized>(log: &L) -> Result<Option<Envelope>> {
    let Some(snap) = log.load_snapshot().await? else {
        return Ok(None);
    };
    let location = format!("{} snapshot at version {}", log.name(), snap.version);
    let env = envelope::decode(&snap.data).map_err(|e| Error::corrupt(&location, e.to_string()))?;
    if env.version != snap.version {
        return Err(Error::corrupt(
            location,
            format!("envelope says version {}", env.version),
        ));
    }
    Ok(Some(env))
}

/// Hands a snapshot's service bytes to the service and moves `applied` to its version. The
/// caller sets the client table (at open it always comes from the snapshot).
pub(crate) async fn restore<S: Service, L: Log + ?Sized>(
    service: &mut S,
    log: &L,
    state: &mut ApplyState,
    version: u64,
    bytes: bytes::Bytes,
) -> Result<()> {
    tracing::info!(
        version,
        bytes = bytes.len(),
        applied = state.applied,
        backend = log.name(),
        "restoring snapshot"
    );
    service
        .restore(version, bytes)
        .await
        .map_err(|e| Error::Poisoned {
            cause: format!(
                "service restore of the {} snapshot at version {version} failed: {e}",
                log.name()
            ),
        })?;
    state.applied = version;
    Ok(())
}
