//! How engine errors reach HTTP clients: the API served in process on a loopback port, over
//! rig-core's `MemLog` (which can play a follower or fail an append on request).

use std::future::pending;

use hyper::{Method, StatusCode};
use rig_core::{Error, Log, MemLog, Rig};
use rig_examples::metadata::error::ErrorBody;
use rig_examples::metadata::{server, ClientError, MetadataClient, MetadataService, User};

fn user(id: &str) -> User {
    User {
        id: id.into(),
        name: "N".into(),
        email: format!("{id}@example.com"),
    }
}

/// Serves `log` on a free loopback port until the test ends.
async fn serve(log: MemLog) -> MetadataClient {
    let rig = Rig::open(MetadataService::default(), log).await.unwrap();
    let listener = server::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(server::serve(rig, listener, pending()));
    MetadataClient::new(&addr).unwrap()
}

#[tokio::test]
async fn a_follower_answers_421_with_the_leaders_address_and_still_serves_reads() {
    let leader_log = MemLog::new();
    let leader = serve(leader_log.clone()).await;
    leader.create_user(&user("ada")).await.unwrap();

    let follower = serve(leader_log.follower_view(Some("10.0.0.2:8080".into()))).await;
    match follower.create_user(&user("bob")).await {
        Err(ClientError::NotLeader { leader }) => {
            assert_eq!(leader.as_deref(), Some("10.0.0.2:8080"))
        }
        other => panic!("a follower must refuse writes with the leader's address, got {other:?}"),
    }
    let body = r#"{"method":"user_delete","data":{"id":"ada"}}"#;
    let (status, bytes) = follower
        .raw(Method::POST, "/do", Some(body.into()))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    let error: ErrorBody = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (error.error.code.as_str(), error.error.leader.as_deref()),
        ("not_leader", Some("10.0.0.2:8080"))
    );

    let status = follower.status().await.unwrap();
    assert_eq!(
        (status.role.as_str(), status.leader.as_deref()),
        ("follower", Some("10.0.0.2:8080"))
    );
    assert_eq!(follower.get_user("ada").await.unwrap(), Some(user("ada")));
    assert_eq!(leader.get_user("bob").await.unwrap(), None);
}

#[tokio::test]
async fn unavailable_is_503_and_nothing_is_applied() {
    let log = MemLog::new();
    let client = serve(log.clone()).await;
    log.fail_next_append(
        Error::Unavailable {
            reason: "disk full".into(),
        },
        false,
    );
    match client.create_user(&user("ada")).await {
        Err(ClientError::Unavailable(message)) => {
            assert!(message.contains("disk full"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(client.status().await.unwrap().version, 0);
    assert_eq!(client.get_user("ada").await.unwrap(), None);
    // Retrying later works.
    assert_eq!(client.create_user(&user("ada")).await.unwrap().version, 1);
}

#[tokio::test]
async fn an_unknown_outcome_is_a_500_the_client_can_tell_apart() {
    let log = MemLog::new();
    let client = serve(log.clone()).await;
    let reason = "lost the store after the write".to_owned();
    log.fail_next_append(Error::OutcomeUnknown { reason }, true);
    match client.create_user(&user("ada")).await {
        Err(ClientError::Server { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (500, "outcome_unknown"))
        }
        other => panic!("expected an outcome_unknown server error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_following_client_gives_up_after_max_redirects() {
    // Two followers naming each other as the leader: a redirect loop.
    let leader_log = MemLog::new();
    let (a, b) = (
        server::bind("127.0.0.1:0").await.unwrap(),
        server::bind("127.0.0.1:0").await.unwrap(),
    );
    let (a_addr, b_addr) = (
        a.local_addr().unwrap().to_string(),
        b.local_addr().unwrap().to_string(),
    );
    for (listener, hint) in [(a, b_addr.clone()), (b, a_addr.clone())] {
        let view = leader_log.follower_view(Some(hint));
        let rig = Rig::open(MetadataService::default(), view).await.unwrap();
        tokio::spawn(server::serve(rig, listener, pending()));
    }
    let client = MetadataClient::new(&a_addr).unwrap().following_leader();
    match client.create_user(&user("ada")).await {
        Err(ClientError::NotLeader { leader }) => assert!(leader.is_some()),
        other => panic!("a redirect loop must end in NotLeader, got {other:?}"),
    }
    // MAX_REDIRECTS = 3 hops from a: b, a, b; the client stays where it stopped.
    assert_eq!(client.addr(), b_addr);
    assert_eq!(leader_log.committed(), 0, "nothing was applied");
}
