//! The console's JSON API against a real name server and broker: every page's data equals what
//! `mqadmin` reports, every state change needs the token and does what it says (checked with
//! `mqadmin`), read-only mode refuses, and a dead name server is a readable error.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

const TOKEN: &str = "test-token-1234";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_match_mqadmin_and_changes_need_the_token() {
    let c = Cluster::start().await;
    let s = populate(&c).await;
    let con = start_console(&c.ns_addr, Some(TOKEN), false).await;
    let addr = con.addr();
    let ns = c.ns_addr.clone();

    // Assets and the session.
    let (status, body, head) = http(addr, "GET", "/", None, None).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("RocketMQ console"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy")
    );
    let (status, _, head) = http(addr, "GET", "/app.js", None, None).await;
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript"), "{head}");
    let (status, v) = get_json(addr, "/api/nope").await;
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().contains("/api/nope"));
    let (_, v) = get_json(addr, "/api/session").await;
    assert_eq!(v["readOnly"], false);
    assert_eq!(v["namesrv"], ns);

    // Cluster: the broker as clusterList shows it.
    let (status, v) = get_json(addr, "/api/cluster").await;
    assert_eq!(status, 200, "{v}");
    let b = &v["brokers"][0];
    assert_eq!(b["brokerName"], "broker-a");
    assert_eq!(b["brokerId"], 0);
    assert_eq!(b["role"], "ASYNC_MASTER");
    assert_eq!(b["addr"], c.broker.broker_addr().to_string());
    let list = mqadmin(&ns, &["clusterList"]).await.unwrap();
    let line = list.lines().find(|l| l.contains("broker-a")).unwrap();
    assert_eq!(
        b["version"].as_str().unwrap(),
        line.split_whitespace().nth(4).unwrap(),
        "{line}"
    );
    let ratio = b["diskRatio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    assert!(b["haGap"].is_null(), "no slave, no gap: {b}");
    assert_eq!(v["clusters"], json!(["DefaultCluster"]));

    // Topics: the list and kinds, and per-queue offsets equal to topicStatus.
    let (_, v) = get_json(addr, "/api/topics").await;
    let kinds: std::collections::BTreeMap<String, String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["topic"].as_str().unwrap().to_string(),
                t["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(kinds[&s.topic], "normal");
    assert_eq!(kinds[&s.dlq], "dlq");
    assert_eq!(kinds[&format!("%RETRY%{}", s.group)], "retry");
    assert_eq!(kinds["TBW102"], "system");
    let topic_offsets = |v: &serde_json::Value| {
        v["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                (
                    (
                        q["brokerName"].as_str().unwrap().to_string(),
                        q["queueId"].as_i64().unwrap(),
                    ),
                    (
                        q["minOffset"].as_i64().unwrap(),
                        q["maxOffset"].as_i64().unwrap(),
                    ),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (status, v) = get_json(addr, &format!("/api/topic?topic={}", s.topic)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        topic_offsets(&v),
        mqadmin_topic_offsets(&ns, &s.topic).await
    );
    assert_eq!(v["stored"], s.sent);
    assert_eq!(v["route"][0]["readQueueNums"], 4);
    let (status, v) = get_json(addr, "/api/topic?topic=NoSuchTopic").await;
    assert_eq!(status, 404, "{v}");
    assert!(v["error"].as_str().unwrap().contains("No route"), "{v}");

    // State changes: no token, a wrong token, then the right one.
    let create = json!({"cluster": "DefaultCluster", "topic": "WebT", "readQueueNums": 3, "writeQueueNums": 3});
    let (status, v) = post_json(addr, "/api/topic/update", None, create.clone()).await;
    assert_eq!(status, 401, "{v}");
    let (status, _) = post_json(addr, "/api/topic/update", Some("nope"), create.clone()).await;
    assert_eq!(status, 401);
    assert!(mqadmin(&ns, &["topicRoute", "-t", "WebT"]).await.is_err());
    let (status, v) = post_json(addr, "/api/topic/update", Some(TOKEN), create).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["masters"], json!([c.broker.broker_addr().to_string()]));
    // The broker tells the name servers at its next registration.
    eventually("WebT routed with 3 queues", || async {
        mqadmin(&ns, &["topicRoute", "-t", "WebT"])
            .await
            .is_ok_and(|r| r.contains("\"readQueueNums\": 3"))
    })
    .await;
    let bad = json!({"cluster": "DefaultCluster", "topic": "WebT", "perm": 7});
    let (status, v) = post_json(addr, "/api/topic/update", Some(TOKEN), bad).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("perm"), "{v}");
    let (status, v) = post_json(addr, "/api/topic/update", Some(TOKEN), json!({"oops": 1})).await;
    assert_eq!(status, 400, "{v}");

    // A test message lands where the answer says.
    let (status, v) = post_json(
        addr,
        "/api/topic/send",
        Some(TOKEN),
        json!({"topic": "WebT", "tag": "T", "key": "web-key", "body": "hello web"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "SendOk");
    let q = (
        v["brokerName"].as_str().unwrap().to_string(),
        v["queueId"].as_i64().unwrap(),
    );
    let next = v["queueOffset"].as_i64().unwrap() + 1;
    eventually("the test message in its queue", || async {
        mqadmin_topic_offsets(&ns, "WebT")
            .await
            .get(&q)
            .is_some_and(|(_, max)| *max == next)
    })
    .await;

    // Messages: by key, then the detail with properties and both body views.
    let (status, v) = get_json(addr, "/api/messages?topic=WebT&key=web-key").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    let id = v[0]["offsetMsgId"].as_str().unwrap().to_string();
    let (status, d) = get_json(addr, &format!("/api/message?topic=WebT&id={id}")).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["bodyText"], "hello web");
    assert_eq!(d["bodyHex"], "68 65 6c 6c 6f 20 77 65 62");
    assert_eq!(d["properties"]["KEYS"], "web-key");
    assert_eq!(d["properties"]["TAGS"], "T");
    let by_id = mqadmin(&ns, &["queryMsgById", "-i", &id]).await.unwrap();
    assert!(by_id.contains("hello web"), "{by_id}");
    // By unique id, and by time range (all of ConsoleT's messages are in the last hour).
    let uniq = d["msgId"].as_str().unwrap();
    let (_, v) = get_json(addr, &format!("/api/messages?topic=WebT&id={uniq}")).await;
    assert_eq!(v[0]["offsetMsgId"], id.as_str());
    let (status, v) = get_json(addr, &format!("/api/messages?topic={}", s.topic)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_array().unwrap().len() as i64, s.sent, "{v}");
    let (status, v) = get_json(addr, "/api/message?id=0A0A0A0A00002A9F0000000000000000").await;
    assert_eq!(
        status, 404,
        "an id naming an unknown host is not followed: {v}"
    );

    // Groups: lag per queue and in total equal consumerProgress.
    let (mq_rows, mq_total) = mqadmin_lag(&ns, &s.group).await;
    assert_eq!(mq_total, s.sent - s.consumed);
    let (_, v) = get_json(addr, "/api/groups").await;
    let row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == s.group.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["diff"], mq_total);
    assert_eq!(row["count"], 0);
    let (status, g) = get_json(addr, &format!("/api/group?group={}", s.group)).await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["diffTotal"], mq_total);
    let rows: std::collections::BTreeMap<_, _> = g["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                (
                    q["topic"].as_str().unwrap().to_string(),
                    q["brokerName"].as_str().unwrap().to_string(),
                    q["queueId"].as_i64().unwrap(),
                ),
                q["diff"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, mq_rows);
    assert!(g["membersNote"].as_str().is_some(), "offline group: {g}");

    // An online group: its member and subscription as consumerConnection lists them.
    let online = client::PushConsumer::new(client::PushConsumerConfig::new(
        "CG-online",
        c.ns_addr.clone(),
    ))
    .unwrap();
    online.subscribe(&s.topic, "TagA || TagB").unwrap();
    online.register_listener_concurrently(
        |_: &[client::MessageExt], _: &mut client::ConsumeConcurrentlyContext| {
            client::ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    online.start().await.unwrap();
    eventually("CG-online has a member", || async {
        let (status, g) = get_json(addr, "/api/group?group=CG-online").await;
        status == 200 && g["members"].as_array().is_some_and(|m| m.len() == 1)
    })
    .await;
    let (_, g) = get_json(addr, "/api/group?group=CG-online").await;
    let conn = mqadmin(&ns, &["consumerConnection", "-g", "CG-online"])
        .await
        .unwrap();
    // Java 4.9.7's layout: a `#ClientId #ClientAddr #Language #Version` header, then one
    // unnumbered row per connection.
    let first: Vec<&str> = conn
        .lines()
        .skip_while(|l| !l.starts_with("#ClientId"))
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let m = &g["members"][0];
    assert_eq!(m["clientId"], first[0], "{conn}");
    assert_eq!(m["clientAddr"], first[1], "{conn}");
    assert_eq!(m["language"], first[2], "{conn}");
    assert_eq!(g["subscriptions"][&s.topic], "TagA || TagB");
    let (_, v) = get_json(addr, "/api/groups").await;
    let row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "CG-online")
        .unwrap()
        .clone();
    assert_eq!(row["count"], 1, "{row}");
    assert_eq!(row["consumeType"], "PUSH");
    assert_eq!(row["model"], "CLUSTERING");
    online.shutdown().await;

    // DLQ: found by time range, resent to the group's retry topic.
    let (status, v) = get_json(addr, &format!("/api/messages?topic=%25DLQ%25{}", s.group)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    let dlq_id = v[0]["offsetMsgId"].as_str().unwrap().to_string();
    let retry = format!("%RETRY%{}", s.group);
    let before: i64 = mqadmin_topic_offsets(&ns, &retry)
        .await
        .values()
        .map(|(_, max)| max)
        .sum();
    let (status, r) = post_json(
        addr,
        "/api/message/resend",
        Some(TOKEN),
        json!({"offsetMsgId": dlq_id}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["fromTopic"], s.dlq.as_str());
    assert_eq!(r["toTopic"], retry.as_str());
    // The consume queue is written just after the commit log.
    eventually("resent message in the retry topic", || async {
        let after: i64 = mqadmin_topic_offsets(&ns, &retry)
            .await
            .values()
            .map(|(_, max)| max)
            .sum();
        after == before + 1
    })
    .await;

    // Skip the backlog, then reset to the beginning: consumerProgress follows.
    let (status, v) = post_json(
        addr,
        "/api/group/skip",
        Some(TOKEN),
        json!({"group": s.group}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(mqadmin_lag(&ns, &s.group).await.1, 0);
    let (status, v) = post_json(
        addr,
        "/api/group/reset",
        Some(TOKEN),
        json!({"group": s.group, "topic": s.topic, "timestamp": 0}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["offsets"].as_array().unwrap().len(), 4);
    assert_eq!(mqadmin_lag(&ns, &s.group).await.1, s.sent);

    // Delete: gone from the name server.
    let (status, v) = post_json(
        addr,
        "/api/topic/delete",
        Some(TOKEN),
        json!({"cluster": "DefaultCluster", "topic": "WebT"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let topics = mqadmin(&ns, &["topicList"]).await.unwrap();
    assert!(!topics.lines().any(|l| l.trim() == "WebT"), "{topics}");

    // Charts: the sampler has recorded the cluster.
    eventually("chart samples", || async {
        let (_, v) = get_json(addr, "/api/charts").await;
        v["samples"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x["lag"].get("CG-console").is_some()))
    })
    .await;

    con.shutdown().await;

    // Read-only: reads work, every change is refused even with the token.
    let ro = start_console(&c.ns_addr, Some(TOKEN), true).await;
    let (_, v) = get_json(ro.addr(), "/api/session").await;
    assert_eq!(v["readOnly"], true);
    let (status, v) = post_json(
        ro.addr(),
        "/api/topic/update",
        Some(TOKEN),
        json!({"cluster": "DefaultCluster", "topic": "RoT"}),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("read-only"));
    let (status, _) = get_json(ro.addr(), "/api/cluster").await;
    assert_eq!(status, 200);
    ro.shutdown().await;
    // Without a token file: read-only too.
    let none = start_console(&c.ns_addr, None, false).await;
    let (status, _) = post_json(none.addr(), "/api/login", Some(""), json!({})).await;
    assert_eq!(status, 403);
    none.shutdown().await;

    // The broker goes away: the pages say so in words instead of failing blank.
    let last = start_console(&c.ns_addr, None, false).await;
    let Cluster {
        dir: _dir,
        ns: name_server,
        broker,
        ..
    } = c;
    broker.shutdown().await;
    let (status, v) = get_json(last.addr(), &format!("/api/topic?topic={}", s.topic)).await;
    assert!(status == 404 || status == 502, "{status} {v}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("No route") || msg.contains("cannot reach"),
        "{msg}"
    );
    let (status, v) = get_json(last.addr(), "/api/cluster").await;
    assert_eq!(status, 200, "{v}");
    for b in v["brokers"].as_array().unwrap() {
        assert!(
            b["error"].as_str().is_some(),
            "a gone broker is marked: {b}"
        );
    }
    last.shutdown().await;
    name_server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_name_server_is_a_readable_error() {
    // A port that was free a moment ago and has nobody listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let con = start_console(&dead, Some(TOKEN), false).await;
    for path in ["/api/cluster", "/api/topics", "/api/groups"] {
        let (status, v) = get_json(con.addr(), path).await;
        assert_eq!(status, 502, "{path}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("name server"), "{path}: {msg}");
    }
    // The page itself still loads, so it can show the error.
    let (status, _, _) = http(con.addr(), "GET", "/", None, None).await;
    assert_eq!(status, 200);
    con.shutdown().await;
}
