//! Declared topics and consumer groups ([`operator::resource::sync`]) against two real masters
//! and a real name server started in-process on 127.0.0.1:0: create, update, drift (a change
//! or deletion made behind the operator's back), the queue-shrink refusal and its annotation,
//! adoption of an existing topic, deletion (brokers and the name server's route), and the
//! scale-out copy of subscription groups.

#![allow(clippy::unwrap_used)]

mod in_process;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use broker::config::{BrokerConfig, BrokerRole};
use broker::{Broker, BrokerHandle};
use namesrv::NameServerHandle;
use operator::admin::{BrokerAdmin, RemotingAdmin};
use operator::group::RocketMQConsumerGroupSpec;
use operator::resource::sync::{self, Declared, Outcome, Target};
use operator::topic::RocketMQTopicSpec;
use remoting::body::topic::TopicConfig;

use in_process::start_namesrv;

async fn start_master(store: &Path, name: &str, namesrv: &str) -> BrokerHandle {
    Broker::start(BrokerConfig {
        broker_id: 0,
        broker_role: BrokerRole::AsyncMaster,
        register_name_server_period: 500,
        ..in_process::broker_config(store, name, Some(namesrv.to_string()))
    })
    .await
    .unwrap()
}

struct Cluster {
    _dir: tempfile::TempDir,
    namesrv: NameServerHandle,
    brokers: Vec<BrokerHandle>,
    admin: RemotingAdmin,
}

impl Cluster {
    async fn start(groups: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let namesrv = start_namesrv(dir.path()).await;
        let ns = namesrv.local_addr().to_string();
        let mut brokers = Vec::new();
        for g in 0..groups {
            brokers.push(
                start_master(&dir.path().join(format!("b{g}")), &format!("b-{g}"), &ns).await,
            );
        }
        Cluster {
            _dir: dir,
            namesrv,
            brokers,
            admin: RemotingAdmin::default(),
        }
    }
    fn targets(&self) -> Vec<Target> {
        self.brokers
            .iter()
            .enumerate()
            .map(|(g, b)| Target {
                broker_name: format!("b-{g}"),
                master: Some(b.local_addr().to_string()),
            })
            .collect()
    }
    fn addr(&self, g: usize) -> String {
        self.brokers[g].local_addr().to_string()
    }
    async fn topic(&self, g: usize, name: &str) -> Option<TopicConfig> {
        self.admin
            .topic_table(&self.addr(g))
            .await
            .unwrap()
            .get(name)
            .cloned()
    }
    async fn stop(self) {
        for b in self.brokers {
            b.shutdown().await;
        }
        self.namesrv.shutdown().await;
    }
}

fn topic(spec: serde_json::Value, allow_shrink: bool) -> Declared {
    let spec: RocketMQTopicSpec = serde_json::from_value(spec).unwrap();
    Declared::Topic {
        config: operator::topic::desired("orders", &spec),
        allow_shrink,
    }
}

fn all(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_created_updated_drift_corrected_shrink_refused_and_deleted() {
    let c = Cluster::start(2).await;
    let targets = c.targets();
    let known = BTreeSet::new();

    // Create on both groups.
    let d = topic(
        serde_json::json!({"clusterRef": "c", "writeQueues": 4, "messageType": "FIFO"}),
        false,
    );
    let r = sync::apply(&c.admin, &d, &targets, &known).await;
    assert_eq!(r.summary(), "2/2");
    assert_eq!(r.with(|o| *o == Outcome::Created), vec!["b-0", "b-1"]);
    assert!(r.adopted().is_empty());
    for g in 0..2 {
        let t = c.topic(g, "orders").await.expect("created");
        assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (4, 4, 6));
        assert_eq!(
            t.attributes["message.type"], "FIFO",
            "attributes reach the broker"
        );
    }
    // Applying again changes nothing.
    let known = all(&["b-0", "b-1"]);
    let r = sync::apply(&c.admin, &d, &targets, &known).await;
    assert_eq!(r.with(|o| *o == Outcome::Unchanged).len(), 2);

    // Update: more queues, attribute removed (messageType unset).
    let grown = topic(
        serde_json::json!({"clusterRef": "c", "writeQueues": 8}),
        false,
    );
    let r = sync::apply(&c.admin, &grown, &targets, &known).await;
    assert_eq!(r.summary(), "2/2");
    assert!(
        matches!(&r.groups["b-0"].0, Outcome::Updated(d) if d.iter().any(|x| x == "writeQueueNums 4 -> 8")),
        "{r:?}"
    );
    let t = c.topic(1, "orders").await.unwrap();
    assert_eq!((t.read_queue_nums, t.write_queue_nums), (8, 8));
    assert!(t.attributes.is_empty(), "{:?}", t.attributes);

    // Drift made behind the operator's back: perm wiped on b-0, topic deleted on b-1.
    let mut drifted = t.clone();
    drifted.perm = 4;
    c.admin.put_topic(&c.addr(0), &drifted, &[]).await.unwrap();
    c.admin.delete_topic(&c.addr(1), "orders").await.unwrap();
    assert!(c.topic(1, "orders").await.is_none());
    let r = sync::apply(&c.admin, &grown, &targets, &known).await;
    assert!(
        matches!(&r.groups["b-0"].0, Outcome::Updated(d) if d == &vec!["perm 4 -> 6".to_string()]),
        "{r:?}"
    );
    assert_eq!(r.groups["b-1"].0, Outcome::Created);
    assert_eq!(c.topic(0, "orders").await.unwrap().perm, 6);
    assert!(c.topic(1, "orders").await.is_some());

    // Shrinking is refused and changes nothing; the annotation allows it.
    let shrunk = topic(
        serde_json::json!({"clusterRef": "c", "writeQueues": 2}),
        false,
    );
    let r = sync::apply(&c.admin, &shrunk, &targets, &known).await;
    assert_eq!(r.summary(), "0/2");
    assert!(
        matches!(&r.groups["b-0"].0, Outcome::Refused(m) if m.contains("8r/8w to 2r/2w")),
        "{r:?}"
    );
    assert_eq!(c.topic(0, "orders").await.unwrap().write_queue_nums, 8);
    let allowed = topic(
        serde_json::json!({"clusterRef": "c", "writeQueues": 2}),
        true,
    );
    let r = sync::apply(&c.admin, &allowed, &targets, &known).await;
    assert_eq!(r.summary(), "2/2");
    assert_eq!(c.topic(0, "orders").await.unwrap().write_queue_nums, 2);

    // A group without a Ready master waits; an unreachable one fails; neither stops the others.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().to_string();
    drop(closed);
    let partial = vec![
        targets[0].clone(),
        Target {
            broker_name: "b-9".into(),
            master: None,
        },
        Target {
            broker_name: "b-8".into(),
            master: Some(dead),
        },
    ];
    let r = sync::apply(&c.admin, &allowed, &partial, &known).await;
    assert_eq!(r.summary(), "1/3");
    assert_eq!(r.groups["b-9"].0, Outcome::Waiting);
    assert!(matches!(r.groups["b-8"].0, Outcome::Failed(_)));

    // Delete: gone from both brokers and from the name server's routes.
    let ns = c.namesrv.local_addr().to_string();
    let routed = async {
        for _ in 0..100 {
            if c.namesrv.routes().topic_route("orders").is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    assert!(routed.await, "the brokers registered the topic");
    sync::delete(&c.admin, &allowed, &targets, &[ns], "DefaultCluster")
        .await
        .unwrap();
    for g in 0..2 {
        assert!(c.topic(g, "orders").await.is_none());
    }
    assert!(c.namesrv.routes().topic_route("orders").is_none());
    // Deleting with a group that has no Ready master fails (the finalizer stays).
    assert!(
        sync::delete(&c.admin, &allowed, &partial[..2], &[], "DefaultCluster")
            .await
            .is_err()
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_topic_is_adopted_and_brought_to_the_spec() {
    let c = Cluster::start(2).await;
    // Made with mqadmin before the resource existed: 4 queues on b-0 only.
    c.admin
        .put_topic(
            &c.addr(0),
            &TopicConfig::with_queues("orders", 4, 4, 6),
            &[],
        )
        .await
        .unwrap();
    let d = topic(
        serde_json::json!({"clusterRef": "c", "writeQueues": 4}),
        false,
    );
    let r = sync::apply(&c.admin, &d, &c.targets(), &BTreeSet::new()).await;
    assert_eq!(r.adopted(), vec!["b-0"]);
    assert_eq!(r.groups["b-0"].0, Outcome::Unchanged);
    assert_eq!(r.groups["b-1"].0, Outcome::Created);
    // An existing topic with more queues than declared is adopted but not shrunk.
    c.admin
        .put_topic(&c.addr(1), &TopicConfig::with_queues("big", 16, 16, 6), &[])
        .await
        .unwrap();
    let spec: RocketMQTopicSpec =
        serde_json::from_value(serde_json::json!({"clusterRef": "c", "writeQueues": 8})).unwrap();
    let big = Declared::Topic {
        config: operator::topic::desired("big", &spec),
        allow_shrink: false,
    };
    let r = sync::apply(&c.admin, &big, &c.targets(), &BTreeSet::new()).await;
    assert_eq!(r.adopted(), vec!["b-1"]);
    assert!(matches!(r.groups["b-1"].0, Outcome::Refused(_)));
    assert_eq!(c.topic(1, "big").await.unwrap().write_queue_nums, 16);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_group_created_updated_drift_adopted_deleted_and_copied() {
    let c = Cluster::start(2).await;
    let spec =
        |v: serde_json::Value| -> RocketMQConsumerGroupSpec { serde_json::from_value(v).unwrap() };
    let d = Declared::Group {
        name: "CID_ORDERS".into(),
        spec: spec(serde_json::json!({"clusterRef": "c",
            "retryPolicy": {"maxReconsumeTimes": 3, "retryQueueNums": 2},
            "consumeBroadcastEnable": false})),
    };
    // Adopted on b-1 (created there by hand), created on b-0.
    let mut existing = remoting::body::admin::SubscriptionGroupConfig::new("CID_ORDERS");
    existing.which_broker_when_consume_slowly = 5;
    c.admin.put_group(&c.addr(1), &existing).await.unwrap();
    let r = sync::apply(&c.admin, &d, &c.targets(), &BTreeSet::new()).await;
    assert_eq!(r.summary(), "2/2");
    assert_eq!(r.groups["b-0"].0, Outcome::Created);
    assert_eq!(r.adopted(), vec!["b-1"]);
    for g in 0..2 {
        let t = c.admin.group_table(&c.addr(g)).await.unwrap();
        let x = &t["CID_ORDERS"];
        assert_eq!((x.retry_max_times, x.retry_queue_nums), (3, 2));
        assert!(!x.consume_broadcast_enable);
    }
    let kept = &c.admin.group_table(&c.addr(1)).await.unwrap()["CID_ORDERS"];
    assert_eq!(
        kept.which_broker_when_consume_slowly, 5,
        "fields the resource does not own are kept"
    );

    // Drift: consumption disabled by hand is re-enabled; a deleted group is re-created.
    let mut off = kept.clone();
    off.consume_enable = false;
    c.admin.put_group(&c.addr(1), &off).await.unwrap();
    c.admin
        .delete_group(&c.addr(0), "CID_ORDERS")
        .await
        .unwrap();
    let known = all(&["b-0", "b-1"]);
    let r = sync::apply(&c.admin, &d, &c.targets(), &known).await;
    assert_eq!(r.groups["b-0"].0, Outcome::Created);
    assert!(
        matches!(&r.groups["b-1"].0, Outcome::Updated(x) if x == &vec!["consumeEnable false -> true".to_string()]),
        "{r:?}"
    );
    assert!(c.admin.group_table(&c.addr(1)).await.unwrap()["CID_ORDERS"].consume_enable);

    // Scale-out: a new master gets the groups the others have.
    let dir = tempfile::tempdir().unwrap();
    let b2 = start_master(dir.path(), "b-2", &c.namesrv.local_addr().to_string()).await;
    let to = b2.local_addr().to_string();
    // The scale-out copy the cluster controller runs (BrokerAdmin::copy_topics) takes the
    // subscription groups along with the topics.
    let copied = c.admin.copy_topics(&c.addr(0), &to, &[]).await.unwrap();
    assert!(copied >= 1);
    assert_eq!(
        c.admin.group_table(&to).await.unwrap()["CID_ORDERS"].retry_max_times,
        3
    );
    assert_eq!(
        c.admin.copy_groups(&c.addr(0), &to).await.unwrap(),
        0,
        "only missing groups"
    );
    b2.shutdown().await;

    // Delete from every group.
    sync::delete(&c.admin, &d, &c.targets(), &[], "DefaultCluster")
        .await
        .unwrap();
    for g in 0..2 {
        assert!(
            !c.admin
                .group_table(&c.addr(g))
                .await
                .unwrap()
                .contains_key("CID_ORDERS")
        );
    }
    c.stop().await;
}
