//! [`MetadataClient`]: the typed Rust client; every write goes through `POST /do`, as in the
//! seed ("methods like service.CreateUser(User{}) are all implemented to call the /do endpoint").

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ErrorBody;
use super::http::{
    DoResponse, MembersResponse, PromoteResponse, SnapshotResponse, StatusResponse, UserPage,
    VerifyResponse,
};
use super::node::MemberInfo;
use super::{CredentialId, HttpConn, User, UserUpdate};

/// Why a client call failed, in terms of what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service refused the request (4xx): fix it, do not retry it as is.
    #[error("rejected ({status}) {code}: {message}")]
    Rejected {
        /// The HTTP status, e.g. 409 for a duplicate id, 404 for an unknown user.
        status: u16,
        /// The service's error code, e.g. `duplicate_id`.
        code: String,
        /// The service's explanation.
        message: String,
    },
    /// This node does not accept writes (421): send them to `leader`.
    #[error("not the leader (leader: {})", leader.as_deref().unwrap_or("unknown"))]
    NotLeader {
        /// Where writes go, when the node knows.
        leader: Option<String>,
    },
    /// The service cannot serve now (503); nothing was applied: retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The service failed (5xx): for a write, the outcome may be unknown.
    #[error("server error ({status}) {code}: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The service's error code, e.g. `outcome_unknown`.
        code: String,
        /// The service's explanation.
        message: String,
    },
    /// The connection failed; a write sent before the failure may or may not have been applied.
    #[error("transport: {0}")]
    Transport(#[from] std::io::Error),
    /// The answer could not be understood.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// The result of a write: the version it was logged at and the method's typed result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<T> {
    /// The version the operation was logged and applied at.
    pub version: u64,
    /// What the method returned.
    pub result: T,
}

/// How many 421 redirects one call follows before it returns [`ClientError::NotLeader`].
pub const MAX_REDIRECTS: usize = 3;

/// A client of the metadata service's HTTP API. Each call opens its own connection, so a
/// client is cheap to clone and share (clones share the address a redirect moved them to).
#[derive(Debug, Clone)]
pub struct MetadataClient {
    addr: Arc<Mutex<String>>,
    follow_leader: bool,
}

impl MetadataClient {
    /// A client of the service at `url` (`http://host:port` or `host:port`).
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let (addr, _) = HttpConn::split_url(url)?;
        Ok(Self {
            addr: Arc::new(Mutex::new(addr)),
            follow_leader: false,
        })
    }

    /// This client, following redirects: when a node answers 421 with the leader's address,
    /// the client sends the request there (up to [`MAX_REDIRECTS`] hops) and keeps talking to
    /// that node from then on. A write refused with 421 was not applied, so resending it is safe.
    pub fn following_leader(mut self) -> Self {
        self.follow_leader = true;
        self
    }

    /// The `host:port` this client talks to now (after any redirect it followed).
    pub fn addr(&self) -> String {
        self.addr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends one request and returns the raw status and body (for callers that test the API).
    /// Never follows redirects.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let mut conn = HttpConn::connect(&self.addr()).await?;
        Ok(conn.request(method, path, body).await?)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let body = body.map(|b| Bytes::from(b.to_string()));
        let mut hops = 0;
        loop {
            let (status, bytes) = self.raw(method.clone(), path, body.clone()).await?;
            if status.is_success() {
                return serde_json::from_slice(&bytes)
                    .map_err(|e| ClientError::Decode(e.to_string()));
            }
            match error_from(status, &bytes) {
                ClientError::NotLeader {
                    leader: Some(leader),
                } if self.follow_leader && hops < MAX_REDIRECTS => {
                    let (addr, _) = HttpConn::split_url(&leader)?;
                    tracing::debug!(from = %self.addr(), to = %addr, "following the leader");
                    *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = addr;
                    hops += 1;
                }
                e => return Err(e),
            }
        }
    }

    /// Runs `method` with `data` through `POST /do`.
    pub async fn execute<D: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        data: &D,
    ) -> Result<Written<T>, ClientError> {
        let body = json!({ "method": method, "data": data });
        let done: DoResponse = self.call(Method::POST, "/do", Some(body)).await?;
        let result =
            serde_json::from_value(done.result).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(Written {
            version: done.version,
            result,
        })
    }

    /// Creates a user; [`ClientError::Rejected`] with status 409 when the id exists.
    pub async fn create_user(&self, user: &User) -> Result<Written<User>, ClientError> {
        self.execute("user_create", user).await
    }

    /// Reads a user; `None` when it does not exist.
    pub async fn get_user(&self, id: &str) -> Result<Option<User>, ClientError> {
        match self.call(Method::GET, &format!("/users/{id}"), None).await {
            Err(ClientError::Rejected { status: 404, .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Lists up to `limit` users after id `after`.
    pub async fn list_users(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<UserPage, ClientError> {
        let path = match after {
            Some(a) => format!("/users?after={a}&limit={limit}"),
            None => format!("/users?limit={limit}"),
        };
        self.call(Method::GET, &path, None).await
    }

    /// Changes a user's name or email; returns the user after the change.
    pub async fn update_user(&self, update: &UserUpdate) -> Result<Written<User>, ClientError> {
        self.execute("user_update", update).await
    }

    /// Deletes a user and their credentials; returns the user as it was.
    pub async fn delete_user(&self, id: &str) -> Result<Written<User>, ClientError> {
        self.execute("user_delete", &json!({ "id": id })).await
    }

    /// Adds a credential; the service stores only a salted hash of `secret`.
    pub async fn create_credential(
        &self,
        user_id: &str,
        secret: &str,
    ) -> Result<Written<CredentialId>, ClientError> {
        let data = json!({ "user_id": user_id, "secret": secret });
        self.execute("credential_create", &data).await
    }

    /// Removes one credential.
    pub async fn delete_credential(
        &self,
        id: &CredentialId,
    ) -> Result<Written<CredentialId>, ClientError> {
        self.execute("credential_delete", id).await
    }

    /// True when `secret` matches one of the user's credentials.
    pub async fn verify_credential(
        &self,
        user_id: &str,
        secret: &str,
    ) -> Result<bool, ClientError> {
        let path = format!("/users/{user_id}/credentials/verify");
        let answer: VerifyResponse = self
            .call(Method::POST, &path, Some(json!({ "secret": secret })))
            .await?;
        Ok(answer.valid)
    }

    /// Asks the service to snapshot its state now; returns the snapshot's version.
    pub async fn snapshot(&self) -> Result<u64, ClientError> {
        let answer: SnapshotResponse = self.call(Method::POST, "/snapshot", None).await?;
        Ok(answer.version)
    }

    /// The service's version, log position, role and backend.
    pub async fn status(&self) -> Result<StatusResponse, ClientError> {
        self.call(Method::GET, "/status", None).await
    }

    /// Promotes a 2PC replica to primary of a new epoch, replicating to `replicas` (empty: the
    /// node's own `--peers`); returns the new epoch. Only once the old primary is down: see
    /// rig-repl-2pc's failover procedure.
    pub async fn promote(&self, replicas: &[String]) -> Result<u64, ClientError> {
        let body = json!({ "replicas": replicas });
        let answer: PromoteResponse = self
            .call(Method::POST, "/admin/promote", Some(body))
            .await?;
        Ok(answer.epoch)
    }

    /// Adds Raft node `id`, reachable at the replication address `raft_addr`, to the group (as
    /// an observer the leader promotes once it caught up); returns the membership once the
    /// change is durable on a majority. Must reach the leader: use a following client.
    pub async fn add_member(
        &self,
        id: u64,
        raft_addr: &str,
    ) -> Result<Vec<MemberInfo>, ClientError> {
        let body = json!({ "id": id, "raft_addr": raft_addr });
        let answer: MembersResponse = self
            .call(Method::POST, "/admin/members", Some(body))
            .await?;
        Ok(answer.members)
    }

    /// Removes member `id` from the Raft group (not the leader itself); returns the membership
    /// once the change is durable on a majority. Must reach the leader: use a following client.
    pub async fn remove_member(&self, id: u64) -> Result<Vec<MemberInfo>, ClientError> {
        let path = format!("/admin/members/{id}");
        let answer: MembersResponse = self.call(Method::DELETE, &path, None).await?;
        Ok(answer.members)
    }
}

/// Maps an error response to a [`ClientError`].
fn error_from(status: StatusCode, body: &[u8]) -> ClientError {
    let detail = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => b.error,
        Err(_) => {
            return ClientError::Decode(format!(
                "status {status} with body {:?}",
                String::from_utf8_lossy(body)
            ))
        }
    };
    match status {
        StatusCode::MISDIRECTED_REQUEST => ClientError::NotLeader {
            leader: detail.leader,
        },
        StatusCode::SERVICE_UNAVAILABLE => ClientError::Unavailable(detail.message),
        s if s.is_client_error() => ClientError::Rejected {
            status: s.as_u16(),
            code: detail.code,
            message: detail.message,
        },
        s => ClientError::Server {
            status: s.as_u16(),
            code: detail.code,
            message: detail.message,
        },
    }
}
