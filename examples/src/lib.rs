//! Services used by rig's runnable examples.
#![forbid(unsafe_code)]
