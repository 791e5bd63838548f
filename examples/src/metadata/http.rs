//! The HTTP API: `POST /do` for every write, read-only REST endpoints for the rest.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rig_core::{ClientSeq, Log, Operation, Rig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{role_parts, ApiError};
use super::node::{BackendDetails, MemberChange, MemberInfo, NodeControl};
use super::{secret, MetadataService, NewCredential, User};

/// The most users one `GET /users` page returns.
pub const MAX_PAGE: usize = 1000;

/// The body of `POST /do`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoRequest {
    /// The method, e.g. `user_create`.
    pub method: String,
    /// The method's data.
    pub data: Value,
    /// Optional client id and sequence number: a retry with the same pair is not applied twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientSeq>,
}

/// The answer of a successful `POST /do`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoResponse {
    /// The version the operation was logged and applied at.
    pub version: u64,
    /// The method's result.
    pub result: Value,
}

/// One page of `GET /users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    /// The users, in id order.
    pub users: Vec<User>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The body of `POST /users/{id}/credentials/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// The secret to check.
    pub secret: String,
}

/// The answer of `POST /users/{id}/credentials/verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResponse {
    /// True when the secret matches one of the user's credentials.
    pub valid: bool,
}

/// The answer of `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// The last version applied to the service (what reads see).
    pub version: u64,
    /// The log's committed version. On the file log, operations acknowledged at
    /// `Durability::Applied` (`user_update`) count as committed before their fsync.
    pub committed: u64,
    /// The log's durable version at its strongest level (fsynced, PUT, or on a majority).
    #[serde(default)]
    pub durable: u64,
    /// The lowest version the log still holds (older ones are in a snapshot).
    pub first_version: u64,
    /// `leader` or `follower`.
    pub role: String,
    /// Where writes go when this node is a follower, when known.
    pub leader: Option<String>,
    /// The log backend, e.g. `file-log`.
    pub backend: String,
    /// The number of users.
    pub users: usize,
    /// What the backend reports about replication (epoch, mode, replicas, members,
    /// snapshots installed), inline in the JSON: `{"version": .., "epoch": 3, ..}`.
    #[serde(flatten)]
    pub details: BackendDetails,
}

/// The body of `POST /admin/members` (Raft leaders only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The new node's id (positive, not a member yet).
    pub id: u64,
    /// The new node's replication (Raft) address, `HOST:PORT`.
    pub raft_addr: String,
}

/// The answer of `POST /admin/members` and `DELETE /admin/members/{id}`: the membership once
/// the change is durable on a majority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersResponse {
    /// Every member with its role.
    pub members: Vec<MemberInfo>,
}

/// The body of `POST /admin/promote` (2PC replicas only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The replication addresses of the nodes that will be the new primary's replicas.
    #[serde(default)]
    pub replicas: Vec<String>,
}

/// The answer of `POST /admin/promote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteResponse {
    /// The new primary's epoch.
    pub epoch: u64,
}

/// What every handler gets: the engine and the backend's extra abilities.
struct AppState<L: Log> {
    rig: Rig<MetadataService, L>,
    control: NodeControl,
}

impl<L: Log> Clone for AppState<L> {
    fn clone(&self) -> Self {
        Self {
            rig: self.rig.clone(),
            control: self.control.clone(),
        }
    }
}

/// The answer of `POST /snapshot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResponse {
    /// The version the snapshot was taken at; the log may drop entries at or below it.
    pub version: u64,
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// The API's routes, serving `rig` (no backend details, no promotion).
pub fn router<L: Log>(rig: Rig<MetadataService, L>) -> Router {
    router_with(rig, NodeControl::none())
}

/// The API's routes, serving `rig`; `/status` adds `control`'s details, `POST
/// /admin/promote` answers when `control` can promote, `POST /admin/members` and `DELETE
/// /admin/members/{id}` when it can change members (a follower answers 421 with the leader).
pub fn router_with<L: Log>(rig: Rig<MetadataService, L>, control: NodeControl) -> Router {
    Router::new()
        .route("/do", post(do_op::<L>))
        .route("/users", get(list_users::<L>))
        .route("/users/{id}", get(get_user::<L>))
        .route("/users/{id}/credentials/verify", post(verify::<L>))
        .route("/status", get(status::<L>))
        .route("/snapshot", post(snapshot::<L>))
        .route("/admin/promote", post(promote::<L>))
        .route("/admin/members", post(add_member::<L>))
        .route("/admin/members/{id}", delete(remove_member::<L>))
        .with_state(AppState { rig, control })
}

/// Turns a `POST /do` body into the operation to log. The secret of `credential_create` is
/// replaced here by a fresh random salt and the salted hash, so the log never holds it and
/// `apply` stays deterministic.
pub fn operation_for(request: DoRequest) -> Result<Operation, ApiError> {
    let op = if request.method == "credential_create" {
        let new: NewCredential = serde_json::from_value(request.data)
            .map_err(|e| ApiError::malformed(format!("bad data for credential_create: {e}")))?;
        if new.secret.is_empty() {
            return Err(ApiError::malformed("the secret must not be empty"));
        }
        let stored = secret::seal(&new.user_id, &new.secret).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("cannot draw a salt: {e}"),
            )
        })?;
        Operation::json("credential_create", &stored)?
    } else {
        Operation::json(request.method, &request.data)?
    };
    Ok(match request.client {
        Some(c) => op.with_client(c.client, c.seq),
        None => op,
    })
}

async fn do_op<L: Log>(
    State(AppState { rig, .. }): State<AppState<L>>,
    body: Bytes,
) -> Result<Json<DoResponse>, ApiError> {
    let request: DoRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::malformed(format!("body must be {{\"method\", \"data\"}}: {e}")))?;
    let done = rig.execute(operation_for(request)?).await?;
    Ok(Json(DoResponse {
        version: done.version,
        result: done.output,
    }))
}

/// Waits until a local read sees every write acknowledged before it, where the node can tell.
/// A follower cannot (Raft answers `NotLeader`): it serves its own state, which may lag the
/// leader by the writes still on their way. Read from the leader for
/// linearizable reads.
async fn read_barrier<L: Log>(rig: &Rig<MetadataService, L>) -> Result<(), ApiError> {
    // rig's engine applies what a new leader holds as soon as it commits, so the barrier
    // completes on a read-only workload too.
    let reached = rig.read_barrier().await;
    match reached {
        Ok(_) | Err(rig_core::Error::NotLeader { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn get_user<L: Log>(
    State(AppState { rig, .. }): State<AppState<L>>,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    read_barrier(&rig).await?;
    let state = rig.state().await;
    let user = state.user(&id).cloned();
    user.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))
}

async fn list_users<L: Log>(
    State(AppState { rig, .. }): State<AppState<L>>,
    Query(page): Query<PageQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    read_barrier(&rig).await?;
    let users = rig.state().await.users_after(page.after.as_deref(), limit);
    let next = (users.len() == limit).then(|| users[limit - 1].id.clone());
    Ok(Json(UserPage { users, next }))
}

async fn verify<L: Log>(
    State(AppState { rig, .. }): State<AppState<L>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<VerifyResponse>, ApiError> {
    let request: VerifyRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::malformed(format!("body must be {{\"secret\"}}: {e}")))?;
    read_barrier(&rig).await?;
    let valid = rig.state().await.verify_secret(&id, &request.secret);
    valid
        .map(|valid| Json(VerifyResponse { valid }))
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))
}

async fn status<L: Log>(
    State(AppState { rig, control }): State<AppState<L>>,
) -> Json<StatusResponse> {
    let s = rig.status();
    let (role, leader) = role_parts(&s.role);
    let users = rig.state().await.len();
    Json(StatusResponse {
        version: s.applied,
        committed: s.committed,
        durable: s.durable,
        first_version: s.first_version,
        role: role.to_owned(),
        leader,
        backend: s.backend.to_owned(),
        users,
        details: control.details(),
    })
}

async fn snapshot<L: Log>(
    State(AppState { rig, .. }): State<AppState<L>>,
) -> Result<Json<SnapshotResponse>, ApiError> {
    let version = rig.snapshot_now().await?;
    tracing::info!(version, "snapshot taken on request");
    Ok(Json(SnapshotResponse { version }))
}

async fn promote<L: Log>(
    State(AppState { control, .. }): State<AppState<L>>,
    body: Bytes,
) -> Result<Json<PromoteResponse>, ApiError> {
    let request: PromoteRequest = if body.is_empty() {
        PromoteRequest { replicas: vec![] }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::malformed(format!("body must be {{\"replicas\": [..]}}: {e}")))?
    };
    let Some(promotion) = control.promote(request.replicas.clone()) else {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "not_supported",
            "only a 2pc replica can be promoted",
        ));
    };
    let epoch = promotion.await?;
    tracing::warn!(epoch, replicas = ?request.replicas, "promoted to primary on request");
    Ok(Json(PromoteResponse { epoch }))
}

/// Runs `change` through `control`; 400 `not_supported` when the backend has no membership.
async fn change_members(
    control: &NodeControl,
    change: MemberChange,
) -> Result<Json<MembersResponse>, ApiError> {
    let Some(pending) = control.change_members(change.clone()) else {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "not_supported",
            "only a raft node has members to change",
        ));
    };
    pending.await?;
    tracing::warn!(?change, "membership changed on request");
    Ok(Json(MembersResponse {
        members: control.details().members,
    }))
}

async fn add_member<L: Log>(
    State(AppState { control, .. }): State<AppState<L>>,
    body: Bytes,
) -> Result<Json<MembersResponse>, ApiError> {
    let request: AddMemberRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::malformed(format!("body must be {{\"id\", \"raft_addr\"}}: {e}")))?;
    if request.id == 0 || !request.raft_addr.contains(':') {
        return Err(ApiError::malformed(
            "the id must be positive and raft_addr a HOST:PORT",
        ));
    }
    let change = MemberChange::Add {
        id: request.id,
        addr: request.raft_addr,
    };
    change_members(&control, change).await
}

async fn remove_member<L: Log>(
    State(AppState { control, .. }): State<AppState<L>>,
    Path(id): Path<String>,
) -> Result<Json<MembersResponse>, ApiError> {
    let id =
        id.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
            ApiError::malformed(format!("member id {id:?} is not a positive number"))
        })?;
    change_members(&control, MemberChange::Remove(id)).await
}
