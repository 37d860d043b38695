//! The real name server in-process on 127.0.0.1:0, driven by the project's client.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::Duration;

use common::*;
use namesrv::NameServer;
use remoting::body::cluster::ClusterInfo;
use remoting::body::kv::KVTable;
use remoting::body::topic::{DataVersion, TopicList, perm};
use remoting::header::namesrv::*;
use remoting::{ClientConfig, CommandHeader, ExtFields, RemotingClient, RequestCode, ResponseCode};

#[tokio::test]
async fn two_clusters_with_master_slave_groups() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start(dir.path()).await;
    let addr = ns.local_addr().to_string();

    let a0 = FakeBroker::new(&addr, "C1", "broker-a", 0, "127.0.0.1:20911")
        .with_topic("Shared", 4)
        .with_topic("OnlyA", 2);
    let a1 =
        FakeBroker::new(&addr, "C1", "broker-a", 1, "127.0.0.1:21911").with_topic("Ignored", 8);
    let b0 = FakeBroker::new(&addr, "C2", "broker-b", 0, "127.0.0.1:30911").with_topic("Shared", 8);
    let b1 = FakeBroker::new(&addr, "C2", "broker-b", 1, "127.0.0.1:31911");

    // A slave registering before its master learns nothing; after, it learns the master.
    let early = a1.register().await;
    assert_eq!(early.master_addr, None);
    assert_eq!(a0.register().await, RegisterBrokerResponseHeader::default());
    let late = a1.register().await;
    assert_eq!(late.master_addr.as_deref(), Some("127.0.0.1:20911"));
    assert_eq!(late.ha_server_addr.as_deref(), Some("127.0.0.1:20911-ha"));
    b0.register().await;
    let rb1 = b1.register().await;
    assert_eq!(rb1.master_addr.as_deref(), Some("127.0.0.1:30911"));

    let client = RemotingClient::new(ClientConfig::default());
    let shared = route(&client, &addr, "Shared").await.unwrap();
    assert_eq!(shared.queue_datas.len(), 2);
    let qa = shared
        .queue_datas
        .iter()
        .find(|q| q.broker_name == "broker-a")
        .unwrap();
    assert_eq!(
        (qa.read_queue_nums, qa.write_queue_nums, qa.perm),
        (4, 4, 6)
    );
    let qb = shared
        .queue_datas
        .iter()
        .find(|q| q.broker_name == "broker-b")
        .unwrap();
    assert_eq!(qb.write_queue_nums, 8);
    let ba = shared
        .broker_datas
        .iter()
        .find(|b| b.broker_name == "broker-a")
        .unwrap();
    assert_eq!(ba.cluster, "C1");
    assert_eq!(ba.broker_addrs[&0], "127.0.0.1:20911");
    assert_eq!(ba.broker_addrs[&1], "127.0.0.1:21911");

    // Slave topics are not routed; unknown topics get the issue's wording.
    let err = route(&client, &addr, "Ignored").await.unwrap_err();
    assert_eq!(err.0, ResponseCode::TOPIC_NOT_EXIST);
    assert_eq!(err.1, "No route info of this topic: Ignored");

    let resp = call(
        &client,
        &addr,
        RequestCode::GET_BROKER_CLUSTER_INFO,
        ExtFields::new(),
    )
    .await;
    let info = ClusterInfo::decode(&resp.body).unwrap();
    assert_eq!(
        info.cluster_addr_table["C1"].iter().collect::<Vec<_>>(),
        ["broker-a"]
    );
    assert_eq!(
        info.cluster_addr_table["C2"].iter().collect::<Vec<_>>(),
        ["broker-b"]
    );
    assert_eq!(info.broker_addr_table["broker-b"].broker_addrs.len(), 2);
    // Standard JSON with quoted ids and enableActingMaster (spec §14).
    let text = String::from_utf8(resp.body.to_vec()).unwrap();
    assert!(
        text.contains(r#""brokerAddrs":{"0":"127.0.0.1:20911","1":"127.0.0.1:21911"}"#),
        "{text}"
    );
    assert!(text.contains(r#""enableActingMaster":false"#));

    let list = |code, ext| {
        let client = client.clone();
        let addr = addr.clone();
        async move {
            let resp = call(&client, &addr, code, ext).await;
            assert_eq!(resp.code, 0, "{:?}", resp.remark);
            TopicList::decode(&resp.body)
                .unwrap()
                .topic_list
                .into_iter()
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            ExtFields::new()
        )
        .await,
        ["OnlyA", "Shared"]
    );
    let by_cluster = |c: &str| GetTopicsByClusterRequestHeader { cluster: c.into() }.to_ext();
    assert_eq!(
        list(RequestCode::GET_TOPICS_BY_CLUSTER, by_cluster("C1")).await,
        ["OnlyA", "Shared"]
    );
    assert_eq!(
        list(RequestCode::GET_TOPICS_BY_CLUSTER, by_cluster("C2")).await,
        ["Shared"]
    );
    let sys = list(RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_NS, ExtFields::new()).await;
    assert_eq!(sys, ["C1", "C2", "broker-a", "broker-b"]);
    assert!(
        list(RequestCode::GET_UNIT_TOPIC_LIST, ExtFields::new())
            .await
            .is_empty()
    );

    // Write permission off and on again.
    let wipe = WipeWritePermOfBrokerRequestHeader {
        broker_name: "broker-a".into(),
    };
    let resp = call(
        &client,
        &addr,
        RequestCode::WIPE_WRITE_PERM_OF_BROKER,
        wipe.to_ext(),
    )
    .await;
    let h: WipeWritePermOfBrokerResponseHeader = resp.ext_fields.decode().unwrap();
    assert_eq!(h.wipe_topic_count, 2);
    let shared = route(&client, &addr, "Shared").await.unwrap();
    let qa = shared
        .queue_datas
        .iter()
        .find(|q| q.broker_name == "broker-a")
        .unwrap();
    assert!(!perm::is_writeable(qa.perm) && perm::is_readable(qa.perm));
    let add = AddWritePermOfBrokerRequestHeader {
        broker_name: "broker-a".into(),
    };
    let resp = call(
        &client,
        &addr,
        RequestCode::ADD_WRITE_PERM_OF_BROKER,
        add.to_ext(),
    )
    .await;
    let h: AddWritePermOfBrokerResponseHeader = resp.ext_fields.decode().unwrap();
    assert_eq!(h.add_topic_count, 2);

    // Delete a topic from one cluster only, then entirely.
    let del = DeleteTopicFromNamesrvRequestHeader {
        topic: "Shared".into(),
        cluster_name: Some("C2".into()),
    };
    assert_eq!(
        call(
            &client,
            &addr,
            RequestCode::DELETE_TOPIC_IN_NAMESRV,
            del.to_ext()
        )
        .await
        .code,
        0
    );
    assert_eq!(
        route(&client, &addr, "Shared")
            .await
            .unwrap()
            .queue_datas
            .len(),
        1
    );
    let del = DeleteTopicFromNamesrvRequestHeader {
        topic: "Shared".into(),
        cluster_name: None,
    };
    call(
        &client,
        &addr,
        RequestCode::DELETE_TOPIC_IN_NAMESRV,
        del.to_ext(),
    )
    .await;
    assert!(route(&client, &addr, "Shared").await.is_err());

    // UNREGISTER_BROKER of the master keeps the group (slave left); of both removes it.
    let unreg = |b: &FakeBroker| UnRegisterBrokerRequestHeader {
        broker_name: b.name.clone(),
        broker_addr: b.addr.clone(),
        cluster_name: b.cluster.clone(),
        broker_id: b.id,
    };
    call(
        &client,
        &addr,
        RequestCode::UNREGISTER_BROKER,
        unreg(&a0).to_ext(),
    )
    .await;
    let only_a = route(&client, &addr, "OnlyA").await.unwrap();
    assert_eq!(only_a.broker_datas[0].master_addr(), None);
    call(
        &client,
        &addr,
        RequestCode::UNREGISTER_BROKER,
        unreg(&a1).to_ext(),
    )
    .await;
    assert!(route(&client, &addr, "OnlyA").await.is_err());
    let resp = call(
        &client,
        &addr,
        RequestCode::GET_BROKER_CLUSTER_INFO,
        ExtFields::new(),
    )
    .await;
    let info = ClusterInfo::decode(&resp.body).unwrap();
    assert!(!info.cluster_addr_table.contains_key("C1"));
    assert!(info.cluster_addr_table.contains_key("C2"));
    ns.shutdown().await;
}

#[tokio::test]
async fn a_closed_broker_connection_removes_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A long expiry: only the connection close can remove the broker within the test.
    let mut config = test_config(dir.path());
    config.broker_channel_expired_time = Duration::from_secs(600);
    let ns = NameServer::start(config).await.unwrap();
    let addr = ns.local_addr().to_string();
    let master = FakeBroker::new(&addr, "C", "b", 0, "127.0.0.1:40911").with_topic("T", 4);
    let slave = FakeBroker::new(&addr, "C", "b", 1, "127.0.0.1:41911");
    master.register().await;
    slave.register().await;
    let client = RemotingClient::new(ClientConfig::default());
    assert_eq!(
        route(&client, &addr, "T").await.unwrap().broker_datas[0]
            .broker_addrs
            .len(),
        2
    );

    master.client.shutdown();
    eventually("master gone from the route", || async {
        route(&client, &addr, "T")
            .await
            .is_ok_and(|r| r.broker_datas[0].master_addr().is_none())
    })
    .await;
    slave.client.shutdown();
    eventually("topic gone with the last broker", || async {
        route(&client, &addr, "T").await.is_err()
    })
    .await;
    let resp = call(
        &client,
        &addr,
        RequestCode::GET_BROKER_CLUSTER_INFO,
        ExtFields::new(),
    )
    .await;
    assert!(
        ClusterInfo::decode(&resp.body)
            .unwrap()
            .broker_addr_table
            .is_empty()
    );
    ns.shutdown().await;
}

#[tokio::test]
async fn a_silent_broker_expires() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.broker_channel_expired_time = Duration::from_millis(300);
    config.scan_not_active_broker_interval = Duration::from_millis(50);
    let ns = NameServer::start(config).await.unwrap();
    let addr = ns.local_addr().to_string();
    // The broker keeps its connection open but never registers again.
    let broker = FakeBroker::new(&addr, "C", "silent", 0, "127.0.0.1:50911").with_topic("S", 1);
    broker.register().await;
    let broker_conn = broker.client.connection(&addr).await.unwrap();
    let client = RemotingClient::new(ClientConfig::default());
    assert!(route(&client, &addr, "S").await.is_ok());
    eventually("silent broker expired", || async {
        route(&client, &addr, "S").await.is_err()
    })
    .await;
    assert_eq!(ns.routes().live_broker_count(), 0);
    // The name server closed the expired broker's connection, as Java does.
    eventually("server closed the expired broker's connection", || async {
        broker_conn.is_closed()
    })
    .await;
    ns.shutdown().await;
}

#[tokio::test]
async fn kv_config_persists_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start(dir.path()).await;
    let addr = ns.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());
    for (k, v) in [("a", "1"), ("b", "2")] {
        let put = PutKVConfigRequestHeader {
            namespace: "ns".into(),
            key: k.into(),
            value: v.into(),
        };
        assert_eq!(
            call(&client, &addr, RequestCode::PUT_KV_CONFIG, put.to_ext())
                .await
                .code,
            0
        );
    }
    let del = DeleteKVConfigRequestHeader {
        namespace: "ns".into(),
        key: "a".into(),
    };
    assert_eq!(
        call(&client, &addr, RequestCode::DELETE_KV_CONFIG, del.to_ext())
            .await
            .code,
        0
    );
    client.shutdown();
    ns.shutdown().await;

    let ns = start(dir.path()).await;
    let addr = ns.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());
    let get = |k: &str| {
        GetKVConfigRequestHeader {
            namespace: "ns".into(),
            key: k.into(),
        }
        .to_ext()
    };
    let resp = call(&client, &addr, RequestCode::GET_KV_CONFIG, get("b")).await;
    let h: GetKVConfigResponseHeader = resp.ext_fields.decode().unwrap();
    assert_eq!(h.value.as_deref(), Some("2"));
    let resp = call(&client, &addr, RequestCode::GET_KV_CONFIG, get("a")).await;
    assert_eq!(resp.response_code(), ResponseCode::QUERY_NOT_FOUND);
    let list = GetKVListByNamespaceRequestHeader {
        namespace: "ns".into(),
    };
    let resp = call(
        &client,
        &addr,
        RequestCode::GET_KVLIST_BY_NAMESPACE,
        list.to_ext(),
    )
    .await;
    assert_eq!(KVTable::decode(&resp.body).unwrap().table.len(), 1);
    let none = GetKVListByNamespaceRequestHeader {
        namespace: "empty".into(),
    };
    let resp = call(
        &client,
        &addr,
        RequestCode::GET_KVLIST_BY_NAMESPACE,
        none.to_ext(),
    )
    .await;
    assert_eq!(resp.response_code(), ResponseCode::QUERY_NOT_FOUND);
    let text = std::fs::read_to_string(dir.path().join("kvConfig.json")).unwrap();
    assert_eq!(text, r#"{"configTable":{"ns":{"b":"2"}}}"#);
    ns.shutdown().await;
}

#[tokio::test]
async fn order_topic_config_flows_to_registrations_and_routes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.order_message_enable = true;
    let ns = NameServer::start(config).await.unwrap();
    let addr = ns.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());
    let put = PutKVConfigRequestHeader {
        namespace: "ORDER_TOPIC_CONFIG".into(),
        key: "O".into(),
        value: "b:4".into(),
    };
    call(&client, &addr, RequestCode::PUT_KV_CONFIG, put.to_ext()).await;
    let broker = FakeBroker::new(&addr, "C", "b", 0, "127.0.0.1:60911").with_topic("O", 4);
    let resp = broker
        .client
        .invoke_ok(&addr, broker.register_request(false), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(KVTable::decode(&resp.body).unwrap().table["O"], "b:4");
    let r = route(&client, &addr, "O").await.unwrap();
    assert_eq!(r.order_topic_conf.as_deref(), Some("b:4"));
    ns.shutdown().await;
}

#[tokio::test]
async fn compressed_registration_crc_and_data_version() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start(dir.path()).await;
    let addr = ns.local_addr().to_string();
    let mut broker = FakeBroker::new(&addr, "C", "z", 0, "127.0.0.1:61911")
        .with_topic("Z1", 3)
        .with_topic("Z2", 5);
    broker.register_with(true).await;
    let client = RemotingClient::new(ClientConfig::default());
    assert_eq!(
        route(&client, &addr, "Z2").await.unwrap().queue_datas[0].read_queue_nums,
        5
    );

    // A body that does not match its CRC is refused.
    let mut bad = broker.register_request(true);
    let crc = RegisterBrokerRequestHeader::from_ext(&bad.ext_fields)
        .unwrap()
        .body_crc32
        .unwrap();
    bad.ext_fields.insert("bodyCrc32", (crc ^ 1).to_string());
    let resp = broker.client.invoke(&addr, bad, TIMEOUT).await.unwrap();
    assert_eq!(resp.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(resp.remark.as_deref(), Some("crc32 not match"));
    // Garbage that claims to be compressed is an error answer, not a dropped connection.
    let mut garbage = broker
        .register_request(true)
        .with_body(&b"not zlib at all"[..]);
    garbage.ext_fields.insert("bodyCrc32", "0");
    let resp = broker.client.invoke(&addr, garbage, TIMEOUT).await.unwrap();
    assert_eq!(resp.response_code(), ResponseCode::SYSTEM_ERROR);

    // QUERY_DATA_VERSION: same version → unchanged; a newer one → changed.
    let q = QueryDataVersionRequestHeader {
        broker_name: "z".into(),
        broker_addr: broker.addr.clone(),
        cluster_name: "C".into(),
        broker_id: 0,
    };
    let ask = |v: &DataVersion| {
        remoting::RemotingCommand::request(RequestCode::QUERY_DATA_VERSION, q.to_ext())
            .with_body(v.encode().unwrap())
    };
    let resp = client
        .invoke_ok(&addr, ask(&broker.version), TIMEOUT)
        .await
        .unwrap();
    let h: QueryDataVersionResponseHeader = resp.ext_fields.decode().unwrap();
    assert!(!h.changed);
    assert_eq!(DataVersion::decode(&resp.body).unwrap(), broker.version);
    let mut newer = broker.version.clone();
    newer.next_version();
    let resp = client.invoke_ok(&addr, ask(&newer), TIMEOUT).await.unwrap();
    assert!(
        resp.ext_fields
            .decode::<QueryDataVersionResponseHeader>()
            .unwrap()
            .changed
    );

    // A new version with a new topic re-reads the topics.
    broker.version = newer;
    broker = broker.with_topic("Z3", 1);
    broker.register_with(true).await;
    assert!(route(&client, &addr, "Z3").await.is_ok());
    ns.shutdown().await;
}

#[tokio::test]
async fn config_requests_and_unknown_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start(dir.path()).await;
    let addr = ns.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());
    let resp = call(
        &client,
        &addr,
        RequestCode::GET_NAMESRV_CONFIG,
        ExtFields::new(),
    )
    .await;
    let props = remoting::properties::parse(std::str::from_utf8(&resp.body).unwrap());
    assert_eq!(props["listenPort"], "0");
    assert!(props["kvConfigPath"].ends_with("kvConfig.json"));

    let update = |body: &str| {
        remoting::RemotingCommand::request(RequestCode::UPDATE_NAMESRV_CONFIG, ExtFields::new())
            .with_body(body.as_bytes().to_vec())
    };
    let resp = client
        .invoke(&addr, update("kvConfigPath=/tmp/evil.json"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(resp.response_code(), ResponseCode::NO_PERMISSION);
    assert!(resp.remark_str().contains("kvConfigPath"));
    let resp = client
        .invoke(&addr, update("orderMessageEnable=true"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(resp.code, 0);
    assert!(ns.config().order_message_enable);
    assert_eq!(ns.config().kv_config_path, dir.path().join("kvConfig.json"));

    let resp = call(
        &client,
        &addr,
        remoting::RequestCode(9999),
        ExtFields::new(),
    )
    .await;
    assert_eq!(
        resp.response_code(),
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED
    );
    // A broker-side code is not served here either, and a missing required header field is an
    // error answer with a remark.
    let resp = call(
        &client,
        &addr,
        RequestCode::SEND_MESSAGE_V2,
        ExtFields::new(),
    )
    .await;
    assert_eq!(
        resp.response_code(),
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED
    );
    let resp = call(
        &client,
        &addr,
        RequestCode::GET_ROUTEINFO_BY_TOPIC,
        ExtFields::new(),
    )
    .await;
    assert_eq!(resp.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(resp.remark_str().contains("topic"));
    ns.shutdown().await;
}

#[tokio::test]
async fn name_servers_side_by_side_share_nothing() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let ns1 = start(d1.path()).await;
    let ns2 = start(d2.path()).await;
    let (a1, a2) = (ns1.local_addr().to_string(), ns2.local_addr().to_string());
    // Kept alive: dropping it would close its connection and unregister it.
    let broker = FakeBroker::new(&a1, "C", "b", 0, "127.0.0.1:62911").with_topic("One", 1);
    broker.register().await;
    let client = RemotingClient::new(ClientConfig::default());
    assert!(route(&client, &a1, "One").await.is_ok());
    assert!(route(&client, &a2, "One").await.is_err());
    ns1.shutdown().await;
    // ns2 is unaffected by ns1's shutdown.
    assert!(route(&client, &a2, "One").await.is_err());
    ns2.shutdown().await;
}
