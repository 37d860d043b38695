//! Real name servers and brokers started in-process on 127.0.0.1:0, with small files, for the
//! operator's tests against real servers (admin, declared resources, failover controller).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use broker::config::BrokerConfig;
use namesrv::{NameServer, NameServerHandle, NamesrvConfig};

/// A name server on 127.0.0.1:0 keeping its files in `dir`; `tune` changes its config first.
pub async fn start_namesrv_with(
    dir: &Path,
    tune: impl FnOnce(&mut NamesrvConfig),
) -> NameServerHandle {
    let mut config = NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.join("kvConfig.json"),
        config_store_path: dir.join("namesrv.properties"),
        ..Default::default()
    };
    tune(&mut config);
    NameServer::start(config).await.unwrap()
}

/// A name server with the default settings.
pub async fn start_namesrv(dir: &Path) -> NameServerHandle {
    start_namesrv_with(dir, |_| {}).await
}

/// The config of a broker `name` on 127.0.0.1:0 with its store under `store` and small files
/// (4 MiB commit-log segments); the caller sets role, id and timings.
pub fn broker_config(store: &Path, name: &str, namesrv: Option<String>) -> BrokerConfig {
    BrokerConfig {
        broker_name: name.into(),
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: namesrv,
        store_path_root_dir: store.display().to_string(),
        mapped_file_size_commit_log: 4 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        max_message_size: 64 * 1024,
        ..Default::default()
    }
}
