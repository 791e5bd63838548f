//! A tiny counter service for rig's documentation examples. Not part of the API.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Operation, Rejection, Resources, Service, ServiceError};

/// `add` with a JSON `[counter, amount]` adds `amount` to `counter` and returns the new value.
#[derive(Debug, Default)]
pub struct Counters {
    version: u64,
    values: std::collections::BTreeMap<String, i64>,
}

impl Counters {
    /// The value of one counter.
    pub fn get(&self, name: &str) -> i64 {
        self.values.get(name).copied().unwrap_or(0)
    }
}

/// Builds an `add` operation.
pub fn add(counter: &str, amount: i64) -> Operation {
    Operation::json("add", &(counter, amount)).expect("encodes")
}

#[async_trait]
impl Service for Counters {
    type Output = i64;
    async fn version(&self) -> u64 {
        self.version
    }
    async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
        if op.method != "add" {
            return Err(Rejection::new("unknown_method", &op.method));
        }
        op.decode::<(String, i64)>().map(|_| ())
    }
    async fn resources(&self, op: &Operation) -> Resources {
        op.decode::<(String, i64)>()
            .map_or(Resources::All, |(c, _)| Resources::keys([c]))
    }
    async fn apply(&mut self, version: u64, op: &Operation) -> Result<i64, ServiceError> {
        let (c, n): (String, i64) = op.decode().map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        let v = self.values.entry(c).or_default();
        *v += n;
        Ok(*v)
    }
    async fn snapshot(&self) -> Result<Bytes, ServiceError> {
        serde_json::to_vec(&self.values)
            .map(Into::into)
            .map_err(|e| ServiceError(e.to_string()))
    }
    async fn restore(&mut self, version: u64, data: Bytes) -> Result<(), ServiceError> {
        self.values = serde_json::from_slice(&data).map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        Ok(())
    }
}
