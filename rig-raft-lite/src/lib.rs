//! rig's Raft log (part 1): a sans-IO Raft core with pre-vote, check-quorum, leadership transfer,
//! pipelined and flow-controlled replication, and two commit modes (`Strict`, `Volatile`).
//!
//! ```
//! use rig_core::seams::SeededRand;
//! use rig_raft_lite::core::{Config, Input, Raft, Restored};
//!
//! let mut node = Raft::new(Config::new(1, vec![1]), Box::new(SeededRand::new(1)), Restored::default());
//! for _ in 0..40 {
//!     node.step(Input::Tick);
//! }
//! assert!(node.is_leader());
//! ```
#![forbid(unsafe_code)]

pub mod core;
pub mod driver;
pub mod storage;
pub mod wire;

pub use driver::{Options, RaftLog};
