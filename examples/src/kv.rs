//! A small key-value service: the state machine the `kv` example runs on rig.

use std::collections::BTreeMap;

use bytes::Bytes;
use rig_core::{async_trait, Operation, Rejection, Resources, Service, ServiceError};
use serde::{Deserialize, Serialize};

/// The operations the key-value service accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "data", rename_all = "snake_case")]
pub enum KvOp {
    /// Stores `value` under `key`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Removes `key`; rejected when it is absent.
    Delete {
        /// The key.
        key: String,
    },
}

impl KvOp {
    /// The operation as rig logs it.
    ///
    /// ```
    /// use rig_examples::kv::KvOp;
    /// let op = KvOp::Put { key: "a".into(), value: "1".into() }.to_operation();
    /// assert_eq!(op.method, "put");
    /// ```
    pub fn to_operation(&self) -> Operation {
        let (method, data) = match self {
            KvOp::Put { key, value } => ("put", serde_json::json!({ "key": key, "value": value })),
            KvOp::Delete { key } => ("delete", serde_json::json!({ "key": key })),
        };
        Operation::json(method, &data).expect("a JSON value always encodes")
    }

    /// Decodes a logged operation; unknown methods and malformed data are rejections.
    pub fn from_operation(op: &Operation) -> Result<Self, Rejection> {
        let value: serde_json::Value = op.decode()?;
        let tagged = serde_json::json!({ "method": op.method, "data": value });
        serde_json::from_value(tagged)
            .map_err(|e| Rejection::new("malformed", format!("bad {} operation: {e}", op.method)))
    }

    fn key(&self) -> &str {
        match self {
            KvOp::Put { key, .. } | KvOp::Delete { key } => key,
        }
    }
}

/// An in-memory map whose every change goes through rig's log.
#[derive(Debug, Default)]
pub struct KvService {
    version: u64,
    map: BTreeMap<String, String>,
}

impl KvService {
    /// Reads a key from the applied state.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[async_trait]
impl Service for KvService {
    /// The previous value of the key.
    type Output = Option<String>;

    async fn version(&self) -> u64 {
        self.version
    }

    async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
        match KvOp::from_operation(op)? {
            KvOp::Put { key, .. } if key.is_empty() => {
                Err(Rejection::new("empty_key", "keys must not be empty"))
            }
            KvOp::Delete { key } if !self.map.contains_key(&key) => {
                Err(Rejection::new("not_found", format!("no key {key}")))
            }
            _ => Ok(()),
        }
    }

    async fn resources(&self, op: &Operation) -> Resources {
        // Operations on different keys are validated and logged in one batch.
        KvOp::from_operation(op).map_or(Resources::All, |o| Resources::keys([o.key()]))
    }

    async fn apply(&mut self, version: u64, op: &Operation) -> Result<Self::Output, ServiceError> {
        let op = KvOp::from_operation(op).map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        Ok(match op {
            KvOp::Put { key, value } => self.map.insert(key, value),
            KvOp::Delete { key } => self.map.remove(&key),
        })
    }

    async fn snapshot(&self) -> Result<Bytes, ServiceError> {
        serde_json::to_vec(&self.map)
            .map(Bytes::from)
            .map_err(|e| ServiceError(e.to_string()))
    }

    async fn restore(&mut self, version: u64, data: Bytes) -> Result<(), ServiceError> {
        self.map = serde_json::from_slice(&data)
            .map_err(|e| ServiceError(format!("bad kv snapshot: {e}")))?;
        self.version = version;
        Ok(())
    }
}
