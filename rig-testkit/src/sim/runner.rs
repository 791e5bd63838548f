//! [`Simulation`]: runs a test body once per seed on a single-threaded, paused-time runtime.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use rig_core::seams::SeededRand;

use super::{probes, FaultPlan, Trace};

/// What one seed's run gets: its seed, a generator to split per component, a fault plan and a
/// trace. Clones share everything.
#[derive(Debug, Clone)]
pub struct SimCtx {
    /// The seed of this run.
    pub seed: u64,
    rand: Arc<SeededRand>,
    plan: FaultPlan,
    /// The run's event trace; its hash identifies the run.
    pub trace: Trace,
}

impl SimCtx {
    /// A new independent generator for one component (a node, a client, the nemesis, a disk).
    /// Split in a fixed order so the same seed gives the same generators.
    pub fn rand(&self) -> SeededRand {
        self.rand.split()
    }

    /// The fault plan drawn for this seed.
    pub fn plan(&self) -> FaultPlan {
        self.plan
    }

    /// Switches every `buggify!` fault point (rig-testkit's and rig-core's) off for the rest of
    /// this run: call it when the liveness phase begins, since a system cannot be asked to
    /// converge while faults still fire.
    pub fn stop_buggify(&self) {
        probes::disable_buggify();
        self.trace.record(&"buggify off");
    }
}

/// The outcome of a [`Simulation::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimReport {
    /// `(seed, trace hash)` of every run, in order.
    pub runs: Vec<(u64, u64)>,
    /// Simulated time summed over all runs.
    pub simulated: Duration,
}

/// A deterministic simulation test: runs its body once per seed, each on a fresh
/// single-threaded tokio runtime with paused time and `buggify!` enabled (both rig-testkit's and
/// rig-core's, for backend code), then checks that every
/// `sometimes!` probe fired across the seed set.
///
/// Seeds are `0..n`, where `n` is `RIG_SEEDS` or the default given to
/// [`seeds`](Simulation::seeds); `RIG_SEED=s` runs only seed `s` (and skips the coverage check).
/// A failing seed prints the exact command that replays it.
///
/// ```
/// use rig_testkit::sim::Simulation;
/// let report = Simulation::new("rig-testkit", "doc_example").seeds(3).run(|ctx| async move {
///     tokio::time::sleep(std::time::Duration::from_secs(60)).await; // instant: paused time
///     ctx.trace.record(&ctx.seed);
///     rig_testkit::sometimes!(ctx.seed == 1, "seed one ran");
/// });
/// assert!(report.simulated >= std::time::Duration::from_secs(60));
/// ```
#[derive(Debug, Clone)]
pub struct Simulation {
    package: &'static str,
    test: &'static str,
    default_seeds: u64,
    fixed: Option<Vec<u64>>,
    expected_probes: Vec<&'static str>,
    coverage: bool,
}

impl Simulation {
    /// A simulation for the test `test` in package `package` (both used in the replay command).
    pub fn new(package: &'static str, test: &'static str) -> Self {
        Self {
            package,
            test,
            default_seeds: 20,
            fixed: None,
            expected_probes: Vec::new(),
            coverage: true,
        }
    }

    /// How many seeds to run when `RIG_SEEDS` and `RIG_SEED` are unset.
    pub fn seeds(mut self, default: u64) -> Self {
        self.default_seeds = default;
        self
    }

    /// Runs exactly these seeds, ignoring the environment.
    pub fn fixed_seeds(mut self, seeds: &[u64]) -> Self {
        self.fixed = Some(seeds.to_vec());
        self
    }

    /// Skips the coverage check (for runs too few to fire every probe).
    pub fn without_coverage(mut self) -> Self {
        self.coverage = false;
        self
    }

    /// Probes that must fire across the seed set even if no run reached them.
    pub fn expect_probes(mut self, names: &[&'static str]) -> Self {
        self.expected_probes.extend_from_slice(names);
        self
    }

    /// The seeds this simulation runs, and whether it is a single-seed replay (no coverage check).
    fn seed_list(&self) -> (Vec<u64>, bool) {
        if let Some(fixed) = &self.fixed {
            return (fixed.clone(), false);
        }
        let env = |name| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        match (env("RIG_SEED"), env("RIG_SEEDS")) {
            (Some(seed), _) => (vec![seed], true),
            (None, n) => ((0..n.unwrap_or(self.default_seeds)).collect(), false),
        }
    }

    /// The command that replays `seed`.
    pub fn replay_command(&self, seed: u64) -> String {
        format!(
            "RIG_SEED={seed} cargo test -p {} {} -- --nocapture",
            self.package, self.test
        )
    }

    /// Runs `body` once per seed. Panics (after printing the replay command) when a run panics,
    /// or when a coverage probe never fired.
    pub fn run<F, Fut>(&self, body: F) -> SimReport
    where
        F: Fn(SimCtx) -> Fut,
        Fut: Future<Output = ()>,
    {
        let (seeds, replay) = self.seed_list();
        probes::reset_probes();
        let mut report = SimReport {
            runs: Vec::new(),
            simulated: Duration::ZERO,
        };
        for &seed in &seeds {
            let (hash, simulated) =
                match catch_unwind(AssertUnwindSafe(|| self.run_one(seed, &body))) {
                    Ok(done) => done,
                    Err(panic) => {
                        probes::disable_buggify();
                        eprintln!(
                            "simulation {} failed at seed {seed}; replay with:",
                            self.test
                        );
                        eprintln!("    {}", self.replay_command(seed));
                        resume_unwind(panic);
                    }
                };
            report.runs.push((seed, hash));
            report.simulated += simulated;
        }
        println!(
            "simulation {}: {} seeds passed, {:?} simulated",
            self.test,
            seeds.len(),
            report.simulated
        );
        if self.coverage && !replay {
            self.check_probes(seeds.len());
        }
        report
    }

    fn run_one<F, Fut>(&self, seed: u64, body: &F) -> (u64, Duration)
    where
        F: Fn(SimCtx) -> Fut,
        Fut: Future<Output = ()>,
    {
        let root = SeededRand::new(seed);
        let plan = FaultPlan::draw(&root.split());
        probes::enable_buggify(root.split());
        // Fault points in backend code (`rig_core::buggify!`) ask the same seeded registry
        // for as long as this seed runs.
        let _core_faults = rig_core::fault::DeciderGuard::install(probes::buggify_at);
        let ctx = SimCtx {
            seed,
            rand: Arc::new(root.split()),
            plan,
            trace: Trace::new(),
        };
        ctx.trace.record(&("plan", plan));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("build the simulation runtime");
        let trace = ctx.trace.clone();
        let simulated = runtime.block_on(async move {
            let start = tokio::time::Instant::now();
            body(ctx).await;
            tokio::time::Instant::now() - start
        });
        drop(runtime);
        probes::disable_buggify();
        (trace.hash(), simulated)
    }

    fn check_probes(&self, seeds: usize) {
        let mut counts = probes::probe_counts();
        for name in &self.expected_probes {
            counts.entry(name).or_default();
        }
        let silent: Vec<&str> = counts
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| *k)
            .collect();
        assert!(
            silent.is_empty(),
            "simulation {}: coverage probes never fired across {seeds} seeds: {silent:?}",
            self.test
        );
    }
}
