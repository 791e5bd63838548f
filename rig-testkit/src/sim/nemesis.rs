//! [`FaultPlan`]: the fault kinds and rates one seed runs with (swarm testing).

use rig_core::seams::Rand;

/// Which faults a seed injects and how often. Each kind is switched on for about half of the
/// seeds and gets a random rate, so that some seeds hammer one fault and others mix several
/// (swarm testing finds more than one fixed mix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultPlan {
    /// Node crashes, per thousand nemesis ticks (0-300).
    pub crash_per_mille: u64,
    /// Appends that fail with an ambiguous outcome, per thousand ticks (0-300).
    pub ambiguous_per_mille: u64,
    /// Appends refused as unavailable, per thousand ticks (0-300).
    pub unavailable_per_mille: u64,
    /// Stalled acknowledgments, per thousand ticks (0-300).
    pub stall_per_mille: u64,
    /// Failed fsyncs, per million syncs (0-100,000).
    pub sync_fail_per_million: u64,
    /// Whether the disk fills up at some point.
    pub disk_full: bool,
    /// Bit flips at rest, per thousand ticks (0-50).
    pub bit_flip_per_mille: u64,
    /// Network message loss, percent (0-30).
    pub net_loss_pct: u64,
    /// Network message duplication, percent (0-50).
    pub net_dup_pct: u64,
    /// Network partitions, per thousand ticks (0-200).
    pub partition_per_mille: u64,
}

impl FaultPlan {
    /// No faults: the liveness phase.
    pub fn none() -> Self {
        Self::default()
    }

    /// Draws a plan from `rand`.
    ///
    /// ```
    /// use rig_core::seams::SeededRand;
    /// use rig_testkit::sim::FaultPlan;
    /// let a = FaultPlan::draw(&SeededRand::new(3));
    /// assert_eq!(a, FaultPlan::draw(&SeededRand::new(3)));
    /// assert!(a.net_loss_pct <= 30 && a.net_dup_pct <= 50);
    /// ```
    pub fn draw(rand: &dyn Rand) -> Self {
        let rate = |max: u64| {
            if rand.below(2) == 0 {
                0
            } else {
                1 + rand.below(max)
            }
        };
        Self {
            crash_per_mille: rate(300),
            ambiguous_per_mille: rate(300),
            unavailable_per_mille: rate(300),
            stall_per_mille: rate(300),
            sync_fail_per_million: rate(100_000),
            disk_full: rate(1) > 0,
            bit_flip_per_mille: rate(50),
            net_loss_pct: rate(30),
            net_dup_pct: rate(50),
            partition_per_mille: rate(200),
        }
    }

    /// Rolls a fault with probability `per_mille`/1000.
    pub fn roll(rand: &dyn Rand, per_mille: u64) -> bool {
        per_mille > 0 && rand.below(1000) < per_mille
    }
}
