//! Plain ACL (`aclEnable=true`) against a real broker on loopback: unsigned, wrong-secret,
//! tampered and unknown-key requests are refused with NO_PERMISSION and store nothing; signed
//! requests within the account's permissions pass; admin codes need an admin account; white
//! lists let addresses in; the file is hot-reloaded, a broken file keeps the previous rules and
//! stops a start; the ACL admin codes rewrite the file.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use broker::Broker;
use common::*;
use remoting::acl::{AclConfigBody, SessionCredentials};
use remoting::header::acl::{
    CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader,
    GetBrokerAclConfigResponseHeader, UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use remoting::header::admin::CreateTopicRequestHeader;
use remoting::{ClientConfig, RemotingClient, RemotingCommand, RequestCode, ResponseCode};

const ACL: &str = "globalWhiteRemoteAddresses:

accounts:
  - accessKey: producer1
    secretKey: prodsecret1
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - TopicA=PUB
  - accessKey: consumer1
    secretKey: 12345678
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - TopicA=SUB
  - accessKey: adminuser
    secretKey: adminsecret1
    admin: true
";

fn signed(ak: &str, sk: &str) -> RemotingClient {
    RemotingClient::new(ClientConfig {
        credentials: Some(SessionCredentials::new(ak, sk)),
        ..Default::default()
    })
}

fn create_topic(topic: &str) -> RemotingCommand {
    let h = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 1,
        write_queue_nums: 1,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        order: false,
        ..Default::default()
    };
    request(RequestCode::UPDATE_AND_CREATE_TOPIC, &h)
}

fn msg(topic: &str, body: &str) -> RemotingCommand {
    send_request(topic, 0, body.as_bytes(), props(None, None))
}

fn assert_refused(r: &RemotingCommand, why: &str) {
    assert_eq!(
        r.code,
        ResponseCode::NO_PERMISSION.0,
        "expected NO_PERMISSION ({why}), got {} {:?}",
        r.code,
        r.remark
    );
    let remark = r.remark.clone().unwrap_or_default();
    assert!(remark.contains(why), "remark {remark:?} lacks {why:?}");
}

async fn start(dir: &Path, acl_text: &str) -> (broker::BrokerHandle, String, std::path::PathBuf) {
    let acl_file = dir.join("plain_acl.yml");
    std::fs::write(&acl_file, acl_text).unwrap();
    let mut cfg = broker_config(&dir.join("store"), None);
    cfg.acl_enable = true;
    cfg.acl_plain_file = Some(acl_file.display().to_string());
    let b = Broker::start(cfg).await.unwrap();
    let addr = b.local_addr().to_string();
    (b, addr, acl_file)
}

/// Polls `f` until it is true (the file watcher runs every 500 ms); false after 20 s.
async fn eventually<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn signatures_permissions_and_admin_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, _file) = start(dir.path(), ACL).await;
    let admin = signed("adminuser", "adminsecret1");
    let producer = signed("producer1", "prodsecret1");
    let consumer = signed("consumer1", "12345678");
    let anonymous = RemotingClient::new(ClientConfig::default());

    // Admin-only codes: a non-admin account is refused, the admin creates the topic.
    assert_refused(
        &invoke(&producer, &addr, create_topic("TopicA")).await,
        "Need admin permission for request code=17",
    );
    assert_eq!(invoke(&admin, &addr, create_topic("TopicA")).await.code, 0);
    assert_eq!(invoke(&admin, &addr, create_topic("TopicB")).await.code, 0);

    // Unsigned, unknown key, wrong secret: refused, nothing stored.
    assert_refused(
        &invoke(&anonymous, &addr, msg("TopicA", "unsigned")).await,
        "No accessKey is configured",
    );
    assert_refused(
        &invoke(&signed("nobody77", "whatever1"), &addr, msg("TopicA", "x")).await,
        "No acl config for nobody77",
    );
    assert_refused(
        &invoke(
            &signed("producer1", "wrongsecret"),
            &addr,
            msg("TopicA", "x"),
        )
        .await,
        "Check signature failed for accessKey=producer1",
    );
    let store = b.context().store.clone();
    assert_eq!(
        store.max_offset("TopicA", 0),
        0,
        "a refused send was stored"
    );

    // Signed within the account's permissions: stored.
    let ok = invoke(&producer, &addr, msg("TopicA", "signed")).await;
    assert_eq!(ok.code, 0, "{:?}", ok.remark);
    // The account may not publish to a topic it has no permission on.
    assert_refused(
        &invoke(&producer, &addr, msg("TopicB", "x")).await,
        "No permission for topic:TopicB",
    );

    // A signed request replayed with a changed field or body: refused. (Replaying it unchanged
    // is accepted, as by Java's plain ACL: the signature carries no nonce.)
    let mut original = msg("TopicA", "original");
    SessionCredentials::new("producer1", "prodsecret1").sign(&mut original);
    let mut queue_changed = original.clone();
    queue_changed.ext_fields.insert("e", "1"); // queueId of the V2 header
    assert_refused(
        &invoke(&anonymous, &addr, queue_changed).await,
        "Check signature failed",
    );
    let mut topic_changed = original.clone();
    topic_changed.ext_fields.insert("b", "TopicB");
    assert_refused(
        &invoke(&anonymous, &addr, topic_changed).await,
        "Check signature failed",
    );
    let body_changed = original.clone().with_body(&b"tampered"[..]);
    assert_refused(
        &invoke(&anonymous, &addr, body_changed).await,
        "Check signature failed",
    );
    assert_eq!(invoke(&anonymous, &addr, original).await.code, 0);
    let stored = wait_max_offset(&consumer, &addr, "TopicA", 0, 2).await;
    assert_eq!(stored, 2, "exactly the two accepted sends are stored");
    assert_eq!(store.max_offset("TopicB", 0), 0);

    // Pull: the consumer (SUB on TopicA, SUB on groups) may, the producer may not.
    let pull = pull_request("CG1", "TopicA", 0, 0, 0, "*");
    let r = invoke(&consumer, &addr, pull.clone()).await;
    assert_ne!(r.code, ResponseCode::NO_PERMISSION.0, "{:?}", r.remark);
    assert_refused(
        &invoke(&producer, &addr, pull).await,
        "No permission for topic:TopicA",
    );
    // Heartbeat of a consumer subscribing TopicB: refused for the consumer account.
    assert_refused(
        &invoke(
            &consumer,
            &addr,
            heartbeat_request("c1@1", None, "CG1", "TopicB", 1),
        )
        .await,
        "No permission for topic:TopicB",
    );

    // ACL admin codes: only an admin.
    let create = CreateAccessConfigRequestHeader {
        access_key: "newuser1".into(),
        secret_key: Some("newsecret1".into()),
        default_topic_perm: Some("PUB".into()),
        ..Default::default()
    };
    let create_req = request(RequestCode::UPDATE_AND_CREATE_ACL_CONFIG, &create);
    assert_refused(
        &invoke(&producer, &addr, create_req.clone()).await,
        "Need admin permission for request code=50",
    );
    let v0 = header::<GetBrokerAclConfigResponseHeader>(
        &invoke(
            &admin,
            &addr,
            RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_ACL_INFO, Default::default()),
        )
        .await,
    );
    assert_eq!(invoke(&admin, &addr, create_req).await.code, 0);
    let newuser = signed("newuser1", "newsecret1");
    assert_eq!(invoke(&newuser, &addr, msg("TopicB", "new")).await.code, 0);
    let body = invoke(
        &admin,
        &addr,
        RemotingCommand::request(
            RequestCode::GET_BROKER_CLUSTER_ACL_CONFIG,
            Default::default(),
        ),
    )
    .await;
    let config: AclConfigBody = serde_json::from_slice(&body.body).unwrap();
    assert!(
        config
            .plain_access_configs
            .iter()
            .any(|c| c.access_key == "newuser1" && c.default_topic_perm.as_deref() == Some("PUB"))
    );
    let v1 = header::<GetBrokerAclConfigResponseHeader>(
        &invoke(
            &admin,
            &addr,
            RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_ACL_INFO, Default::default()),
        )
        .await,
    );
    assert_ne!(
        v0.version, v1.version,
        "the ACL data version moves on a change"
    );
    // An invalid account is refused and the file is left as it was.
    let bad = CreateAccessConfigRequestHeader {
        access_key: "short".into(),
        secret_key: Some("x".into()),
        ..Default::default()
    };
    let r = invoke(
        &admin,
        &addr,
        request(RequestCode::UPDATE_AND_CREATE_ACL_CONFIG, &bad),
    )
    .await;
    assert_eq!(r.code, ResponseCode::UPDATE_AND_CREATE_ACL_CONFIG_FAILED.0);
    assert_eq!(
        invoke(&newuser, &addr, msg("TopicB", "still")).await.code,
        0
    );
    let del = DeleteAccessConfigRequestHeader {
        access_key: "newuser1".into(),
    };
    assert_eq!(
        invoke(&admin, &addr, request(RequestCode::DELETE_ACL_CONFIG, &del))
            .await
            .code,
        0
    );
    assert_refused(
        &invoke(&newuser, &addr, msg("TopicB", "gone")).await,
        "No acl config for newuser1",
    );
    b.shutdown().await;
}

#[tokio::test]
async fn white_lists_let_addresses_in() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{ACL}  - accessKey: trusted1
    secretKey: trustedsecret
    whiteRemoteAddress: 127.0.0.*
    defaultTopicPerm: DENY
"
    );
    let (b, addr, _file) = start(dir.path(), &text).await;
    let admin = signed("adminuser", "adminsecret1");
    let anonymous = RemotingClient::new(ClientConfig::default());
    assert_eq!(invoke(&admin, &addr, create_topic("TopicA")).await.code, 0);

    // Per-account white list: the account is trusted from 127.0.0.x without a valid signature
    // (Java's rule), other accounts still need theirs.
    let trusted_wrong_secret = signed("trusted1", "not-the-secret");
    assert_eq!(
        invoke(&trusted_wrong_secret, &addr, msg("TopicA", "w"))
            .await
            .code,
        0
    );
    assert_refused(
        &invoke(&anonymous, &addr, msg("TopicA", "x")).await,
        "No accessKey",
    );

    // Global white list (set by the admin code): anyone from 127.0.0.1 passes.
    let set = UpdateGlobalWhiteAddrsConfigRequestHeader {
        global_white_addrs: "10.0.0.1,127.0.0.1".into(),
        acl_file_full_path: None,
    };
    let r = invoke(
        &admin,
        &addr,
        request(RequestCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, &set),
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(invoke(&anonymous, &addr, msg("TopicA", "g")).await.code, 0);
    // A list without this address: refused again.
    let set = UpdateGlobalWhiteAddrsConfigRequestHeader {
        global_white_addrs: "10.0.0.*".into(),
        acl_file_full_path: None,
    };
    let r = invoke(
        &admin,
        &addr,
        request(RequestCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, &set),
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_refused(
        &invoke(&anonymous, &addr, msg("TopicA", "x")).await,
        "No accessKey",
    );
    b.shutdown().await;
}

#[tokio::test]
async fn hot_reload_keeps_previous_rules_on_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, file) = start(dir.path(), ACL).await;
    let admin = signed("adminuser", "adminsecret1");
    assert_eq!(invoke(&admin, &addr, create_topic("TopicA")).await.code, 0);
    let later = signed("lateruser", "latersecret");

    // A valid change is picked up.
    let added = format!(
        "{ACL}  - accessKey: lateruser
    secretKey: latersecret
    defaultTopicPerm: PUB
"
    );
    std::fs::write(&file, &added).unwrap();
    assert!(
        eventually(|| {
            let later = later.clone();
            let addr = addr.clone();
            async move { invoke(&later, &addr, msg("TopicA", "l")).await.code == 0 }
        })
        .await,
        "the added account was never accepted"
    );

    // A broken file: the previous rules stay (both accounts still work, and what the broken
    // file would add is not there).
    let broken = format!("{added}  - accessKey: [unclosed\n");
    std::fs::write(&file, broken).unwrap();
    // Let the watcher see it (several periods).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(invoke(&later, &addr, msg("TopicA", "l2")).await.code, 0);
    assert_eq!(invoke(&admin, &addr, create_topic("TopicC")).await.code, 0);
    // An invalid permission word is just as broken.
    std::fs::write(
        &file,
        ACL.replace("defaultTopicPerm: DENY", "defaultTopicPerm: EVERYTHING"),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(invoke(&later, &addr, msg("TopicA", "l3")).await.code, 0);

    // Fixed again without lateruser: it is gone.
    std::fs::write(&file, ACL).unwrap();
    assert!(
        eventually(|| {
            let later = later.clone();
            let addr = addr.clone();
            async move {
                invoke(&later, &addr, msg("TopicA", "l4")).await.code
                    == ResponseCode::NO_PERMISSION.0
            }
        })
        .await,
        "the removed account stayed"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_broken_or_missing_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(&dir.path().join("store"), None);
    cfg.acl_enable = true;
    cfg.acl_plain_file = Some(dir.path().join("absent.yml").display().to_string());
    let err = Broker::start(cfg.clone())
        .await
        .err()
        .expect("started without a file");
    assert!(err.to_string().contains("absent.yml"), "{err}");

    let file = dir.path().join("plain_acl.yml");
    std::fs::write(&file, "accounts:\n  - accessKey: abc\n    secretKey: 1\n").unwrap();
    cfg.acl_plain_file = Some(file.display().to_string());
    let err = Broker::start(cfg)
        .await
        .err()
        .expect("started on a broken file");
    assert!(err.to_string().contains("longer than 6"), "{err}");
}

/// Sends `req` as a JSON frame whose numeric and boolean header values are JSON numbers and
/// booleans (as ali-ons and the C++ client write them) and returns the response code.
async fn send_as_json_numbers(addr: &str, req: &RemotingCommand) -> i64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut ext = serde_json::Map::new();
    for (k, v) in req.ext_fields.iter() {
        let value = match v.parse::<i64>() {
            Ok(n) if !v.starts_with('0') || v == "0" => serde_json::Value::from(n),
            _ => match v {
                "true" | "false" => serde_json::Value::from(v == "true"),
                _ => serde_json::Value::from(v),
            },
        };
        ext.insert(k.to_string(), value);
    }
    let header = serde_json::json!({
        "code": req.code, "language": "JAVA", "version": 0, "opaque": 7, "flag": 0,
        "extFields": ext,
    });
    let header = serde_json::to_vec(&header).unwrap();
    let mut frame = Vec::new();
    frame.extend_from_slice(&((4 + header.len() + req.body.len()) as u32).to_be_bytes());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(&req.body);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&frame).await.unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut rest).await.unwrap();
    let hlen = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
    let resp: serde_json::Value = serde_json::from_slice(&rest[4..4 + hlen]).unwrap();
    resp["code"].as_i64().unwrap()
}

/// The signed content is what the C++ client and ali-ons send: header values written as JSON
/// numbers and booleans are signed as their text; the same frame with a number changed is
/// refused.
#[tokio::test]
async fn json_number_header_values_are_signed_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, _file) = start(dir.path(), ACL).await;
    let admin = signed("adminuser", "adminsecret1");
    assert_eq!(invoke(&admin, &addr, create_topic("TopicA")).await.code, 0);
    let mut req = msg("TopicA", "numbers");
    SessionCredentials::new("producer1", "prodsecret1").sign(&mut req);
    let mut tampered = req.clone();
    tampered.ext_fields.insert("f", "1"); // sysFlag, a JSON number on the wire
    assert_eq!(
        send_as_json_numbers(&addr, &tampered).await,
        i64::from(ResponseCode::NO_PERMISSION.0)
    );
    assert_eq!(send_as_json_numbers(&addr, &req).await, 0);
    b.shutdown().await;
}
