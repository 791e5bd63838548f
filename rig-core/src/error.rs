//! The one error type every rig crate returns (DESIGN §4).

use std::sync::Arc;

/// Why a service refused an operation. Returned by [`crate::Service::validate`]; the operation is
/// never logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    /// A short machine-readable code, e.g. `duplicate_id` or `malformed`.
    pub code: String,
    /// A lowercase human-readable explanation.
    pub message: String,
}

impl Rejection {
    /// Builds a rejection from a code and a message.
    ///
    /// ```
    /// let r = rig_core::Rejection::new("duplicate_id", "user 7 already exists");
    /// assert_eq!(r.to_string(), "duplicate_id: user 7 already exists");
    /// ```
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// rig's error. Each variant says what the caller should do next.
///
/// The type is `Clone` so that one failure (a failed fsync, a lost quorum) can be handed to every
/// waiter of a batch.
///
/// ```
/// use rig_core::Error;
/// let e = Error::NotLeader { leader: Some("10.0.0.2:4501".into()) };
/// assert!(e.to_string().contains("10.0.0.2:4501"));
/// assert!(!e.is_fatal());
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The service refused the operation; nothing was logged. Fix the request; do not retry it as is.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// This node does not accept writes. Send the operation to `leader` (when known).
    #[error("not the leader (leader: {})", leader.as_deref().unwrap_or("unknown"))]
    NotLeader {
        /// The address or id of the node that accepts writes, when this node knows it.
        leader: Option<String>,
    },
    /// Temporarily unable to serve (no quorum, replica timeout, store throttling, disk full).
    /// Nothing was applied: retry later.
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What is unavailable and why.
        reason: String,
    },
    /// The operation may or may not have been applied. Retry it with the same client id and
    /// sequence number: the engine then returns the original result instead of applying it twice.
    #[error("outcome unknown: {reason}")]
    OutcomeUnknown {
        /// What made the outcome unknowable.
        reason: String,
    },
    /// Another writer took over this log. This instance must stop writing.
    #[error("fenced: {reason}")]
    Fenced {
        /// Who fenced this writer, as far as it is known.
        reason: String,
    },
    /// Persisted or received bytes failed a checksum or format check. rig never returns wrong data.
    #[error("corrupt data at {location}: {reason}")]
    Corrupt {
        /// The file and offset, object key, or peer where the bad bytes are.
        location: String,
        /// What check failed.
        reason: String,
    },
    /// An earlier fatal error (failed fsync, apply failure, fencing) stopped this instance.
    /// Restart and recover from durable state.
    #[error("poisoned by an earlier fatal error: {cause}")]
    Poisoned {
        /// The error that poisoned the instance.
        cause: String,
    },
    /// An I/O error in a backend.
    #[error("{backend}: {context}: {source}")]
    Io {
        /// The backend's name, e.g. `file-log`.
        backend: &'static str,
        /// What the backend was doing, with the file or object involved.
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Any other backend failure.
    #[error("{backend}: {context}: {source}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// What the backend was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A caller passed an argument the API cannot accept (e.g. a version out of range).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The instance was closed; no more operations are accepted.
    #[error("closed")]
    Closed,
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(backend: &'static str, context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            backend,
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// Builds an [`Error::Corrupt`].
    pub fn corrupt(location: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            location: location.into(),
            reason: reason.into(),
        }
    }

    /// True when the error stops the instance: after it, every call fails until a restart.
    ///
    /// ```
    /// use rig_core::Error;
    /// assert!(Error::Poisoned { cause: "fsync failed".into() }.is_fatal());
    /// assert!(!Error::Unavailable { reason: "no quorum".into() }.is_fatal());
    /// ```
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Fenced { .. }
                | Self::Corrupt { .. }
                | Self::Poisoned { .. }
                | Self::Io { .. }
                | Self::Backend { .. }
        )
    }
}

/// rig's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
