//! Request and response codes (spec §2).
//!
//! Codes are kept as plain `i32` newtypes rather than closed enums: a server must be able to
//! carry, log and answer codes it does not know (REQUEST_CODE_NOT_SUPPORTED), and a closed enum
//! would force a lossy "unknown" variant on every decode.

use std::fmt;

macro_rules! code_table {
    ($(#[$meta:meta])* $ty:ident { $($(#[$cmeta:meta])* $name:ident = $value:expr,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(pub i32);

        impl $ty {
            $($(#[$cmeta])* pub const $name: $ty = $ty($value);)*

            /// The Java constant name of this code, if it is one we know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => write!(f, "{}({})", name, self.0),
                    None => write!(f, "{}({})", stringify!($ty), self.0),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }

        impl From<i32> for $ty {
            fn from(v: i32) -> Self {
                $ty(v)
            }
        }
    };
}

code_table! {
    /// A request code (spec §2.1).
    RequestCode {
        /// Send with the long-named header.
        SEND_MESSAGE = 10,
        /// Pull messages from a queue.
        PULL_MESSAGE = 11,
        /// Query messages by key through the index.
        QUERY_MESSAGE = 12,
        /// Legacy, unused.
        QUERY_BROKER_OFFSET = 13,
        /// Read a group's committed offset.
        QUERY_CONSUMER_OFFSET = 14,
        /// Commit a group's offset.
        UPDATE_CONSUMER_OFFSET = 15,
        /// Create or update a topic on a broker.
        UPDATE_AND_CREATE_TOPIC = 17,
        /// All topic configs of a broker.
        GET_ALL_TOPIC_CONFIG = 21,
        /// Legacy.
        GET_TOPIC_CONFIG_LIST = 22,
        /// Legacy.
        GET_TOPIC_NAME_LIST = 23,
        /// Update broker config from a properties body.
        UPDATE_BROKER_CONFIG = 25,
        /// Broker config as properties text.
        GET_BROKER_CONFIG = 26,
        /// Force retention now.
        TRIGGER_DELETE_FILES = 27,
        /// Runtime statistics as a KV table.
        GET_BROKER_RUNTIME_INFO = 28,
        /// Queue offset for a timestamp.
        SEARCH_OFFSET_BY_TIMESTAMP = 29,
        /// Max logical offset of a queue.
        GET_MAX_OFFSET = 30,
        /// Min logical offset of a queue.
        GET_MIN_OFFSET = 31,
        /// Store time of the earliest message of a queue.
        GET_EARLIEST_MSG_STORETIME = 32,
        /// A message by commit-log offset.
        VIEW_MESSAGE_BY_ID = 33,
        /// Client heartbeat with producer and consumer data.
        HEART_BEAT = 34,
        /// A client leaves.
        UNREGISTER_CLIENT = 35,
        /// Consume failure: send the message back for retry.
        CONSUMER_SEND_MSG_BACK = 36,
        /// Commit or roll back a half message.
        END_TRANSACTION = 37,
        /// Client ids of a consumer group.
        GET_CONSUMER_LIST_BY_GROUP = 38,
        /// Broker asks a producer for a transaction's state.
        CHECK_TRANSACTION_STATE = 39,
        /// Broker tells consumers to rebalance.
        NOTIFY_CONSUMER_IDS_CHANGED = 40,
        /// Lock queues for orderly consumption.
        LOCK_BATCH_MQ = 41,
        /// Unlock queues.
        UNLOCK_BATCH_MQ = 42,
        /// Slave sync: all consumer offsets.
        GET_ALL_CONSUMER_OFFSET = 43,
        /// Slave sync: delay offsets.
        GET_ALL_DELAY_OFFSET = 45,
        /// Validate a client's subscription config.
        CHECK_CLIENT_CONFIG = 46,
        /// 4.x plain ACL: create or update an account (`CreateAccessConfigRequestHeader`).
        UPDATE_AND_CREATE_ACL_CONFIG = 50,
        /// 4.x plain ACL: delete an account.
        DELETE_ACL_CONFIG = 51,
        /// 4.x plain ACL: the ACL file's version and the broker's identity.
        GET_BROKER_CLUSTER_ACL_INFO = 52,
        /// 4.x plain ACL: replace the global white list.
        UPDATE_GLOBAL_WHITE_ADDRS_CONFIG = 53,
        /// 4.x plain ACL: the whole ACL config (accounts and global white list) as a body.
        GET_BROKER_CLUSTER_ACL_CONFIG = 54,
        /// Name server: put a KV entry.
        PUT_KV_CONFIG = 100,
        /// Name server: get a KV entry.
        GET_KV_CONFIG = 101,
        /// Name server: delete a KV entry.
        DELETE_KV_CONFIG = 102,
        /// Broker registration.
        REGISTER_BROKER = 103,
        /// Broker unregistration.
        UNREGISTER_BROKER = 104,
        /// Route of a topic.
        GET_ROUTEINFO_BY_TOPIC = 105,
        /// All clusters and brokers.
        GET_BROKER_CLUSTER_INFO = 106,
        /// Create or update a subscription group.
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200,
        /// All subscription groups of a broker.
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201,
        /// Per-queue offsets of a topic.
        GET_TOPIC_STATS_INFO = 202,
        /// Consumer connections of a group.
        GET_CONSUMER_CONNECTION_LIST = 203,
        /// Producer connections of a group.
        GET_PRODUCER_CONNECTION_LIST = 204,
        /// Name server: clear write permission of a broker name.
        WIPE_WRITE_PERM_OF_BROKER = 205,
        /// Name server: all topic names.
        GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206,
        /// Delete a subscription group.
        DELETE_SUBSCRIPTIONGROUP = 207,
        /// Consumer progress of a group.
        GET_CONSUME_STATS = 208,
        /// Unused.
        SUSPEND_CONSUMER = 209,
        /// Unused.
        RESUME_CONSUMER = 210,
        /// Reset offsets in consumers.
        RESET_CONSUMER_OFFSET_IN_CONSUMER = 211,
        /// Reset offsets in the broker.
        RESET_CONSUMER_OFFSET_IN_BROKER = 212,
        /// Adjust consumer threads.
        ADJUST_CONSUMER_THREAD_POOL = 213,
        /// Who consumed a message.
        WHO_CONSUME_THE_MESSAGE = 214,
        /// Delete a topic on a broker.
        DELETE_TOPIC_IN_BROKER = 215,
        /// Name server: delete a topic's routes.
        DELETE_TOPIC_IN_NAMESRV = 216,
        /// 5.x: register a topic on the name server.
        REGISTER_TOPIC_IN_NAMESRV = 217,
        /// Name server: KV list of a namespace.
        GET_KVLIST_BY_NAMESPACE = 219,
        /// Broker → client: reset offsets.
        RESET_CONSUMER_CLIENT_OFFSET = 220,
        /// Broker → client: consumer status.
        GET_CONSUMER_STATUS_FROM_CLIENT = 221,
        /// Admin: reset a group's offsets by time.
        INVOKE_BROKER_TO_RESET_OFFSET = 222,
        /// Admin: consumer status through the broker.
        INVOKE_BROKER_TO_GET_CONSUMER_STATUS = 223,
        /// Name server: topics of a cluster.
        GET_TOPICS_BY_CLUSTER = 224,
        /// Which groups consume a topic.
        QUERY_TOPIC_CONSUME_BY_WHO = 300,
        /// Removed filter-server feature.
        REGISTER_FILTER_SERVER = 301,
        /// Removed filter-server feature.
        REGISTER_MESSAGE_FILTER_CLASS = 302,
        /// Consume time span.
        QUERY_CONSUME_TIME_SPAN = 303,
        /// Name server: system topics.
        GET_SYSTEM_TOPIC_LIST_FROM_NS = 304,
        /// Broker: system topics.
        GET_SYSTEM_TOPIC_LIST_FROM_BROKER = 305,
        /// Clean expired consume queues.
        CLEAN_EXPIRED_CONSUMEQUEUE = 306,
        /// Consumer running info.
        GET_CONSUMER_RUNNING_INFO = 307,
        /// Correction offset.
        QUERY_CORRECTION_OFFSET = 308,
        /// Consume a message directly in a client.
        CONSUME_MESSAGE_DIRECTLY = 309,
        /// Send with the one-letter header (Java default).
        SEND_MESSAGE_V2 = 310,
        /// Name server: unit topics.
        GET_UNIT_TOPIC_LIST = 311,
        /// Name server: topics with unit subscriptions.
        GET_HAS_UNIT_SUB_TOPIC_LIST = 312,
        /// Name server: topics with unit subscriptions that are not unit topics.
        GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST = 313,
        /// Clone a group's offsets.
        CLONE_GROUP_OFFSET = 314,
        /// Broker statistics.
        VIEW_BROKER_STATS_DATA = 315,
        /// Remove unused topics.
        CLEAN_UNUSED_TOPIC = 316,
        /// Broker-wide consume stats.
        GET_BROKER_CONSUME_STATS = 317,
        /// Name server: update config.
        UPDATE_NAMESRV_CONFIG = 318,
        /// Name server: get config.
        GET_NAMESRV_CONFIG = 319,
        /// Batch send.
        SEND_BATCH_MESSAGE = 320,
        /// Inspect a consume queue.
        QUERY_CONSUME_QUEUE = 321,
        /// Broker → name server: has my data version changed?
        QUERY_DATA_VERSION = 322,
        /// Resume checking a half message.
        RESUME_CHECK_HALF_MESSAGE = 323,
        /// Request/reply.
        SEND_REPLY_MESSAGE = 324,
        /// Request/reply, V2 header.
        SEND_REPLY_MESSAGE_V2 = 325,
        /// Broker → client: reply.
        PUSH_REPLY_MESSAGE_TO_CLIENT = 326,
        /// Name server: restore write permission of a broker name.
        ADD_WRITE_PERM_OF_BROKER = 327,
        /// All producers.
        GET_ALL_PRODUCER_INFO = 328,
        /// Delete expired commit log.
        DELETE_EXPIRED_COMMITLOG = 329,
        /// 5.x: one topic config.
        GET_TOPIC_CONFIG = 351,
        /// 5.x: one subscription group config.
        GET_SUBSCRIPTIONGROUP_CONFIG = 352,
        /// 5.x lite pull consumer (same as PULL_MESSAGE).
        LITE_PULL_MESSAGE = 361,
    }
}

code_table! {
    /// A response code (spec §2.2).
    ResponseCode {
        /// Success.
        SUCCESS = 0,
        /// Generic failure.
        SYSTEM_ERROR = 1,
        /// Flow control / overload.
        SYSTEM_BUSY = 2,
        /// Unknown request code.
        REQUEST_CODE_NOT_SUPPORTED = 3,
        /// Transaction failed.
        TRANSACTION_FAILED = 4,
        /// Stored, but the sync flush did not finish in time.
        FLUSH_DISK_TIMEOUT = 10,
        /// SYNC_MASTER without an in-sync slave.
        SLAVE_NOT_AVAILABLE = 11,
        /// SYNC_MASTER waited for the slave and timed out.
        FLUSH_SLAVE_TIMEOUT = 12,
        /// Message too large or malformed.
        MESSAGE_ILLEGAL = 13,
        /// Store shut down, disk full, slave, not writable.
        SERVICE_NOT_AVAILABLE = 14,
        /// Version not supported.
        VERSION_NOT_SUPPORTED = 15,
        /// Not readable / writable / forbidden.
        NO_PERMISSION = 16,
        /// Unknown topic.
        TOPIC_NOT_EXIST = 17,
        /// Topic exists.
        TOPIC_EXIST_ALREADY = 18,
        /// No new message.
        PULL_NOT_FOUND = 19,
        /// Filtered out; pull again.
        PULL_RETRY_IMMEDIATELY = 20,
        /// Offset illegal.
        PULL_OFFSET_MOVED = 21,
        /// Query found nothing.
        QUERY_NOT_FOUND = 22,
        /// Bad subscription expression.
        SUBSCRIPTION_PARSE_FAILED = 23,
        /// No subscription.
        SUBSCRIPTION_NOT_EXIST = 24,
        /// Stale subscription.
        SUBSCRIPTION_NOT_LATEST = 25,
        /// Unknown group.
        SUBSCRIPTION_GROUP_NOT_EXIST = 26,
        /// Filter data missing.
        FILTER_DATA_NOT_EXIST = 27,
        /// Filter data stale.
        FILTER_DATA_NOT_LATEST = 28,
        /// 5.x: invalid parameter.
        INVALID_PARAMETER = 29,
        /// Transaction: commit.
        TRANSACTION_SHOULD_COMMIT = 200,
        /// Transaction: roll back.
        TRANSACTION_SHOULD_ROLLBACK = 201,
        /// Transaction: unknown (sic).
        TRANSACTION_STATE_UNKNOW = 202,
        /// Transaction: wrong group.
        TRANSACTION_STATE_GROUP_WRONG = 203,
        /// No buyer id.
        NO_BUYER_ID = 204,
        /// Not in current unit.
        NOT_IN_CURRENT_UNIT = 205,
        /// Consumer not online.
        CONSUMER_NOT_ONLINE = 206,
        /// Consume timeout.
        CONSUME_MSG_TIMEOUT = 207,
        /// No message.
        NO_MESSAGE = 208,
        /// 4.x: UPDATE_AND_CREATE_ACL_CONFIG failed (5.x reuses 209 for POLLING_FULL).
        UPDATE_AND_CREATE_ACL_CONFIG_FAILED = 209,
        /// 4.x: DELETE_ACL_CONFIG failed.
        DELETE_ACL_CONFIG_FAILED = 210,
        /// 4.x: UPDATE_GLOBAL_WHITE_ADDRS_CONFIG failed.
        UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED = 211,
    }
}

impl RequestCode {
    /// Codes the binary (ROCKETMQ) header can carry: it stores the code as an `i16`.
    pub fn fits_binary_header(self) -> bool {
        i16::try_from(self.0).is_ok()
    }
}
