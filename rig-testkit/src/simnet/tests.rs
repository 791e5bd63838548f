//! SimNet behaviour: delays in order, partitions hold data, loss resets, refusals.

use std::time::Duration;

use rig_core::seams::{Connection, SeededRand, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{LinkConfig, SimNet, SimNetController};

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

async fn pair(seed: u64) -> (SimNetController, Box<dyn Connection>, Box<dyn Connection>) {
    let (net, ctl) = SimNet::new(SeededRand::new(seed));
    let mut listener = net.node("b").listen("b:1").await.unwrap();
    let client = net.node("a").connect("b:1").await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (ctl, client, server)
}

#[test]
fn writes_arrive_in_order_after_the_link_delay() {
    run(async {
        let (ctl, mut a, mut b) = pair(1).await;
        let slow = LinkConfig {
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(90),
            ..LinkConfig::default()
        };
        ctl.set_link("a", "b", slow);
        let start = Instant::now();
        for i in 0..20u8 {
            a.write_all(&[i]).await.unwrap();
        }
        let mut buf = [0u8; 20];
        b.read_exact(&mut buf).await.unwrap();
        assert!(Instant::now() - start >= Duration::from_millis(50));
        assert_eq!(buf.to_vec(), (0..20).collect::<Vec<u8>>());
    });
}

#[test]
fn a_partition_holds_data_until_it_heals() {
    run(async {
        let (ctl, mut a, mut b) = pair(2).await;
        ctl.partition(&["a"], &["b"]);
        a.write_all(b"held").await.unwrap();
        let mut buf = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_secs(10), b.read_exact(&mut buf)).await;
        assert!(early.is_err(), "data crossed a partition");
        ctl.heal();
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"held");
    });
}

#[test]
fn one_way_cut_blocks_one_direction_only() {
    run(async {
        let (ctl, mut a, mut b) = pair(3).await;
        ctl.cut_one_way("a", "b");
        b.write_all(b"back").await.unwrap();
        let mut buf = [0u8; 4];
        a.read_exact(&mut buf).await.unwrap();
        a.write_all(b"fwd!").await.unwrap();
        let blocked = tokio::time::timeout(Duration::from_secs(10), b.read_exact(&mut buf)).await;
        assert!(blocked.is_err(), "data crossed a one-way cut");
    });
}

#[test]
fn paused_node_receives_after_resume() {
    run(async {
        let (ctl, mut a, mut b) = pair(4).await;
        ctl.pause("b");
        a.write_all(b"zz").await.unwrap();
        let mut buf = [0u8; 2];
        let early = tokio::time::timeout(Duration::from_secs(5), b.read_exact(&mut buf)).await;
        assert!(early.is_err(), "a paused node received data");
        ctl.resume("b");
        b.read_exact(&mut buf).await.unwrap();
    });
}

#[test]
fn loss_resets_the_connection() {
    run(async {
        let (ctl, mut a, mut b) = pair(5).await;
        ctl.set_default_link(LinkConfig {
            reset_per_mille: 1000,
            ..LinkConfig::default()
        });
        let e = a.write_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
        let e = b.read_u8().await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn a_clogged_link_holds_writes_then_delivers_them_in_order() {
    run(async {
        let (ctl, mut a, mut b) = pair(9).await;
        ctl.clog("a", "b", Duration::from_secs(3));
        let start = Instant::now();
        a.write_all(b"12").await.unwrap();
        a.write_all(b"34").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"1234");
        assert!(
            Instant::now() - start >= Duration::from_secs(3),
            "held while clogged"
        );
    });
}

#[test]
fn a_duplicating_link_delivers_then_resets() {
    run(async {
        let (ctl, mut a, mut b) = pair(8).await;
        ctl.set_default_link(LinkConfig {
            duplicate_per_mille: 1000,
            ..LinkConfig::default()
        });
        a.write_all(b"x").await.unwrap();
        assert_eq!(b.read_u8().await.unwrap(), b'x', "the write arrives");
        let e = b.read_u8().await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
        let e = a.read_u8().await.unwrap_err();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "the sender never gets an answer: it must retry on a new connection"
        );
    });
}

#[test]
fn refused_and_timed_out_connects() {
    run(async {
        let (net, ctl) = SimNet::new(SeededRand::new(6));
        let e = net.node("a").connect("nowhere:1").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        let _l = net.node("b").listen("b:1").await.unwrap();
        ctl.isolate("b", &["a"]);
        let e = net.node("a").connect("b:1").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn closing_one_end_is_eof_for_the_other() {
    run(async {
        let (_ctl, mut a, mut b) = pair(7).await;
        a.write_all(b"bye").await.unwrap();
        a.shutdown().await.unwrap();
        let mut all = Vec::new();
        b.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"bye");
    });
}
