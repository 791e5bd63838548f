//! End to end over real HTTP: the `metadata` binary as a child process on a loopback port.

mod common;

use bytes::Bytes;
use common::Server;
use hyper::{Method, StatusCode};
use rig_examples::metadata::{ClientError, MetadataClient, User, UserUpdate};
use serde_json::Value;

fn user(id: &str) -> User {
    User {
        id: id.into(),
        name: format!("name of {id}"),
        email: format!("{id}@example.com"),
    }
}

async fn post_do(client: &MetadataClient, body: &str) -> (StatusCode, Value) {
    let (status, bytes) = client
        .raw(Method::POST, "/do", Some(Bytes::from(body.to_owned())))
        .await
        .expect("the request reaches the server");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("non-JSON answer {bytes:?} ({status}): {e}"));
    (status, json)
}

fn assert_error(json: &Value, code: &str) {
    assert_eq!(json["error"]["code"], code, "body: {json}");
    assert!(json["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn create_read_update_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = &server.client;

    let created = c.create_user(&user("ada")).await.unwrap();
    assert_eq!((created.version, &created.result), (1, &user("ada")));
    assert_eq!(c.get_user("ada").await.unwrap(), Some(user("ada")));
    assert_eq!(c.get_user("nobody").await.unwrap(), None);

    let update = UserUpdate {
        id: "ada".into(),
        name: Some("Ada Lovelace".into()),
        email: None,
    };
    let updated = c.update_user(&update).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.result.name, "Ada Lovelace");
    assert_eq!(updated.result.email, "ada@example.com");
    assert_eq!(
        c.get_user("ada").await.unwrap().unwrap().name,
        "Ada Lovelace"
    );

    for id in ["bob", "cy", "dee"] {
        c.create_user(&user(id)).await.unwrap();
    }
    let first = c.list_users(None, 2).await.unwrap();
    let ids: Vec<_> = first.users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        (ids, first.next.as_deref()),
        (vec!["ada", "bob"], Some("bob"))
    );
    let second = c.list_users(first.next.as_deref(), 10).await.unwrap();
    let ids: Vec<_> = second.users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!((ids, second.next), (vec!["cy", "dee"], None));

    let deleted = c.delete_user("bob").await.unwrap();
    assert_eq!((deleted.version, deleted.result.id.as_str()), (6, "bob"));
    assert_eq!(c.get_user("bob").await.unwrap(), None);

    let status = c.status().await.unwrap();
    assert_eq!((status.version, status.committed, status.users), (6, 6, 3));
    assert_eq!(
        (status.role.as_str(), status.backend.as_str()),
        ("leader", "file-log")
    );
}

#[tokio::test]
async fn rejected_operations_are_4xx_and_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = &server.client;
    c.create_user(&user("ada")).await.unwrap();
    let before = c.status().await.unwrap().version;

    match c.create_user(&user("ada")).await {
        Err(ClientError::Rejected { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (409, "duplicate_id"))
        }
        other => panic!("a duplicate id must be rejected, got {other:?}"),
    }
    match c.delete_user("ghost").await {
        Err(ClientError::Rejected { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (404, "not_found"))
        }
        other => panic!("an unknown user must be rejected, got {other:?}"),
    }
    let cases = [
        (
            r#"{"method":"user_create","data":{"id":"x""#,
            400,
            "malformed",
        ),
        (r#"not json at all"#, 400, "malformed"),
        (
            r#"{"method":"user_create","data":{"id":"x"}}"#,
            400,
            "malformed",
        ),
        (
            r#"{"method":"user_create","data":{"id":"x","name":"X","email":"nope"}}"#,
            400,
            "invalid_email",
        ),
        (
            r#"{"method":"user_create","data":{"id":"a b","name":"X","email":"x@y"}}"#,
            400,
            "invalid_id",
        ),
        (
            r#"{"method":"drop_table","data":{}}"#,
            400,
            "unknown_method",
        ),
        (
            r#"{"method":"user_update","data":{"id":"ghost","name":"G"}}"#,
            404,
            "not_found",
        ),
        (
            r#"{"method":"credential_create","data":{"user_id":"ghost","secret":"s"}}"#,
            404,
            "not_found",
        ),
        (
            r#"{"method":"credential_create","data":{"user_id":"ada","salt":"00","hash":"00"}}"#,
            400,
            "malformed",
        ),
        (
            r#"{"method":"credential_delete","data":{"user_id":"ada","credential_id":99}}"#,
            404,
            "not_found",
        ),
    ];
    for (body, status, code) in cases {
        let (got, json) = post_do(c, body).await;
        assert_eq!(got.as_u16(), status, "{body} -> {json}");
        assert_error(&json, code);
    }
    assert_eq!(
        c.status().await.unwrap().version,
        before,
        "a rejected op was logged"
    );
    assert_eq!(c.get_user("x").await.unwrap(), None);
}

#[tokio::test]
async fn credentials_verify_and_the_secret_never_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = &server.client;
    let secret = "correct-horse-battery-staple";
    c.create_user(&user("ada")).await.unwrap();
    let first = c.create_credential("ada", secret).await.unwrap();
    assert_eq!(first.result.user_id, "ada");
    assert_eq!(first.result.credential_id, first.version);
    assert!(c.verify_credential("ada", secret).await.unwrap());
    assert!(!c.verify_credential("ada", "wrong").await.unwrap());
    assert!(matches!(
        c.verify_credential("ghost", secret).await,
        Err(ClientError::Rejected { status: 404, .. })
    ));

    let second = c.create_credential("ada", "other").await.unwrap();
    c.delete_credential(&first.result).await.unwrap();
    assert!(!c.verify_credential("ada", secret).await.unwrap());
    assert!(c.verify_credential("ada", "other").await.unwrap());
    assert_ne!(first.result, second.result);

    drop(server);
    assert!(!dir_contains(dir.path(), secret.as_bytes()));
    assert!(
        dir_contains(dir.path(), b"ada@example.com"),
        "the scan must see logged data"
    );
}

/// True when any file in `dir` contains `needle`.
fn dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    // The test inspects the service's files directly, outside rig's Fs seam.
    #[allow(clippy::disallowed_methods)]
    let entries = std::fs::read_dir(dir).unwrap();
    entries.map(|e| e.unwrap().path()).any(|path| {
        #[allow(clippy::disallowed_methods)]
        let bytes = std::fs::read(&path).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[test]
fn an_unknown_backend_exits_naming_the_ones_that_exist() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metadata"))
        .args(["--backend", "zookeeper", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("zookeeper") && stderr.contains("file, s3, 2pc, raft"),
        "{stderr}"
    );
}
