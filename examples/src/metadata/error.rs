//! The JSON error every endpoint returns: `{"error": {"code", "message"}}` with a status code
//! that tells the client what to do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rig_core::{Error, Rejection, Role};
use serde::{Deserialize, Serialize};

/// The body of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A short machine-readable code, e.g. `duplicate_id`, `not_found`, `not_leader`.
    pub code: String,
    /// A lowercase human-readable explanation.
    pub message: String,
    /// For `not_leader`: where writes go, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
}

/// An error on its way to becoming an HTTP response.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                leader: None,
            },
        }
    }

    /// 400 `malformed`: the request could not be parsed.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The status code this error is sent with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The status a rejection is sent with: 409 for a duplicate, 404 for a missing user or
/// credential, 400 for anything else wrong with the request.
pub fn rejection_status(r: &Rejection) -> StatusCode {
    match r.code.as_str() {
        "duplicate_id" => StatusCode::CONFLICT,
        "not_found" => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        let (status, code, leader) = match e {
            Error::Rejected(r) => {
                return Self::new(rejection_status(&r), &r.code, r.message);
            }
            Error::NotLeader { leader } => (StatusCode::MISDIRECTED_REQUEST, "not_leader", leader),
            Error::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
            Error::Closed => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down", None),
            Error::OutcomeUnknown { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "outcome_unknown", None)
            }
            Error::Poisoned { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "poisoned", None),
            Error::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid_argument", None),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        };
        Self {
            status,
            detail: ErrorDetail {
                code: code.to_owned(),
                message,
                leader,
            },
        }
    }
}

/// The role's name and the leader's address for `/status` and errors.
pub fn role_parts(role: &Role) -> (&'static str, Option<String>) {
    match role {
        Role::Leader => ("leader", None),
        Role::Follower { leader } => ("follower", leader.clone()),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = %self.detail.code, "{}", self.detail.message);
        }
        let body = ErrorBody { error: self.detail };
        (self.status, Json(body)).into_response()
    }
}
