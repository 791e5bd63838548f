//! The metadata service's validate, apply, durability, resources, snapshot and restore, without
//! HTTP.

use rig_core::{Durability, Operation, Resources, Service};
use rig_examples::metadata::{
    secret, CredentialId, MetadataOp, MetadataService, User, UserId, UserUpdate,
};
use serde_json::json;

fn ada() -> User {
    User {
        id: "ada".into(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
    }
}

async fn applied(ops: &[MetadataOp]) -> MetadataService {
    let mut s = MetadataService::default();
    for (i, op) in ops.iter().enumerate() {
        let op = op.to_operation();
        s.validate(&op).await.expect("valid");
        s.apply(i as u64 + 1, &op).await.expect("applies");
    }
    s
}

async fn rejection(s: &MetadataService, op: Operation) -> String {
    s.validate(&op).await.expect_err("must be rejected").code
}

#[tokio::test]
async fn validate_rejects_bad_operations_with_specific_codes() {
    let s = applied(&[MetadataOp::UserCreate(ada())]).await;
    let create = |v| Operation::json("user_create", &v).unwrap();
    assert_eq!(
        rejection(&s, MetadataOp::UserCreate(ada()).to_operation()).await,
        "duplicate_id"
    );
    let bad_id = json!({"id": "", "name": "x", "email": "x@y"});
    assert_eq!(rejection(&s, create(bad_id)).await, "invalid_id");
    let blank = json!({"id": "b", "name": " ", "email": "x@y"});
    assert_eq!(rejection(&s, create(blank)).await, "invalid_name");
    let email = json!({"id": "b", "name": "B", "email": "@y"});
    assert_eq!(rejection(&s, create(email)).await, "invalid_email");
    let extra = json!({"id": "b", "name": "B", "email": "b@y", "admin": true});
    assert_eq!(rejection(&s, create(extra)).await, "malformed");
    assert_eq!(
        rejection(&s, Operation::new("user_create", "{")).await,
        "malformed"
    );
    assert_eq!(
        rejection(&s, Operation::new("rm_rf", "{}")).await,
        "unknown_method"
    );

    let update = |id: &str, name: Option<&str>| {
        MetadataOp::UserUpdate(UserUpdate {
            id: id.into(),
            name: name.map(Into::into),
            email: None,
        })
        .to_operation()
    };
    assert_eq!(rejection(&s, update("ghost", Some("G"))).await, "not_found");
    assert_eq!(rejection(&s, update("ada", None)).await, "malformed");
    let delete = MetadataOp::UserDelete(UserId { id: "ghost".into() });
    assert_eq!(rejection(&s, delete.to_operation()).await, "not_found");

    let mut cred = secret::seal("ghost", "pw").unwrap();
    let op = MetadataOp::CredentialCreate(cred.clone()).to_operation();
    assert_eq!(rejection(&s, op).await, "not_found");
    cred.user_id = "ada".into();
    cred.hash = "zz".into();
    let op = MetadataOp::CredentialCreate(cred).to_operation();
    assert_eq!(rejection(&s, op).await, "malformed");
    let secret_in_log = json!({"user_id": "ada", "secret": "pw"});
    let op = Operation::json("credential_create", &secret_in_log).unwrap();
    assert_eq!(rejection(&s, op).await, "malformed");
}

#[tokio::test]
async fn apply_changes_users_and_credentials() {
    let cred = secret::seal("ada", "pw").unwrap();
    let mut s = applied(&[
        MetadataOp::UserCreate(ada()),
        MetadataOp::UserUpdate(UserUpdate {
            id: "ada".into(),
            name: None,
            email: Some("ada@lovelace.org".into()),
        }),
        MetadataOp::CredentialCreate(cred),
    ])
    .await;
    assert_eq!(s.version().await, 3);
    let user = s.user("ada").unwrap();
    assert_eq!(
        (user.name.as_str(), user.email.as_str()),
        ("Ada", "ada@lovelace.org")
    );
    assert_eq!(s.verify_secret("ada", "pw"), Some(true));
    assert_eq!(s.verify_secret("ada", "pW"), Some(false));
    assert_eq!(s.verify_secret("bob", "pw"), None);

    let drop_cred = MetadataOp::CredentialDelete(CredentialId {
        user_id: "ada".into(),
        credential_id: 3,
    });
    let out = s.apply(4, &drop_cred.to_operation()).await.unwrap();
    assert_eq!(out, json!({"user_id": "ada", "credential_id": 3}));
    assert_eq!(s.credential_count("ada"), Some(0));

    let delete = MetadataOp::UserDelete(UserId { id: "ada".into() });
    let out = s.apply(5, &delete.to_operation()).await.unwrap();
    assert_eq!(out["email"], "ada@lovelace.org");
    assert!(s.is_empty());
    // apply re-checks: an operation that could not have passed validate is an error, not a no-op.
    assert!(s.apply(6, &delete.to_operation()).await.is_err());
}

#[tokio::test]
async fn snapshot_restores_the_same_state_and_refuses_other_formats() {
    let s = applied(&[
        MetadataOp::UserCreate(ada()),
        MetadataOp::CredentialCreate(secret::seal("ada", "pw").unwrap()),
    ])
    .await;
    let bytes = s.snapshot().await.unwrap();
    let mut back = MetadataService::default();
    back.restore(2, bytes.clone()).await.unwrap();
    assert_eq!(back.version().await, 2);
    assert_eq!(back.user("ada"), Some(&ada()));
    assert_eq!(back.verify_secret("ada", "pw"), Some(true));

    let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    json["format"] = json!(99);
    let err = back.restore(2, json.to_string().into()).await.unwrap_err();
    assert!(err.0.contains("format 99"), "{err}");
}

#[tokio::test]
async fn durability_and_resources_follow_the_seed() {
    let s = MetadataService::default();
    let create = MetadataOp::UserCreate(ada()).to_operation();
    let update = MetadataOp::UserUpdate(UserUpdate {
        id: "ada".into(),
        name: Some("A".into()),
        email: None,
    })
    .to_operation();
    let delete = MetadataOp::UserDelete(UserId { id: "bob".into() }).to_operation();
    assert_eq!(
        s.durability(&create),
        None,
        "user_create waits for the strongest level"
    );
    assert_eq!(
        s.durability(&delete),
        None,
        "user_delete waits for the strongest level"
    );
    assert_eq!(s.durability(&update), Some(Durability::Applied));

    let (a1, a2, b) = (
        s.resources(&create).await,
        s.resources(&update).await,
        s.resources(&delete).await,
    );
    assert!(a1.overlaps(&a2), "two ops on one user serialize");
    assert!(!a1.overlaps(&b), "ops on different users batch");
    assert_eq!(s.resources(&Operation::new("x", "{")).await, Resources::All);
}

#[tokio::test]
async fn apply_replays_what_an_older_build_accepted_but_never_a_contradiction() {
    let mut s = MetadataService::default();
    // An email today's validate refuses, logged by a (hypothetical) laxer build: replay keeps it.
    let old = json!({"id": "old", "name": "Old", "email": "no-at-sign"});
    let op = Operation::json("user_create", &old).unwrap();
    assert_eq!(rejection(&s, op.clone()).await, "invalid_email");
    s.apply(1, &op).await.expect("replay of an accepted op");
    assert_eq!(s.user("old").unwrap().email, "no-at-sign");
    // A second create of the same id contradicts the state: the engine must stop, not diverge.
    assert!(s.apply(2, &op).await.is_err());
    assert_eq!(s.version().await, 1);
}
