//! `plain_acl.yml` (Java 4.x format) and the rules compiled from it.
//!
//! ```yaml
//! globalWhiteRemoteAddresses:
//!   - 10.10.103.*
//! accounts:
//!   - accessKey: RocketMQ
//!     secretKey: 12345678
//!     whiteRemoteAddress:
//!     admin: false
//!     defaultTopicPerm: DENY
//!     defaultGroupPerm: SUB
//!     topicPerms:
//!       - topicA=DENY
//!       - topicB=PUB|SUB
//!     groupPerms:
//!       - groupA=SUB
//! ```
//!
//! Scalars may be written unquoted (`secretKey: 12345678` is a YAML number; it is read as its
//! text, as Java does). Unlike Java, which silently reads an unknown permission as DENY, an
//! unknown permission word, a malformed `name=PERM` entry or address pattern, or a key shorter
//! than 7 characters makes the whole file invalid: the broker refuses to start on it, and a
//! reload keeps the previous rules.

use std::collections::HashMap;

use remoting::acl::{AclConfigBody, PlainAccessConfig};
use remoting::body::topic::DataVersion;
use serde_yaml::Value;

use super::address::AddressPattern;
use crate::names::RETRY_GROUP_TOPIC_PREFIX;

/// Permission bit: nothing (overrides every other bit).
pub const DENY: u8 = 1;
/// Needed-permission bit: PUB or SUB is enough.
pub const ANY: u8 = 1 << 1;
/// Permission bit: publish.
pub const PUB: u8 = 1 << 2;
/// Permission bit: subscribe.
pub const SUB: u8 = 1 << 3;

/// Java keys must be longer than this (`AclConstants.ACCESS_KEY_MIN_LENGTH`).
pub const KEY_MIN_LENGTH: usize = 6;

/// Parses `PUB`, `SUB`, `PUB|SUB`, `SUB|PUB`, `DENY`; absent is DENY (Java's default).
pub fn parse_perm(raw: Option<&str>) -> Result<u8, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DENY),
        Some("PUB") => Ok(PUB),
        Some("SUB") => Ok(SUB),
        Some("PUB|SUB") | Some("SUB|PUB") => Ok(PUB | SUB),
        Some("DENY") => Ok(DENY),
        Some(other) => Err(format!(
            "unknown permission {other:?} (PUB, SUB, PUB|SUB or DENY)"
        )),
    }
}

/// Whether `owned` grants `needed` (Java `Permission.checkPermission`).
pub fn grants(needed: u8, owned: u8) -> bool {
    if owned & DENY != 0 {
        return false;
    }
    if needed & ANY != 0 {
        return owned & (PUB | SUB) != 0;
    }
    needed & owned != 0
}

/// Text of a permission for remarks.
pub fn perm_name(perm: u8) -> &'static str {
    match perm {
        PUB => "PUB",
        SUB => "SUB",
        ANY => "PUB or SUB",
        x if x == PUB | SUB => "PUB|SUB",
        _ => "DENY",
    }
}

/// One account, compiled.
#[derive(Debug, Clone)]
pub struct Account {
    /// Account name.
    pub access_key: String,
    /// Shared secret.
    pub secret_key: String,
    /// Addresses trusted without a signature.
    pub white: AddressPattern,
    /// May use the admin codes.
    pub admin: bool,
    /// Permission on topics without an entry.
    pub default_topic_perm: u8,
    /// Permission on groups without an entry.
    pub default_group_perm: u8,
    /// Explicit entries, groups keyed by their retry topic (`%RETRY%group`); `None` when the
    /// account lists none (then an admin may touch everything, as in Java).
    pub perms: Option<HashMap<String, u8>>,
}

/// Everything `plain_acl.yml` says, ready for checking requests.
#[derive(Debug, Clone, Default)]
pub struct AclRules {
    /// `globalWhiteRemoteAddresses`: addresses let in without any check.
    pub global_white: Vec<AddressPattern>,
    /// Accounts by access key.
    pub accounts: HashMap<String, Account>,
    /// Accounts as written (for GET_BROKER_CLUSTER_ACL_CONFIG), in file order.
    pub configs: Vec<PlainAccessConfig>,
    /// Global white list as written.
    pub global_white_raw: Vec<String>,
    /// The file's `dataVersion`, if it has one.
    pub data_version: Option<DataVersion>,
}

impl AclRules {
    /// The body of GET_BROKER_CLUSTER_ACL_CONFIG.
    pub fn body(&self) -> AclConfigBody {
        AclConfigBody {
            global_white_addrs: self.global_white_raw.clone(),
            plain_access_configs: self.configs.clone(),
        }
    }
}

/// A scalar as text: strings as they are, numbers and booleans as written; null is absent.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| format!("{what}: every entry must be a scalar")))
            .collect(),
        Some(_) => Err(format!("{what} must be a list")),
    }
}

fn field<'a>(map: &'a serde_yaml::Mapping, key: &str) -> Option<&'a Value> {
    map.get(Value::String(key.to_string()))
}

/// Reads one account mapping into Java's `PlainAccessConfig`.
pub fn account_config(v: &Value) -> Result<PlainAccessConfig, String> {
    let Value::Mapping(map) = v else {
        return Err("every entry of accounts must be a mapping".into());
    };
    let text = |k: &str| field(map, k).and_then(scalar);
    let access_key = text("accessKey").unwrap_or_default();
    let admin = match field(map, "admin") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => match scalar(other).as_deref().map(str::trim) {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(format!("account {access_key}: admin must be true or false")),
        },
    };
    Ok(PlainAccessConfig {
        secret_key: text("secretKey").unwrap_or_default(),
        white_remote_address: text("whiteRemoteAddress"),
        admin,
        default_topic_perm: text("defaultTopicPerm"),
        default_group_perm: text("defaultGroupPerm"),
        topic_perms: string_list(field(map, "topicPerms"), "topicPerms")?,
        group_perms: string_list(field(map, "groupPerms"), "groupPerms")?,
        access_key,
    })
}

/// Checks and compiles one account.
pub fn compile_account(c: &PlainAccessConfig) -> Result<Account, String> {
    if c.access_key.len() <= KEY_MIN_LENGTH || c.secret_key.len() <= KEY_MIN_LENGTH {
        return Err(format!(
            "account {:?}: accessKey and secretKey must be longer than {KEY_MIN_LENGTH} characters",
            c.access_key
        ));
    }
    let ctx = |e: String| format!("account {}: {e}", c.access_key);
    let mut perms = HashMap::new();
    for (entries, is_topic) in [(&c.topic_perms, true), (&c.group_perms, false)] {
        for entry in entries {
            let Some((name, perm)) = entry.split_once('=') else {
                return Err(ctx(format!("{entry:?} is not name=PERM")));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(ctx(format!("{entry:?} has no name")));
            }
            let key = if is_topic {
                name.to_string()
            } else {
                format!("{RETRY_GROUP_TOPIC_PREFIX}{name}")
            };
            perms.insert(key, parse_perm(Some(perm)).map_err(ctx)?);
        }
    }
    Ok(Account {
        access_key: c.access_key.clone(),
        secret_key: c.secret_key.clone(),
        white: AddressPattern::parse(c.white_remote_address.as_deref().unwrap_or(""))
            .map_err(ctx)?,
        admin: c.admin,
        default_topic_perm: parse_perm(c.default_topic_perm.as_deref()).map_err(ctx)?,
        default_group_perm: parse_perm(c.default_group_perm.as_deref()).map_err(ctx)?,
        perms: (!perms.is_empty()).then_some(perms),
    })
}

/// Parses the YAML document into a mapping (an empty or non-mapping document is an error, as
/// Java's "file is not data").
pub fn document(text: &str) -> Result<serde_yaml::Mapping, String> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(m)) if !m.is_empty() => Ok(m),
        Ok(_) => Err("the file holds no ACL data (expected a mapping with accounts)".into()),
        Err(e) => Err(format!("not valid YAML: {e}")),
    }
}

/// Parses and checks the whole file.
pub fn parse(text: &str) -> Result<AclRules, String> {
    let doc = document(text)?;
    let global_white_raw = string_list(
        field(&doc, "globalWhiteRemoteAddresses"),
        "globalWhiteRemoteAddresses",
    )?;
    let global_white = global_white_raw
        .iter()
        .map(|a| AddressPattern::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut configs = Vec::new();
    let mut accounts = HashMap::new();
    match field(&doc, "accounts") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for item in items {
                let c = account_config(item)?;
                let a = compile_account(&c)?;
                if accounts.insert(a.access_key.clone(), a).is_some() {
                    return Err(format!("account {} is listed twice", c.access_key));
                }
                configs.push(c);
            }
        }
        Some(_) => return Err("accounts must be a list".into()),
    }
    let data_version = match field(&doc, "dataVersion") {
        Some(Value::Sequence(items)) => items.first().and_then(|v| {
            let Value::Mapping(m) = v else { return None };
            let num = |k| {
                field(m, k)
                    .and_then(scalar)
                    .and_then(|s| s.parse::<i64>().ok())
            };
            Some(DataVersion {
                counter: num("counter").unwrap_or(0),
                timestamp: num("timestamp").unwrap_or(0),
                state_version: None,
            })
        }),
        _ => None,
    };
    Ok(AclRules {
        global_white,
        accounts,
        configs,
        global_white_raw,
        data_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Java's sample `conf/plain_acl.yml` (4.9), unquoted numbers and blank values included.
    const JAVA_SAMPLE: &str = "globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
";

    #[test]
    fn java_sample_parses() {
        let r = parse(JAVA_SAMPLE).expect("sample parses");
        assert_eq!(r.global_white.len(), 2);
        let a = &r.accounts["RocketMQ"];
        assert_eq!(a.secret_key, "12345678");
        assert!(!a.admin);
        assert_eq!(a.default_topic_perm, DENY);
        assert_eq!(a.default_group_perm, SUB);
        let perms = a.perms.as_ref().expect("perms");
        assert_eq!(perms["topicB"], PUB | SUB);
        assert_eq!(perms["%RETRY%groupA"], DENY);
        let b = &r.accounts["rocketmq2"];
        assert!(b.admin);
        assert!(b.perms.is_none());
        assert_eq!(r.body().plain_access_configs.len(), 2);
    }

    #[test]
    fn broken_files_are_refused() {
        for (bad, why) in [
            ("", "no ACL data"),
            ("accounts: [", "not valid YAML"),
            (
                "accounts:\n  - accessKey: short\n    secretKey: 12345678\n",
                "longer than",
            ),
            (
                "accounts:\n  - accessKey: RocketMQ\n    secretKey: 12345678\n    defaultTopicPerm: PUBLISH\n",
                "unknown permission",
            ),
            (
                "accounts:\n  - accessKey: RocketMQ\n    secretKey: 12345678\n    topicPerms: [topicA]\n",
                "not name=PERM",
            ),
            ("globalWhiteRemoteAddresses: [10.10.*.1]\n", "white-list"),
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn permission_checks_follow_java() {
        assert!(grants(PUB, PUB | SUB));
        assert!(!grants(PUB, SUB));
        assert!(grants(ANY, SUB));
        assert!(!grants(SUB, DENY | SUB));
        assert!(!grants(ANY, DENY));
    }
}
