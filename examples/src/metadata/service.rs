//! [`MetadataService`]: the seed's users-and-credentials state machine.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use rig_core::{async_trait, Durability, Operation, Rejection, Resources, Service, ServiceError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::model::{check_email, check_id, check_name};
use super::{secret, CredentialId, MetadataOp, User};

/// A user and their credentials, as the service keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    user: User,
    /// Credential id (the version that created it) → (salt hex, hash hex).
    credentials: BTreeMap<u64, (String, String)>,
}

/// Snapshot format version; a snapshot with another number is refused, never misread.
const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SnapshotData {
    format: u32,
    users: BTreeMap<String, Entry>,
}

/// The metadata service: users and their salted credential hashes, changed only through rig.
#[derive(Debug, Default)]
pub struct MetadataService {
    version: u64,
    users: BTreeMap<String, Entry>,
}

impl MetadataService {
    /// The user with `id`, if any.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id).map(|e| &e.user)
    }

    /// Up to `limit` users with ids strictly after `after` (or from the first), in id order.
    pub fn users_after(&self, after: Option<&str>, limit: usize) -> Vec<User> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.users
            .range::<str, _>((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, e)| e.user.clone())
            .collect()
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there is no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The number of credentials `id` holds (`None` when the user does not exist).
    pub fn credential_count(&self, id: &str) -> Option<usize> {
        self.users.get(id).map(|e| e.credentials.len())
    }

    /// Whether `secret` matches one of the user's credentials (`None`: no such user).
    pub fn verify_secret(&self, id: &str, secret: &str) -> Option<bool> {
        let entry = self.users.get(id)?;
        Some(
            entry
                .credentials
                .values()
                .any(|(salt, hash)| secret::verify(salt, hash, secret)),
        )
    }

    fn entry(&self, id: &str) -> Result<&Entry, Rejection> {
        self.users
            .get(id)
            .ok_or_else(|| Rejection::new("not_found", format!("no user {id}")))
    }

    fn check(&self, op: &MetadataOp) -> Result<(), Rejection> {
        match op {
            MetadataOp::UserCreate(u) => {
                check_id(&u.id)?;
                check_name(&u.name)?;
                check_email(&u.email)?;
                if self.users.contains_key(&u.id) {
                    return Err(Rejection::new(
                        "duplicate_id",
                        format!("user {} already exists", u.id),
                    ));
                }
            }
            MetadataOp::UserUpdate(u) => {
                self.entry(&u.id)?;
                if u.name.is_none() && u.email.is_none() {
                    return Err(Rejection::new("malformed", "user_update changes nothing"));
                }
                u.name.as_deref().map(check_name).transpose()?;
                u.email.as_deref().map(check_email).transpose()?;
            }
            MetadataOp::UserDelete(u) => {
                self.entry(&u.id)?;
            }
            MetadataOp::CredentialCreate(c) => {
                self.entry(&c.user_id)?;
                let salt_ok = secret::from_hex(&c.salt).is_some_and(|s| !s.is_empty());
                let hash_ok = secret::from_hex(&c.hash).is_some_and(|h| h.len() == 32);
                if !salt_ok || !hash_ok {
                    return Err(Rejection::new(
                        "malformed",
                        "credential salt and hash must be hex (hash: 32 bytes)",
                    ));
                }
            }
            MetadataOp::CredentialDelete(c) => {
                if !self
                    .entry(&c.user_id)?
                    .credentials
                    .contains_key(&c.credential_id)
                {
                    return Err(Rejection::new(
                        "not_found",
                        format!("user {} has no credential {}", c.user_id, c.credential_id),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn broken(version: u64, what: impl std::fmt::Display) -> ServiceError {
    ServiceError(format!("cannot apply version {version}: {what}"))
}

#[async_trait]
impl Service for MetadataService {
    /// `user_*`: the user after the change (for `user_delete`: as it was); `credential_*`: the
    /// credential's user id and id.
    type Output = Value;

    async fn version(&self) -> u64 {
        self.version
    }

    async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
        self.check(&MetadataOp::from_operation(op)?)
    }

    async fn resources(&self, op: &Operation) -> Resources {
        // Everything an operation touches lives under one user: different users batch together.
        MetadataOp::from_operation(op).map_or(Resources::All, |o| {
            Resources::keys([format!("user/{}", o.user_id())])
        })
    }

    fn durability(&self, op: &Operation) -> Option<Durability> {
        // The seed: "some operations are more important than others, like creating a user".
        // Creating and deleting users and credentials wait for the strongest level; a profile
        // update is acknowledged once applied and may be lost by a crash before the next fsync.
        match op.method.as_str() {
            "user_update" => Some(Durability::Applied),
            _ => None,
        }
    }

    async fn apply(&mut self, version: u64, op: &Operation) -> Result<Value, ServiceError> {
        // Only what apply itself relies on is re-checked here (the user exists, or not yet).
        // Format rules (ids, emails) live in validate alone, so a later, stricter build still
        // replays logs an older build accepted.
        let op = MetadataOp::from_operation(op).map_err(|e| broken(version, e))?;
        let output = match op {
            MetadataOp::UserCreate(user) => {
                if self.users.contains_key(&user.id) {
                    return Err(broken(version, format!("user {} exists", user.id)));
                }
                let out = json!(user);
                let credentials = BTreeMap::new();
                self.users
                    .insert(user.id.clone(), Entry { user, credentials });
                out
            }
            MetadataOp::UserUpdate(update) => {
                let entry = self
                    .users
                    .get_mut(&update.id)
                    .ok_or_else(|| broken(version, "gone"))?;
                if let Some(name) = update.name {
                    entry.user.name = name;
                }
                if let Some(email) = update.email {
                    entry.user.email = email;
                }
                json!(entry.user)
            }
            MetadataOp::UserDelete(d) => {
                let entry = self
                    .users
                    .remove(&d.id)
                    .ok_or_else(|| broken(version, "gone"))?;
                json!(entry.user)
            }
            MetadataOp::CredentialCreate(c) => {
                let entry = self
                    .users
                    .get_mut(&c.user_id)
                    .ok_or_else(|| broken(version, "gone"))?;
                entry.credentials.insert(version, (c.salt, c.hash));
                json!(CredentialId {
                    user_id: c.user_id,
                    credential_id: version
                })
            }
            MetadataOp::CredentialDelete(c) => {
                let entry = self
                    .users
                    .get_mut(&c.user_id)
                    .ok_or_else(|| broken(version, "gone"))?;
                entry.credentials.remove(&c.credential_id);
                json!(c)
            }
        };
        self.version = version;
        Ok(output)
    }

    async fn snapshot(&self) -> Result<Bytes, ServiceError> {
        let data = SnapshotData {
            format: SNAPSHOT_FORMAT,
            users: self.users.clone(),
        };
        serde_json::to_vec(&data)
            .map(Bytes::from)
            .map_err(|e| ServiceError(format!("cannot encode metadata snapshot: {e}")))
    }

    async fn restore(&mut self, version: u64, data: Bytes) -> Result<(), ServiceError> {
        let snap: SnapshotData = serde_json::from_slice(&data).map_err(|e| {
            ServiceError(format!("bad metadata snapshot at version {version}: {e}"))
        })?;
        if snap.format != SNAPSHOT_FORMAT {
            return Err(ServiceError(format!(
                "metadata snapshot at version {version} has format {}, this build reads {SNAPSHOT_FORMAT}",
                snap.format
            )));
        }
        self.users = snap.users;
        self.version = version;
        Ok(())
    }
}
