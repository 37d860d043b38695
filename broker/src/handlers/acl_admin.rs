//! The ACL admin codes (4.x, 50–54). Every one needs an admin account (see
//! [`crate::acl::resource::ADMIN_CODES`]); on a broker without ACL they are answered "ACL is not
//! enabled" instead of changing a file nobody reads.

use remoting::acl::PlainAccessConfig;
use remoting::header::acl::{
    CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader,
    GetBrokerAclConfigResponseHeader, UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use remoting::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};
use serde_yaml::Value;

use crate::acl::AclService;
use crate::acl::plain::{account_config, compile_account, scalar};
use crate::config::BrokerConfig;

/// Whether `code` is one of the ACL admin codes.
pub fn is_acl_admin_code(code: RequestCode) -> bool {
    (RequestCode::UPDATE_AND_CREATE_ACL_CONFIG.0..=RequestCode::GET_BROKER_CLUSTER_ACL_CONFIG.0)
        .contains(&code.0)
}

/// Serves one ACL admin request: `acl` is the broker's plain ACL (`None` when `aclEnable` is
/// off); `broker` and `broker_addr` name the broker in GET_BROKER_CLUSTER_ACL_INFO.
pub fn handle(
    acl: Option<&AclService>,
    broker: &BrokerConfig,
    broker_addr: &str,
    req: &RemotingCommand,
) -> RemotingCommand {
    let Some(acl) = acl else {
        return req.response_to(
            ResponseCode::SYSTEM_ERROR,
            Some("ACL is not enabled on this broker (aclEnable=false)".to_string()),
        );
    };
    match req.request_code() {
        RequestCode::UPDATE_AND_CREATE_ACL_CONFIG => update_account(acl, req),
        RequestCode::DELETE_ACL_CONFIG => delete_account(acl, req),
        RequestCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG => update_white(acl, req),
        RequestCode::GET_BROKER_CLUSTER_ACL_INFO => info(broker, broker_addr, acl, req),
        _ => config(acl, req),
    }
}

fn split_list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

fn fail(req: &RemotingCommand, code: ResponseCode, remark: impl ToString) -> RemotingCommand {
    req.response_to(code, Some(remark.to_string()))
}

fn to_yaml(c: &PlainAccessConfig) -> Value {
    let mut m = serde_yaml::Mapping::new();
    m.insert("accessKey".into(), c.access_key.clone().into());
    m.insert("secretKey".into(), c.secret_key.clone().into());
    if let Some(w) = &c.white_remote_address {
        m.insert("whiteRemoteAddress".into(), w.clone().into());
    }
    m.insert("admin".into(), c.admin.into());
    if let Some(p) = &c.default_topic_perm {
        m.insert("defaultTopicPerm".into(), p.clone().into());
    }
    if let Some(p) = &c.default_group_perm {
        m.insert("defaultGroupPerm".into(), p.clone().into());
    }
    let list = |l: &Vec<String>| Value::Sequence(l.iter().cloned().map(Value::from).collect());
    if !c.topic_perms.is_empty() {
        m.insert("topicPerms".into(), list(&c.topic_perms));
    }
    if !c.group_perms.is_empty() {
        m.insert("groupPerms".into(), list(&c.group_perms));
    }
    Value::Mapping(m)
}

fn accounts_of(doc: &mut serde_yaml::Mapping) -> Result<&mut Vec<Value>, String> {
    let slot = doc
        .entry("accounts".into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if slot.is_null() {
        *slot = Value::Sequence(Vec::new());
    }
    match slot {
        Value::Sequence(s) => Ok(s),
        _ => Err("the ACL file's accounts is not a list".into()),
    }
}

fn same_key(v: &Value, ak: &str) -> bool {
    matches!(v, Value::Mapping(m) if m.get("accessKey").and_then(scalar).as_deref() == Some(ak))
}

/// UPDATE_AND_CREATE_ACL_CONFIG: fields given replace the account's; a new account needs a
/// secret key.
fn update_account(acl: &AclService, req: &RemotingCommand) -> RemotingCommand {
    let h = match req.decode_header::<CreateAccessConfigRequestHeader>() {
        Ok(h) => h,
        Err(e) => return fail(req, ResponseCode::SYSTEM_ERROR, e),
    };
    let result = acl.rewrite(|doc| {
        let accounts = accounts_of(doc)?;
        let existing = accounts.iter().position(|a| same_key(a, &h.access_key));
        let mut c = match existing {
            Some(i) => account_config(&accounts[i])?,
            None => PlainAccessConfig {
                access_key: h.access_key.clone(),
                ..Default::default()
            },
        };
        if let Some(s) = h.secret_key.clone().filter(|s| !s.is_empty()) {
            c.secret_key = s;
        }
        if let Some(w) = h.white_remote_address.clone().filter(|s| !s.is_empty()) {
            c.white_remote_address = Some(w);
        }
        c.admin = h.admin.unwrap_or(false);
        if let Some(p) = h.default_topic_perm.clone().filter(|s| !s.is_empty()) {
            c.default_topic_perm = Some(p);
        }
        if let Some(p) = h.default_group_perm.clone().filter(|s| !s.is_empty()) {
            c.default_group_perm = Some(p);
        }
        let topics = split_list(h.topic_perms.as_deref());
        if !topics.is_empty() {
            c.topic_perms = topics;
        }
        let groups = split_list(h.group_perms.as_deref());
        if !groups.is_empty() {
            c.group_perms = groups;
        }
        compile_account(&c)?;
        match existing {
            Some(i) => accounts[i] = to_yaml(&c),
            None => accounts.push(to_yaml(&c)),
        }
        Ok(())
    });
    match result {
        Ok(()) => req.success(),
        Err(e) => fail(req, ResponseCode::UPDATE_AND_CREATE_ACL_CONFIG_FAILED, e),
    }
}

fn delete_account(acl: &AclService, req: &RemotingCommand) -> RemotingCommand {
    let h = match req.decode_header::<DeleteAccessConfigRequestHeader>() {
        Ok(h) => h,
        Err(e) => return fail(req, ResponseCode::SYSTEM_ERROR, e),
    };
    let result = acl.rewrite(|doc| {
        let accounts = accounts_of(doc)?;
        let before = accounts.len();
        accounts.retain(|a| !same_key(a, &h.access_key));
        if accounts.len() == before {
            return Err(format!("no account {} in the ACL file", h.access_key));
        }
        Ok(())
    });
    match result {
        Ok(()) => req.success(),
        Err(e) => fail(req, ResponseCode::DELETE_ACL_CONFIG_FAILED, e),
    }
}

fn update_white(acl: &AclService, req: &RemotingCommand) -> RemotingCommand {
    let h = match req.decode_header::<UpdateGlobalWhiteAddrsConfigRequestHeader>() {
        Ok(h) => h,
        Err(e) => return fail(req, ResponseCode::SYSTEM_ERROR, e),
    };
    if let Some(p) = h.acl_file_full_path.as_deref().filter(|p| !p.is_empty())
        && std::path::Path::new(p) != acl.path()
    {
        return fail(
            req,
            ResponseCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED,
            format!(
                "this broker's ACL file is {}, not {p}",
                acl.path().display()
            ),
        );
    }
    let list = split_list(Some(&h.global_white_addrs));
    let result = acl.rewrite(|doc| {
        doc.insert(
            "globalWhiteRemoteAddresses".into(),
            Value::Sequence(list.into_iter().map(Value::from).collect()),
        );
        Ok(())
    });
    match result {
        Ok(()) => req.success(),
        Err(e) => fail(
            req,
            ResponseCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED,
            e,
        ),
    }
}

fn version_json(acl: &AclService) -> String {
    let v = acl.version();
    format!(
        "{{\"counter\":{},\"timestamp\":{}}}",
        v.counter, v.timestamp
    )
}

fn info(
    broker: &BrokerConfig,
    broker_addr: &str,
    acl: &AclService,
    req: &RemotingCommand,
) -> RemotingCommand {
    let version = version_json(acl);
    let h = GetBrokerAclConfigResponseHeader {
        all_acl_file_version: Some(format!(
            "{{{}:{version}}}",
            serde_json::Value::from(acl.path().display().to_string())
        )),
        version,
        broker_name: broker.broker_name.clone(),
        broker_addr: broker_addr.to_string(),
        cluster_name: broker.broker_cluster_name.clone(),
    };
    req.success().with_ext(h.to_ext())
}

fn config(acl: &AclService, req: &RemotingCommand) -> RemotingCommand {
    match serde_json::to_vec(&acl.rules().body()) {
        Ok(body) => req.success().with_body(body),
        Err(e) => fail(req, ResponseCode::SYSTEM_ERROR, e),
    }
}
