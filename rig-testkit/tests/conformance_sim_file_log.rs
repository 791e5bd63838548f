//! A small third-party-style `Log` (one append-only file through the `Fs` seam, see
//! `common/file_log.rs`) passes the whole conformance suite on a simulated disk, from one line.

mod common;

rig_testkit::conformance_tests!(common::file_factory::SimFileFactory::new(7));
