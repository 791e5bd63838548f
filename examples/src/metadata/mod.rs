//! The seed's metadata service: users and credentials behind an HTTP API, every change through
//! rig's log.
//!
//! - [`MetadataService`] is the state machine ([`rig_core::Service`]).
//! - [`http::router`] serves it: `POST /do` for every write, `GET /users/{id}`, `GET /users`,
//!   `POST /users/{id}/credentials/verify`, `GET /status`, `POST /snapshot`, and on a 2PC
//!   replica `POST /admin/promote`.
//! - [`MetadataClient`] calls it from Rust (and follows 421 to the leader when asked to);
//!   [`server`] runs it (the `metadata` binary) on the backend [`backend`] opens.
//!
//! The HTTP API has no authentication of its own (the replication links do): serve it on a
//! private address.
//!
//! ```
//! use rig_core::{MemLog, Rig};
//! use rig_examples::metadata::{MetadataOp, MetadataService, User};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let rig = Rig::open(MetadataService::default(), MemLog::new()).await?;
//! let ada = User { id: "ada".into(), name: "Ada".into(), email: "ada@example.com".into() };
//! let done = rig.execute(MetadataOp::UserCreate(ada.clone()).to_operation()).await?;
//! assert_eq!(done.version, 1);
//! // A second create of the same id is rejected and not logged.
//! assert!(rig.execute(MetadataOp::UserCreate(ada.clone()).to_operation()).await.is_err());
//! assert_eq!(rig.state().await.user("ada"), Some(&ada));
//! assert_eq!(rig.status().committed, 1);
//! # Ok::<(), rig_core::Error>(())
//! # }).unwrap();
//! ```

pub mod backend;
pub mod client;
mod conn;
pub mod error;
pub mod http;
mod model;
pub mod node;
pub mod secret;
pub mod server;
mod service;

pub use client::{ClientError, MetadataClient};
pub use conn::HttpConn;
pub use model::{
    check_email, check_id, check_name, CredentialId, MetadataOp, NewCredential, StoredCredential,
    User, UserId, UserUpdate, MAX_FIELD_LEN, METHODS,
};
pub use service::MetadataService;
