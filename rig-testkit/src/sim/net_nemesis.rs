//! [`net_nemesis`]: applies a [`FaultPlan`]'s network faults to a [`SimNet`](crate::simnet::SimNet).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rig_core::seams::{Rand, SeededRand};

use super::{FaultPlan, Trace};
use crate::simnet::{LinkConfig, SimNetController};
use crate::sometimes;

/// Drives network faults on `net` among `nodes` until `stop` is set, then heals every cut and
/// pause and makes links lossless again (the liveness phase).
///
/// Every few simulated milliseconds it rolls the plan's rates: `net_loss_pct` becomes a
/// per-write connection-reset rate on every link (a stream surfaces loss as a reset);
/// `net_dup_pct` becomes a delivered-then-reset rate of a fifth of it (a write arrives, then the
/// connection resets so the sender retries it on a new one: one such reset duplicates every
/// message in flight on the link, hence the fifth);
/// `partition_per_mille` isolates one node, cuts one direction of one link, clogs one link for
/// up to 200 ms, or splits the nodes in two, and at half that rate pauses a node; partitions and pauses heal at random. Each kind
/// of fault is a `sometimes!` probe, so a seed set on which one never fires fails its coverage
/// check. Events go to `trace`.
///
/// ```
/// use std::sync::{atomic::AtomicBool, Arc};
/// use rig_core::seams::SeededRand;
/// use rig_testkit::sim::{net_nemesis, FaultPlan, Trace};
/// use rig_testkit::simnet::SimNet;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let (_net, ctl) = SimNet::new(SeededRand::new(1));
/// let stop = Arc::new(AtomicBool::new(true)); // already stopped: it only heals
/// let nodes = vec!["a".to_string(), "b".to_string()];
/// net_nemesis(ctl, nodes, FaultPlan::none(), SeededRand::new(2), stop, Trace::new()).await;
/// # });
/// ```
pub async fn net_nemesis(
    net: SimNetController,
    nodes: Vec<String>,
    plan: FaultPlan,
    rand: SeededRand,
    stop: Arc<AtomicBool>,
    trace: Trace,
) {
    let lossy = LinkConfig {
        reset_per_mille: plan.net_loss_pct * 10,
        duplicate_per_mille: plan.net_dup_pct * 2,
        ..LinkConfig::default()
    };
    net.set_default_link(lossy);
    trace.record(&("net loss per mille", lossy.reset_per_mille));
    trace.record(&("net duplication per mille", lossy.duplicate_per_mille));
    let pick = |rand: &SeededRand| nodes[rand.below(nodes.len() as u64) as usize].as_str();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(1 + rand.below(10))).await;
        if FaultPlan::roll(&rand, plan.partition_per_mille) {
            let node = pick(&rand);
            match rand.below(4) {
                0 => {
                    let others: Vec<&str> = nodes.iter().map(String::as_str).collect();
                    net.isolate(node, &others);
                    sometimes!(true, "net nemesis: isolated a node");
                    trace.record(&("isolate", node));
                }
                3 => {
                    let to = pick(&rand);
                    let millis = 1 + rand.below(200);
                    net.clog(node, to, Duration::from_millis(millis));
                    sometimes!(node != to, "net nemesis: clogged a link");
                    trace.record(&("clog", node, to, millis));
                }
                1 => {
                    let to = pick(&rand);
                    net.cut_one_way(node, to);
                    sometimes!(node != to, "net nemesis: cut a link one way");
                    trace.record(&("cut one way", node, to));
                }
                _ => {
                    let (a, b): (Vec<&str>, Vec<&str>) = nodes
                        .iter()
                        .map(String::as_str)
                        .partition(|_| rand.below(2) == 0);
                    net.partition(&a, &b);
                    sometimes!(
                        !a.is_empty() && !b.is_empty(),
                        "net nemesis: split the nodes in two"
                    );
                    trace.record(&("partition", &a, &b));
                }
            }
        } else if FaultPlan::roll(&rand, plan.partition_per_mille / 2) {
            let node = pick(&rand);
            net.pause(node);
            sometimes!(true, "net nemesis: paused a node");
            trace.record(&("pause", node));
        } else if FaultPlan::roll(&rand, 100) {
            net.heal();
            trace.record(&"heal");
        }
    }
    net.heal();
    net.set_default_link(LinkConfig::default());
    trace.record(&"net healed");
}
