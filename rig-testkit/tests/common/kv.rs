//! A register-per-key service for simulations: `put (key, value)` returns the previous value;
//! values divisible by 13 are rejected (so histories contain definite failures).

use std::collections::BTreeMap;

use bytes::Bytes;
use rig_core::{async_trait, Operation, Rejection, Resources, Service, ServiceError};

/// The service's state.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Kv {
    pub version: u64,
    pub map: BTreeMap<u64, u64>,
}

/// Padding in every put, so log records span disk sectors and crashes can tear them.
const PAD: usize = 300;

/// A `put` operation; the value doubles as the operation's unique id.
pub fn put(key: u64, value: u64) -> Operation {
    Operation::json("put", &(key, value, ".".repeat(PAD))).expect("encode put")
}

/// The `(key, value)` of a logged `put`.
pub fn decode(op: &Operation) -> (u64, u64) {
    let (k, v, _): (u64, u64, String) = op.decode().expect("a logged put decodes");
    (k, v)
}

#[async_trait]
impl Service for Kv {
    type Output = Option<u64>;

    async fn version(&self) -> u64 {
        self.version
    }

    async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
        if op.method != "put" {
            return Err(Rejection::new("unknown_method", &op.method));
        }
        let (_, value, _): (u64, u64, String) = op.decode()?;
        if value.is_multiple_of(13) {
            return Err(Rejection::new("unlucky", format!("value {value}")));
        }
        Ok(())
    }

    async fn resources(&self, op: &Operation) -> Resources {
        op.decode::<(u64, u64, String)>()
            .map_or(Resources::All, |(k, _, _)| Resources::keys([k.to_string()]))
    }

    async fn apply(&mut self, version: u64, op: &Operation) -> Result<Option<u64>, ServiceError> {
        let (k, v, _): (u64, u64, String) = op.decode().map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        Ok(self.map.insert(k, v))
    }

    async fn snapshot(&self) -> Result<Bytes, ServiceError> {
        let mut out = Vec::with_capacity(self.map.len() * 16);
        for (k, v) in &self.map {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        Ok(out.into())
    }

    async fn restore(&mut self, version: u64, data: Bytes) -> Result<(), ServiceError> {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8 bytes"));
        self.map = data
            .chunks_exact(16)
            .map(|c| (word(&c[..8]), word(&c[8..])))
            .collect();
        self.version = version;
        Ok(())
    }
}
