//! Exactly-once retries through `POST /do`: an operation tagged with a client id and sequence
//! number is applied once, and a retry gets the original answer (DESIGN §3.7).

use std::future::pending;

use hyper::{Method, StatusCode};
use rig_core::{MemLog, Rig};
use rig_examples::metadata::http::DoResponse;
use rig_examples::metadata::{server, MetadataClient, MetadataService};

async fn serve() -> MetadataClient {
    let rig = Rig::open(MetadataService::default(), MemLog::new())
        .await
        .unwrap();
    let listener = server::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(server::serve(rig, listener, pending()));
    MetadataClient::new(&addr).unwrap()
}

async fn post(client: &MetadataClient, body: &str) -> (StatusCode, DoResponse) {
    let (status, bytes) = client
        .raw(Method::POST, "/do", Some(body.to_owned().into()))
        .await
        .unwrap();
    let answer =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{status}: {bytes:?}: {e}"));
    (status, answer)
}

#[tokio::test]
async fn a_retried_credential_create_is_applied_once() {
    let c = serve().await;
    let create = r#"{"method":"user_create","data":{"id":"ada","name":"A","email":"a@b"},
                     "client":{"client":7,"seq":1}}"#;
    let (status, first) = post(&c, create).await;
    assert_eq!((status, first.version), (StatusCode::OK, 1));
    // The same request again (a client that lost the first answer): the original result, even
    // though a plain duplicate create would be rejected.
    let (status, again) = post(&c, create).await;
    assert_eq!((status, again), (StatusCode::OK, first));

    // credential_create draws a new salt per request, so the retry is a different operation:
    // only the client sequence number keeps it from adding a second credential.
    let cred = r#"{"method":"credential_create","data":{"user_id":"ada","secret":"pw"},
                   "client":{"client":7,"seq":2}}"#;
    let (_, first) = post(&c, cred).await;
    let (_, again) = post(&c, cred).await;
    assert_eq!(first, again);
    assert_eq!(c.status().await.unwrap().version, 2);
    assert!(c.verify_credential("ada", "pw").await.unwrap());
}
