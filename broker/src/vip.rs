//! The VIP channel (Java's `fastRemotingServer`): a second listener on listenPort − 2 serving
//! the same requests. Java clients with `vipChannelEnabled=true` (the default of early 4.x
//! clients and of Spring Cloud Alibaba's binder) send to `ip:(port − 2)` of the registered
//! broker address; without this listener their sends fail. Registration advertises the normal
//! address only, as Java does: clients derive the VIP port themselves.

use tokio::net::TcpListener;
use tracing::warn;

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};

/// Binds the VIP listener, or `None` when `fastChannelEnable` is off. An explicit
/// `fastListenPort` that cannot be bound fails the start; the derived port (listenPort − 2) that
/// is taken only logs a warning — Java would refuse to start, but a broker that cannot serve at
/// all is worse than one without the optional channel. With listenPort 0 the channel gets an
/// ephemeral port.
pub async fn bind(config: &BrokerConfig) -> Result<Option<TcpListener>> {
    if !config.fast_channel_enable {
        return Ok(None);
    }
    let port = config.fast_listen_port();
    if port == 0 && config.listen_port != 0 {
        warn!(
            listen_port = config.listen_port,
            "listenPort too small for a VIP channel at listenPort - 2; not served"
        );
        return Ok(None);
    }
    let addr = format!("{}:{}", config.bind_address, port);
    match TcpListener::bind(&addr).await {
        Ok(l) => Ok(Some(l)),
        Err(source) if config.fast_listen_port.is_some() => Err(BrokerError::Bind { addr, source }),
        Err(e) => {
            warn!(addr, error = %e, "VIP channel port taken; clients with vipChannelEnabled cannot reach this broker");
            Ok(None)
        }
    }
}
