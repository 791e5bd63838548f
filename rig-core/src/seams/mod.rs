//! The I/O seams (DESIGN §6): backends touch files, the network, time and randomness only through
//! these traits, so that rig-testkit can run them in a deterministic simulation.
//!
//! | seam | production | simulation (rig-testkit) |
//! |---|---|---|
//! | [`Fs`] | [`StdFs`] (std files, real fsync) | `SimFs` |
//! | [`Transport`] | [`TcpTransport`] | `SimNet` |
//! | [`Clock`] | [`TokioClock`] (tokio time, pausable) | paused tokio time |
//! | [`Rand`] | [`SeededRand::from_entropy`] | [`SeededRand::new`] with the seed |
//! | `ObjectStore` | the `object_store` crate | `FaultyObjectStore` |

mod clock;
mod fs;
mod rand;
mod transport;

pub use clock::{Clock, TokioClock};
pub use fs::{Fs, FsFile, FsLock, StdFs};
pub use rand::{Rand, SeededRand};
pub use transport::{Connection, Listener, TcpTransport, Transport};
