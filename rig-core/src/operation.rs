//! What a client asks for ([`Operation`]) and what the log stores ([`LogPayload`]).

use bytes::Bytes;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{Error, Rejection};

/// Identifies a client request for exactly-once execution (DESIGN §3.7).
///
/// The engine remembers the latest sequence number and result per client id (also across
/// snapshots), so a retried operation with the same `(client, seq)` returns its original result
/// instead of being applied twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientSeq {
    /// A client id, unique per client (e.g. random at client start-up).
    pub client: u64,
    /// Strictly increasing per client; a retry reuses the number.
    pub seq: u64,
}

/// An operation a client asks the service to perform, e.g. `user_create` with JSON data.
///
/// ```
/// use rig_core::Operation;
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct NewUser { id: u64, name: String }
///
/// let op = Operation::json("user_create", &NewUser { id: 1, name: "ada".into() }).unwrap();
/// assert_eq!(op.method, "user_create");
/// let back: NewUser = op.decode().unwrap();
/// assert_eq!(back.name, "ada");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Which method of the service to run.
    pub method: String,
    /// The method's argument, opaque to rig.
    pub data: Bytes,
    /// Optional client id and sequence number for exactly-once retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientSeq>,
}

impl Operation {
    /// Builds an operation from a method name and raw data.
    ///
    /// ```
    /// let op = rig_core::Operation::new("incr", "counter-a");
    /// assert_eq!(&op.data[..], b"counter-a");
    /// ```
    pub fn new(method: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Self {
            method: method.into(),
            data: data.into(),
            client: None,
        }
    }

    /// Builds an operation whose data is `value` encoded as JSON.
    ///
    /// ```
    /// let op = rig_core::Operation::json("set", &("k", 1)).unwrap();
    /// assert_eq!(&op.data[..], br#"["k",1]"#);
    /// ```
    pub fn json<T: Serialize + ?Sized>(
        method: impl Into<String>,
        value: &T,
    ) -> crate::Result<Self> {
        let data = serde_json::to_vec(value)
            .map_err(|e| Error::InvalidArgument(format!("cannot encode operation data: {e}")))?;
        Ok(Self::new(method, data))
    }

    /// Tags the operation with a client id and sequence number (exactly-once retries).
    ///
    /// ```
    /// let op = rig_core::Operation::new("incr", "a").with_client(7, 1);
    /// assert_eq!(op.client.unwrap().seq, 1);
    /// ```
    pub fn with_client(mut self, client: u64, seq: u64) -> Self {
        self.client = Some(ClientSeq { client, seq });
        self
    }

    /// Decodes `data` from JSON; a malformed payload becomes a [`Rejection`] with code `malformed`.
    ///
    /// ```
    /// let op = rig_core::Operation::new("set", "not json");
    /// let err = op.decode::<u32>().unwrap_err();
    /// assert_eq!(err.code, "malformed");
    /// ```
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        serde_json::from_slice(&self.data).map_err(|e| {
            Rejection::new(
                "malformed",
                format!("bad data for method {}: {e}", self.method),
            )
        })
    }
}

/// One log entry: the operation applied at `version`.
///
/// Versions start at 1, are gap-free and strictly increasing: version N is the N-th operation ever
/// applied. The binary form is [`crate::codec`]'s, shared by every backend.
///
/// ```
/// use rig_core::{LogPayload, Operation};
/// let p = LogPayload { version: 1, op: Operation::new("incr", "a") };
/// assert_eq!(p.version, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPayload {
    /// The entry's version.
    pub version: u64,
    /// The operation.
    pub op: Operation,
}
