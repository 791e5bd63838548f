//! The metadata service's data: users, credentials, and the operations that change them.

use rig_core::{Operation, Rejection};
use serde::{Deserialize, Serialize};

/// The longest user id, name or email the service accepts, in bytes.
pub const MAX_FIELD_LEN: usize = 256;

/// A user, as created through `user_create` and read through `GET /users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user's id: 1 to 256 bytes of ASCII letters, digits, `-`, `_`, `.` or `@`.
    pub id: String,
    /// The display name (not empty).
    pub name: String,
    /// The email address (must contain `@`).
    pub email: String,
}

/// The data of `user_update`: the fields to change; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// The user to change.
    pub id: String,
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The data of `user_delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserId {
    /// The user to delete.
    pub id: String,
}

/// The data of `credential_create` as a client sends it to `POST /do`. The secret never reaches
/// the log: the HTTP layer turns it into a [`StoredCredential`] (a random salt and a hash) first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// The user the credential belongs to.
    pub user_id: String,
    /// The secret (a password or API key).
    pub secret: String,
}

/// The data of `credential_create` as it is logged: the salt and the salted hash, hex-encoded.
///
/// The salt is drawn by the HTTP handler before the operation is built, so `apply` stays
/// deterministic: replaying the log (or a replica applying it) stores the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredCredential {
    /// The user the credential belongs to.
    pub user_id: String,
    /// The random salt, hex.
    pub salt: String,
    /// SHA-256 of salt and secret, hex.
    pub hash: String,
}

/// The data of `credential_delete`, and the result of `credential_create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialId {
    /// The user the credential belongs to.
    pub user_id: String,
    /// The credential's id: the version at which it was created (unique, deterministic).
    pub credential_id: u64,
}

/// One logged operation of the metadata service, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataOp {
    /// Creates a user; rejected when the id exists.
    UserCreate(User),
    /// Changes a user's name or email; rejected when the user does not exist.
    UserUpdate(UserUpdate),
    /// Deletes a user and their credentials; rejected when the user does not exist.
    UserDelete(UserId),
    /// Adds a credential (salt and hash) to an existing user.
    CredentialCreate(StoredCredential),
    /// Removes one credential of a user.
    CredentialDelete(CredentialId),
}

/// The method names `POST /do` accepts.
pub const METHODS: [&str; 5] = [
    "user_create",
    "user_update",
    "user_delete",
    "credential_create",
    "credential_delete",
];

impl MetadataOp {
    /// Decodes a logged operation; an unknown method or malformed data is a [`Rejection`].
    ///
    /// ```
    /// use rig_examples::metadata::MetadataOp;
    /// let op = rig_core::Operation::new("user_delete", r#"{"id":"7"}"#);
    /// assert!(matches!(MetadataOp::from_operation(&op), Ok(MetadataOp::UserDelete(_))));
    /// let bad = rig_core::Operation::new("user_delete", r#"{"name":"x"}"#);
    /// assert_eq!(MetadataOp::from_operation(&bad).unwrap_err().code, "malformed");
    /// ```
    pub fn from_operation(op: &Operation) -> Result<Self, Rejection> {
        Ok(match op.method.as_str() {
            "user_create" => Self::UserCreate(op.decode()?),
            "user_update" => Self::UserUpdate(op.decode()?),
            "user_delete" => Self::UserDelete(op.decode()?),
            "credential_create" => Self::CredentialCreate(op.decode()?),
            "credential_delete" => Self::CredentialDelete(op.decode()?),
            other => {
                return Err(Rejection::new(
                    "unknown_method",
                    format!("unknown method {other:?}; known: {}", METHODS.join(", ")),
                ))
            }
        })
    }

    /// The operation as rig logs it.
    ///
    /// ```
    /// use rig_examples::metadata::{MetadataOp, UserId};
    /// let op = MetadataOp::UserDelete(UserId { id: "7".into() }).to_operation();
    /// assert_eq!((op.method.as_str(), &op.data[..]), ("user_delete", &br#"{"id":"7"}"#[..]));
    /// ```
    pub fn to_operation(&self) -> Operation {
        let encoded = match self {
            Self::UserCreate(d) => Operation::json("user_create", d),
            Self::UserUpdate(d) => Operation::json("user_update", d),
            Self::UserDelete(d) => Operation::json("user_delete", d),
            Self::CredentialCreate(d) => Operation::json("credential_create", d),
            Self::CredentialDelete(d) => Operation::json("credential_delete", d),
        };
        encoded.expect("plain structs of strings and numbers always encode")
    }

    /// The id of the user the operation touches (its only resource).
    pub fn user_id(&self) -> &str {
        match self {
            Self::UserCreate(u) => &u.id,
            Self::UserUpdate(u) => &u.id,
            Self::UserDelete(u) => &u.id,
            Self::CredentialCreate(c) => &c.user_id,
            Self::CredentialDelete(c) => &c.user_id,
        }
    }
}

/// Checks a user id: 1 to [`MAX_FIELD_LEN`] bytes of ASCII letters, digits, `-`, `_`, `.`, `@`.
pub fn check_id(id: &str) -> Result<(), Rejection> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@');
    if id.is_empty() || id.len() > MAX_FIELD_LEN || !id.chars().all(ok_char) {
        return Err(Rejection::new(
            "invalid_id",
            format!(
                "user id {id:?} must be 1 to {MAX_FIELD_LEN} letters, digits, '-', '_', '.' or '@'"
            ),
        ));
    }
    Ok(())
}

/// Checks a name: not blank, at most [`MAX_FIELD_LEN`] bytes.
pub fn check_name(name: &str) -> Result<(), Rejection> {
    if name.trim().is_empty() || name.len() > MAX_FIELD_LEN {
        return Err(Rejection::new(
            "invalid_name",
            format!("name must be 1 to {MAX_FIELD_LEN} bytes and not blank"),
        ));
    }
    Ok(())
}

/// Checks an email address: contains `@` with something on both sides, at most
/// [`MAX_FIELD_LEN`] bytes.
pub fn check_email(email: &str) -> Result<(), Rejection> {
    let valid = email.len() <= MAX_FIELD_LEN
        && matches!(email.split_once('@'), Some((a, b)) if !a.is_empty() && !b.is_empty());
    if !valid {
        return Err(Rejection::new(
            "invalid_email",
            format!("email {email:?} must look like name@host"),
        ));
    }
    Ok(())
}
