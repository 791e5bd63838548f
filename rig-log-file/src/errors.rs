//! Mapping I/O failures into rig's [`Error`].

use std::io;

use rig_core::Error;

/// The backend name used in errors and logs.
pub(crate) const BACKEND: &str = "file-log";

/// True when `e` says the disk (or quota) is full: the caller may retry once space is freed.
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Maps an I/O error met while doing `context`: a full disk is [`Error::Unavailable`] (retry once
/// space is freed), anything else is [`Error::Io`].
pub(crate) fn io_err(context: impl Into<String>, e: io::Error) -> Error {
    let context = context.into();
    if is_disk_full(&e) {
        Error::Unavailable {
            reason: format!("disk full: {context}: {e}"),
        }
    } else {
        Error::io(BACKEND, context, e)
    }
}

/// The error every call returns after a failed fsync (or another failure that may have lost data).
pub(crate) fn poisoned(cause: &Error) -> Error {
    match cause {
        Error::Poisoned { .. } => cause.clone(),
        other => Error::Poisoned {
            cause: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_unavailable_and_names_the_file() {
        let e = io_err(
            "writing /x/1.seg",
            io::Error::from(io::ErrorKind::StorageFull),
        );
        assert!(
            matches!(&e, Error::Unavailable { reason } if reason.contains("disk full") && reason.contains("/x/1.seg"))
        );
        let e = io_err("writing /x/1.seg", io::Error::other("boom"));
        assert!(matches!(e, Error::Io { .. }));
    }
}
