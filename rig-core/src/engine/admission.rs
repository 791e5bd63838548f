//! Which waiting operations may be validated now: resources in flight and FIFO order among
//! overlapping operations (DESIGN §3.3).

use std::collections::HashMap;

use crate::Resources;

/// The resources held by operations that were appended but not yet applied.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    keys: HashMap<String, usize>,
    all: usize,
    ops: usize,
}

impl InFlight {
    /// True when `r` overlaps anything in flight.
    pub(crate) fn conflicts(&self, r: &Resources) -> bool {
        match r {
            Resources::All => self.ops > 0,
            Resources::Keys(keys) => self.all > 0 || keys.iter().any(|k| self.keys.contains_key(k)),
        }
    }

    pub(crate) fn acquire(&mut self, r: &Resources) {
        self.ops += 1;
        match r {
            Resources::All => self.all += 1,
            Resources::Keys(keys) => {
                for k in keys {
                    *self.keys.entry(k.clone()).or_default() += 1;
                }
            }
        }
    }

    pub(crate) fn release(&mut self, r: &Resources) {
        self.ops -= 1;
        match r {
            Resources::All => self.all -= 1,
            Resources::Keys(keys) => {
                for k in keys {
                    let n = self.keys.get_mut(k).expect("released key was acquired");
                    *n -= 1;
                    if *n == 0 {
                        self.keys.remove(k);
                    }
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.ops == 0
    }
}

/// Splits `waiting` (in arrival order) into the indices that may run now and those that must keep
/// waiting: an operation runs when it overlaps nothing in flight and no earlier operation that
/// keeps waiting (so overlapping operations run in arrival order), and nothing chosen before it in
/// this round (validation must see the earlier one applied).
pub(crate) fn admissible<'a>(
    in_flight: &InFlight,
    waiting: impl Iterator<Item = &'a Resources>,
) -> Vec<bool> {
    let mut blocked: Vec<&Resources> = Vec::new();
    let mut chosen = InFlight::default();
    waiting
        .map(|r| {
            let ok = !in_flight.conflicts(r)
                && !chosen.conflicts(r)
                && !blocked.iter().any(|b| b.overlaps(r));
            if ok {
                chosen.acquire(r);
            } else {
                blocked.push(r);
            }
            ok
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(k: &[&str]) -> Resources {
        Resources::keys(k.iter().copied())
    }

    #[test]
    fn disjoint_run_together_overlapping_wait() {
        let w = [
            keys(&["a"]),
            keys(&["b"]),
            keys(&["a", "c"]),
            keys(&["c"]),
            keys(&["d"]),
        ];
        let got = admissible(&InFlight::default(), w.iter());
        // "a,c" overlaps "a" (chosen); "c" overlaps the blocked "a,c" so keeps FIFO order.
        assert_eq!(got, vec![true, true, false, false, true]);
    }

    #[test]
    fn all_runs_alone() {
        let mut f = InFlight::default();
        f.acquire(&keys(&["x"]));
        assert_eq!(
            admissible(&f, [Resources::All, keys(&["y"])].iter()),
            vec![false, false]
        );
        f.release(&keys(&["x"]));
        assert!(f.is_empty());
        assert_eq!(
            admissible(&f, [Resources::All, keys(&["y"])].iter()),
            vec![true, false]
        );
    }

    proptest! {
        /// No two chosen operations overlap each other or anything in flight, and a chosen op never
        /// overtakes an earlier overlapping one.
        #[test]
        fn chosen_are_pairwise_disjoint(
            held in proptest::collection::vec(proptest::collection::vec(0u8..6, 1..3), 0..3),
            waiting in proptest::collection::vec(proptest::option::of(proptest::collection::vec(0u8..6, 1..3)), 0..10),
        ) {
            let to_r = |k: &Vec<u8>| Resources::keys(k.iter().map(|b| b.to_string()));
            let mut f = InFlight::default();
            for h in &held { f.acquire(&to_r(h)); }
            let w: Vec<Resources> = waiting.iter().map(|o| o.as_ref().map_or(Resources::All, to_r)).collect();
            let ok = admissible(&f, w.iter());
            for (i, a) in w.iter().enumerate() {
                if !ok[i] { continue; }
                prop_assert!(!f.conflicts(a));
                for b in &w[..i] {
                    prop_assert!(!a.overlaps(b), "chosen op {i} overlaps an earlier op");
                }
            }
        }
    }
}
