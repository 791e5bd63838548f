//! A small key-value service shared by the engine tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use bytes::Bytes;
use rig_core::{async_trait, Operation, Rejection, Resources, Service, ServiceError};

/// `set` {k, v}: stores v under k and returns the previous value.
/// `explode` {k}: passes validation, fails in apply (a service bug).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Kv {
    pub version: u64,
    pub map: BTreeMap<String, String>,
    pub applies: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Set {
    pub k: String,
    pub v: String,
}

pub fn set(k: &str, v: &str) -> Operation {
    Operation::json(
        "set",
        &Set {
            k: k.into(),
            v: v.into(),
        },
    )
    .unwrap()
}

#[async_trait]
impl Service for Kv {
    type Output = Option<String>;

    async fn version(&self) -> u64 {
        self.version
    }

    async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
        match op.method.as_str() {
            "set" => {
                let s: Set = op.decode()?;
                if s.v.is_empty() {
                    return Err(Rejection::new(
                        "empty_value",
                        format!("empty value for {}", s.k),
                    ));
                }
                Ok(())
            }
            "explode" => Ok(()),
            m => Err(Rejection::new("unknown_method", m)),
        }
    }

    async fn resources(&self, op: &Operation) -> Resources {
        match op.decode::<Set>() {
            Ok(s) => Resources::keys([s.k]),
            Err(_) => Resources::All,
        }
    }

    async fn apply(
        &mut self,
        version: u64,
        op: &Operation,
    ) -> Result<Option<String>, ServiceError> {
        if op.method == "explode" {
            return Err(ServiceError("boom".into()));
        }
        let s: Set = op.decode().map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        self.applies += 1;
        Ok(self.map.insert(s.k, s.v))
    }

    async fn snapshot(&self) -> Result<Bytes, ServiceError> {
        Ok(serde_json::to_vec(&self.map).unwrap().into())
    }

    async fn restore(&mut self, version: u64, data: Bytes) -> Result<(), ServiceError> {
        self.map = serde_json::from_slice(&data).map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        Ok(())
    }
}

/// Waits (yielding) until `cond` holds; panics after many rounds so a hang becomes a failure.
pub async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..100_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never became true");
}
