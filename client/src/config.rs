//! Settings shared by every producer and consumer of one client instance (Java `ClientConfig`).

use std::net::IpAddr;
use std::time::Duration;

/// Client settings. `Default` gives Java's defaults with an empty name server list.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Name server addresses, `host:port` separated by `;` (Java `namesrvAddr`).
    pub namesrv_addr: String,
    /// Instance name, the part of the client id after `@`. `None`: the process id, made unique
    /// within the process (`pid`, `pid#2`, ...) so that several clients in one process (tests)
    /// are distinct group members.
    pub instance_name: Option<String>,
    /// The IP put in the client id and in message ids. `None`: the first non-loopback IPv4 of
    /// this host, else 127.0.0.1.
    pub client_ip: Option<IpAddr>,
    /// How often topic routes are refreshed from the name server (Java 30 s).
    pub poll_name_server_interval: Duration,
    /// How often every known broker gets a heartbeat (Java 30 s).
    pub heartbeat_broker_interval: Duration,
    /// How often consumed offsets are committed to brokers (Java 5 s).
    pub persist_consumer_offset_interval: Duration,
    /// Timeout of ordinary requests (route, heartbeat, offsets, admin).
    pub rpc_timeout: Duration,
    /// Send through the brokers' VIP channel, `ip:(port - 2)` of the registered address (Java
    /// `vipChannelEnabled`; default false as in Java 4.9, true in early 4.x clients).
    pub vip_channel_enabled: bool,
    /// How long a new connection to a broker or name server may take (Java
    /// `clientConnectTimeout` is 3 s). Shorter than a send's 3 s budget on purpose: an address
    /// that vanished (a replaced pod's old IP) does not answer at all, and a connect that used
    /// the whole budget would leave no time to retry on another broker.
    pub connect_timeout: Duration,
    /// Plain-ACL credentials (Java `AclClientRPCHook`): when set, every request this client
    /// sends is signed with them. `None` sends unsigned requests.
    pub credentials: Option<remoting::acl::SessionCredentials>,
    /// TLS (Java `tls.enable`): every connection (name servers, brokers) handshakes with it.
    pub tls: Option<remoting::tls::TlsClient>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            namesrv_addr: String::new(),
            instance_name: None,
            client_ip: None,
            poll_name_server_interval: Duration::from_secs(30),
            heartbeat_broker_interval: Duration::from_secs(30),
            persist_consumer_offset_interval: Duration::from_secs(5),
            rpc_timeout: Duration::from_secs(3),
            vip_channel_enabled: false,
            connect_timeout: Duration::from_secs(1),
            credentials: None,
            tls: None,
        }
    }
}

impl ClientConfig {
    /// Default settings with this name server list.
    pub fn new(namesrv_addr: impl Into<String>) -> Self {
        ClientConfig {
            namesrv_addr: namesrv_addr.into(),
            ..Default::default()
        }
    }

    /// The name server addresses, trimmed, empty entries dropped.
    pub fn namesrv_list(&self) -> Vec<String> {
        split_namesrv_addr(&self.namesrv_addr)
    }
}

/// Splits a `;`-separated name server list.
pub fn split_namesrv_addr(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namesrv_list_splits_and_trims() {
        let c = ClientConfig::new(" 127.0.0.1:9876; 127.0.0.2:9876 ;;");
        assert_eq!(c.namesrv_list(), vec!["127.0.0.1:9876", "127.0.0.2:9876"]);
        assert!(ClientConfig::default().namesrv_list().is_empty());
    }
}
