//! [`Trace`]: a running hash of a simulation's events, to prove a seed replays exactly.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Whether `RIG_TRACE` asks for every event to be printed (read once per process).
fn verbose() -> bool {
    static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("RIG_TRACE").is_some())
}

/// A running FNV-1a hash over the `Debug` text of recorded events. Clones share the hash. With
/// `RIG_TRACE` set in the environment, every event is also printed to stderr.
///
/// ```
/// use rig_testkit::sim::Trace;
/// let (a, b) = (Trace::new(), Trace::new());
/// a.record(&("append", 1));
/// b.record(&("append", 1));
/// assert_eq!(a.hash(), b.hash());
/// b.record(&"crash");
/// assert_ne!(a.hash(), b.hash());
/// ```
#[derive(Debug, Clone)]
pub struct Trace {
    state: Arc<Mutex<(u64, u64)>>,
}

impl Default for Trace {
    fn default() -> Self {
        Self::new()
    }
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new((FNV_OFFSET, 0))),
        }
    }

    /// Adds an event.
    pub fn record(&self, event: &dyn Debug) {
        let text = format!("{event:?}\n");
        if verbose() {
            eprint!("trace: {text}");
        }
        let mut state = self.state.lock().expect("trace lock");
        for byte in text.bytes() {
            state.0 = (state.0 ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
        state.1 += 1;
    }

    /// The hash of every event so far.
    pub fn hash(&self) -> u64 {
        self.state.lock().expect("trace lock").0
    }

    /// How many events were recorded.
    pub fn events(&self) -> u64 {
        self.state.lock().expect("trace lock").1
    }
}
