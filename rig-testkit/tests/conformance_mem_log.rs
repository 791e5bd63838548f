//! rig-core's reference `MemLog` passes the whole conformance suite.

rig_testkit::conformance_tests!(rig_testkit::conformance::MemLogFactory);
