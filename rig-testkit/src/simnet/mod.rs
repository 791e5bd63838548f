//! [`SimNet`]: a simulated network behind rig-core's [`Transport`] seam. Each node gets its own
//! [`SimTransport`]; a [`SimNetController`] sets per-link delay and loss, cuts links (symmetric,
//! one-way, or isolating a node), pauses nodes and heals.
//!
//! Connections are reliable in-order byte streams, like TCP: a write arrives after its link's
//! delay (never before an earlier write); "loss" resets the connection (TCP surfaces loss it
//! cannot repair as a reset or a timeout, never as missing bytes); across a cut link or to a
//! paused node nothing is delivered until the cut heals or the node resumes. Duplication and
//! reordering cannot happen inside a stream; they arise above it when a protocol retries on a
//! new connection. Delays use tokio time, so the simulation's paused clock drives them.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! use rig_core::seams::{SeededRand, Transport};
//! use rig_testkit::simnet::SimNet;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (net, ctl) = SimNet::new(SeededRand::new(1));
//! let mut listener = net.node("b").listen("b:7000").await.unwrap();
//! let mut client = net.node("a").connect("b:7000").await.unwrap();
//! let (mut server, peer) = listener.accept().await.unwrap();
//! assert!(peer.starts_with("a:"));
//! ctl.partition(&["a"], &["b"]);
//! client.write_all(b"ping").await.unwrap(); // accepted, held until the partition heals
//! ctl.heal();
//! let mut buf = [0u8; 4];
//! server.read_exact(&mut buf).await.unwrap();
//! assert_eq!(&buf, b"ping");
//! # });
//! ```

mod pipe;
mod state;

pub use state::LinkConfig;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rig_core::seams::{Connection, Listener, SeededRand, Transport};
use tokio::sync::mpsc;

use pipe::SimConn;
use state::NetState;

/// How long a connection attempt across a cut link or to a paused node takes to fail.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The simulated network. Clones share it.
#[derive(Debug, Clone)]
pub struct SimNet {
    state: Arc<Mutex<NetState>>,
}

impl SimNet {
    /// A network whose delays and losses are drawn from `rand`, and its controller.
    pub fn new(rand: SeededRand) -> (Self, SimNetController) {
        let state = Arc::new(Mutex::new(NetState::new(rand)));
        (
            Self {
                state: Arc::clone(&state),
            },
            SimNetController { state },
        )
    }

    /// The [`Transport`] of node `name`: its connections originate from `name`, and its
    /// listeners belong to `name`.
    pub fn node(&self, name: &str) -> SimTransport {
        SimTransport {
            state: Arc::clone(&self.state),
            node: name.to_string(),
        }
    }
}

/// One node's view of a [`SimNet`].
#[derive(Debug, Clone)]
pub struct SimTransport {
    state: Arc<Mutex<NetState>>,
    node: String,
}

impl SimTransport {
    fn state(&self) -> MutexGuard<'_, NetState> {
        self.state.lock().expect("net lock")
    }
}

#[async_trait]
impl Transport for SimTransport {
    async fn connect(&self, addr: &str) -> io::Result<Box<dyn Connection>> {
        let target = self
            .state()
            .listeners
            .get(addr)
            .map(|(node, tx)| (node.clone(), tx.clone()));
        let Some((peer, tx)) = target else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{addr}: refused"),
            ));
        };
        let blocked = {
            let s = self.state();
            s.blocked(&self.node, &peer) || s.blocked(&peer, &self.node)
        };
        if blocked {
            tokio::time::sleep(CONNECT_TIMEOUT).await;
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{addr}: timed out"),
            ));
        }
        let port = {
            let mut s = self.state();
            s.next_port += 1;
            s.next_port
        };
        let (mine, theirs) = SimConn::pair(&self.state, &self.node, &peer);
        tx.send((theirs, format!("{}:{port}", self.node)))
            .map_err(|_| {
                io::Error::new(io::ErrorKind::ConnectionRefused, format!("{addr}: closed"))
            })?;
        Ok(Box::new(mine))
    }

    async fn listen(&self, addr: &str) -> io::Result<Box<dyn Listener>> {
        let mut s = self.state();
        let addr = match addr.strip_suffix(":0") {
            Some(host) => {
                s.next_port += 1;
                format!("{host}:{}", s.next_port)
            }
            None => addr.to_string(),
        };
        if s.listeners
            .get(&addr)
            .is_some_and(|(_, tx)| !tx.is_closed())
        {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr}: in use"),
            ));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        s.listeners.insert(addr.clone(), (self.node.clone(), tx));
        Ok(Box::new(SimListener { rx, addr }))
    }
}

#[derive(Debug)]
struct SimListener {
    rx: mpsc::UnboundedReceiver<(SimConn, String)>,
    addr: String,
}

#[async_trait]
impl Listener for SimListener {
    async fn accept(&mut self) -> io::Result<(Box<dyn Connection>, String)> {
        match self.rx.recv().await {
            Some((conn, peer)) => Ok((Box::new(conn), peer)),
            None => Err(io::Error::other(format!("{}: listener closed", self.addr))),
        }
    }

    fn local_addr(&self) -> io::Result<String> {
        Ok(self.addr.clone())
    }
}

/// Injects network faults into a [`SimNet`].
#[derive(Debug, Clone)]
pub struct SimNetController {
    state: Arc<Mutex<NetState>>,
}

impl SimNetController {
    fn state(&self) -> MutexGuard<'_, NetState> {
        self.state.lock().expect("net lock")
    }

    /// Sets the delay and loss of every link without its own setting.
    pub fn set_default_link(&self, link: LinkConfig) {
        self.state().default_link = link;
    }

    /// Sets the delay and loss of the directed link `from` → `to`.
    pub fn set_link(&self, from: &str, to: &str, link: LinkConfig) {
        self.state()
            .links
            .insert((from.to_string(), to.to_string()), link);
    }

    /// Cuts the directed link `from` → `to` (a one-way partition).
    pub fn cut_one_way(&self, from: &str, to: &str) {
        self.state().cut.insert((from.to_string(), to.to_string()));
    }

    /// Clogs the directed link `from` → `to` for `duration` of simulated time: everything
    /// written meanwhile is held (not lost) and then delivered in order, as a congested or
    /// stalled link would (FoundationDB's "clogging"). A [`heal`](Self::heal) unclogs at once.
    pub fn clog(&self, from: &str, to: &str, duration: Duration) {
        let link = (from.to_string(), to.to_string());
        self.state().cut.insert(link.clone());
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            let mut s = state.lock().expect("net lock");
            s.cut.remove(&link);
            s.wake_all();
        });
    }

    /// Cuts every link between a node of `a` and a node of `b`, both ways.
    pub fn partition(&self, a: &[&str], b: &[&str]) {
        for x in a {
            for y in b {
                self.cut_one_way(x, y);
                self.cut_one_way(y, x);
            }
        }
    }

    /// Cuts `node` off from every node in `others`.
    pub fn isolate(&self, node: &str, others: &[&str]) {
        self.partition(&[node], others);
    }

    /// Stops delivering anything to or from `node` (a paused process) until [`resume`].
    ///
    /// [`resume`]: SimNetController::resume
    pub fn pause(&self, node: &str) {
        self.state().paused.insert(node.to_string());
    }

    /// Resumes a paused node; held data flows again.
    pub fn resume(&self, node: &str) {
        let mut s = self.state();
        s.paused.remove(node);
        s.wake_all();
    }

    /// Removes every cut and pause and resets links to the default; held data flows again.
    pub fn heal(&self) {
        let mut s = self.state();
        s.cut.clear();
        s.paused.clear();
        s.links.clear();
        s.wake_all();
    }
}

#[cfg(test)]
mod tests;
