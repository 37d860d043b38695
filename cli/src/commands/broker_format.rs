//! Formatting shared by the broker commands: Java's `toString` of configs, permissions,
//! timestamps and client versions, so output reads like Java `mqadmin`'s.

use remoting::body::admin::SubscriptionGroupConfig;
use remoting::body::topic::TopicConfig;

use crate::args::ParsedArgs;
use crate::error::{CliError, Result};

/// Java `PermName.perm2String`: `R`, `W`, `X` (inherit) or `-` in three places.
pub fn perm_string(perm: i32) -> String {
    let mut s = String::with_capacity(3);
    s.push(if perm & 4 != 0 { 'R' } else { '-' });
    s.push(if perm & 2 != 0 { 'W' } else { '-' });
    s.push(if perm & 1 != 0 { 'X' } else { '-' });
    s
}

/// Java `TopicConfig.toString()`.
pub fn topic_config_string(c: &TopicConfig) -> String {
    format!(
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType={}, topicSysFlag={}, order={}]",
        c.topic_name,
        c.read_queue_nums,
        c.write_queue_nums,
        perm_string(c.perm),
        c.topic_filter_type.name(),
        c.topic_sys_flag,
        c.order
    )
}

/// Java `SubscriptionGroupConfig.toString()`.
pub fn group_config_string(c: &SubscriptionGroupConfig) -> String {
    format!(
        "SubscriptionGroupConfig [groupName={}, consumeEnable={}, consumeFromMinEnable={}, consumeBroadcastEnable={}, retryQueueNums={}, retryMaxTimes={}, brokerId={}, whichBrokerWhenConsumeSlowly={}, notifyConsumerIdsChangedEnable={}]",
        c.group_name,
        c.consume_enable,
        c.consume_from_min_enable,
        c.consume_broadcast_enable,
        c.retry_queue_nums,
        c.retry_max_times,
        c.broker_id,
        c.which_broker_when_consume_slowly,
        c.notify_consumer_ids_changed_enable
    )
}

/// `yyyy-MM-dd HH:mm:ss,SSS` (Java `UtilAll.timeMillisToHumanString2`), in UTC.
pub fn human_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02},{millis:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Java `MQVersion.getVersionDesc`: the name of the `MQVersion.Version` constant whose ordinal
/// the client sent. From V4_0_0_SNAPSHOT (212) to V5_9_9 (611) the enum is regular: every
/// x.y.z has a `_SNAPSHOT` then a release constant, so the name follows from the ordinal; past
/// the end Java prints the last constant. The irregular 3.x constants (below 212) print as the
/// ordinal (`V<n>`).
pub fn version_desc(version: i32) -> String {
    const FIRST_4X: i32 = 212;
    const LAST: i32 = 611;
    if version > LAST {
        return "V5_9_9".to_string();
    }
    if version < FIRST_4X {
        return format!("V{version}");
    }
    let step = version - FIRST_4X;
    let n = step / 2; // 0 = 4.0.0
    let (major, minor, patch) = (4 + n / 100, (n / 10) % 10, n % 10);
    if step % 2 == 0 {
        format!("V{major}_{minor}_{patch}_SNAPSHOT")
    } else {
        format!("V{major}_{minor}_{patch}")
    }
}

#[cfg(test)]
mod version_tests {
    use super::version_desc;

    #[test]
    fn java_version_names() {
        assert_eq!(version_desc(407), "V4_9_7");
        assert_eq!(version_desc(409), "V4_9_8");
        assert_eq!(version_desc(remoting::command::CURRENT_VERSION), "V4_9_8");
        assert_eq!(version_desc(408), "V4_9_8_SNAPSHOT");
        assert_eq!(version_desc(212), "V4_0_0_SNAPSHOT");
        assert_eq!(version_desc(213), "V4_0_0");
        assert_eq!(version_desc(413), "V5_0_0");
        assert_eq!(version_desc(611), "V5_9_9");
        assert_eq!(version_desc(5000), "V5_9_9");
    }
}

/// A numeric option, `default` when absent.
pub fn num_opt<T: std::str::FromStr>(args: &ParsedArgs, k: &str, default: T) -> Result<T> {
    match args.value(k) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| CliError::Usage(format!("-{k} wants a number, got {v:?}"))),
    }
}

/// A boolean option (`true`/`false`), `default` when absent.
pub fn bool_opt(args: &ParsedArgs, k: &str, default: bool) -> Result<bool> {
    match args.value(k) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| CliError::Usage(format!("-{k} wants true or false, got {v:?}"))),
    }
}

/// Java's `-b broker | -c cluster` choice of where to apply an update.
pub enum Target<'a> {
    /// One broker address.
    Broker(&'a str),
    /// Every master of a cluster.
    Cluster(&'a str),
}

/// Reads `-b` / `-c`; exactly one is needed.
pub fn target(args: &ParsedArgs) -> Result<Target<'_>> {
    match (args.value("b"), args.value("c")) {
        (Some(b), None) => Ok(Target::Broker(b)),
        (None, Some(c)) => Ok(Target::Cluster(c)),
        _ => Err(CliError::Usage(
            "give either -b <broker address> or -c <cluster name>".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_formats() {
        assert_eq!(perm_string(6), "RW-");
        assert_eq!(perm_string(4), "R--");
        assert_eq!(perm_string(7), "RWX");
        assert_eq!(human_time(0), "1970-01-01 00:00:00,000");
        assert_eq!(human_time(1_700_000_000_123), "2023-11-14 22:13:20,123");
        let t = topic_config_string(&TopicConfig {
            topic_name: "T".into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: 6,
            ..Default::default()
        });
        assert!(
            t.contains("topicName=T, readQueueNums=8, writeQueueNums=8, perm=RW-"),
            "{t}"
        );
    }
}
