//! RocketMQ 4.x plain ACL on the wire: how a request is signed, and the bodies of the ACL admin
//! requests (codes 50–54).
//!
//! A signed request carries three extra header fields: `AccessKey`, `Signature` and, when the
//! credentials have one, `SecurityToken`. The signature is Base64(HmacSHA1(secretKey, content))
//! where the content is the values (not the keys) of every header field except `Signature` and
//! `_UNIQUE_KEY_QUERY`, in key order, as UTF-8, followed by the body bytes. The Java client
//! (`AclClientRPCHook`), the C++ client (`SessionCredentials`) and ali-ons all compute it this
//! way, and the Java broker checks it the same way, so a field changed in transit (a topic, a
//! queue id, the body) no longer matches.

use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::command::RemotingCommand;
use crate::ext::ExtFields;

/// Header field naming the account.
pub const ACCESS_KEY: &str = "AccessKey";
/// Header field carrying the signature.
pub const SIGNATURE: &str = "Signature";
/// Header field carrying the optional security token (signed like any other field).
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Header field the Java admin adds to a message query; never part of the signed content.
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

/// An account's credentials, used to sign outgoing requests. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    /// The account name (`AccessKey`).
    pub access_key: String,
    /// The shared secret the signature is keyed with; never sent.
    pub secret_key: String,
    /// Optional token, sent (and signed) as `SecurityToken`.
    pub security_token: Option<String>,
}

impl fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl SessionCredentials {
    /// Credentials without a security token.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        SessionCredentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }

    /// Adds `AccessKey` (and `SecurityToken`) to `cmd` and signs it: any earlier `Signature` is
    /// replaced. Call it last, after every header field and the body are final.
    pub fn sign(&self, cmd: &mut RemotingCommand) {
        cmd.ext_fields.insert(ACCESS_KEY, self.access_key.clone());
        if let Some(token) = &self.security_token {
            cmd.ext_fields.insert(SECURITY_TOKEN, token.clone());
        }
        let sig = signature(
            &signed_content(&cmd.ext_fields, &cmd.body),
            &self.secret_key,
        );
        cmd.ext_fields.insert(SIGNATURE, sig);
    }
}

/// The bytes a signature covers: every header value but `Signature` and `_UNIQUE_KEY_QUERY`, in
/// key order, then the body.
pub fn signed_content(ext: &ExtFields, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 256);
    for (k, v) in ext.iter() {
        if k != SIGNATURE && k != UNIQUE_KEY_QUERY {
            out.extend_from_slice(v.as_bytes());
        }
    }
    out.extend_from_slice(body);
    out
}

/// Base64(HmacSHA1(secret, content)), Java's `AclUtils.calSignature`.
pub fn signature(content: &[u8], secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = ring::hmac::sign(&key, content);
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// Whether `cmd` carries a valid signature for `secret`. The comparison takes the same time
/// wherever the first differing byte is, so a forger learns nothing from timing.
pub fn verify(cmd: &RemotingCommand, secret: &str) -> bool {
    let Some(given) = cmd.ext_fields.get(SIGNATURE) else {
        return false;
    };
    let expected = signature(&signed_content(&cmd.ext_fields, &cmd.body), secret);
    constant_time_eq(given.as_bytes(), expected.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One account as the ACL admin requests and `plain_acl.yml` spell it (Java
/// `PlainAccessConfig`). Permissions are kept as text (`PUB`, `SUB`, `PUB|SUB`, `DENY`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlainAccessConfig {
    /// Account name (longer than 6 characters).
    pub access_key: String,
    /// Secret (longer than 6 characters).
    pub secret_key: String,
    /// Addresses this account is trusted from without a signature (Java's white-list syntax).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub white_remote_address: Option<String>,
    /// May call the admin request codes.
    pub admin: bool,
    /// Permission on topics not listed in `topic_perms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_topic_perm: Option<String>,
    /// Permission on groups not listed in `group_perms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_group_perm: Option<String>,
    /// `topic=PERM` entries.
    pub topic_perms: Vec<String>,
    /// `group=PERM` entries.
    pub group_perms: Vec<String>,
}

/// GET_BROKER_CLUSTER_ACL_CONFIG (54) response body (Java `GetBrokerClusterAclConfigResponseBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AclConfigBody {
    /// The global white list.
    pub global_white_addrs: Vec<String>,
    /// Every account.
    pub plain_access_configs: Vec<PlainAccessConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::RequestCode;

    /// RFC 2202 test case 2 for HMAC-SHA1, in Base64: the primitive is the standard one.
    #[test]
    fn hmac_sha1_matches_rfc2202() {
        assert_eq!(
            signature(b"what do ya want for nothing?", "Jefe"),
            base64::engine::general_purpose::STANDARD.encode([
                0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
                0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79
            ])
        );
    }

    #[test]
    fn content_is_sorted_values_then_body() {
        let ext: ExtFields = [
            ("topic", "T"),
            ("AccessKey", "ak"),
            ("Signature", "ignored"),
            ("_UNIQUE_KEY_QUERY", "ignored"),
            ("b", "2"),
        ]
        .into_iter()
        .collect();
        // Keys in order: AccessKey, b, topic.
        assert_eq!(signed_content(&ext, b"BODY"), b"ak2TBODY".to_vec());
    }

    #[test]
    fn signed_request_verifies_and_tampering_does_not() {
        let creds = SessionCredentials::new("RocketMQ", "12345678");
        let ext: ExtFields = [("topic", "T"), ("queueId", "1")].into_iter().collect();
        let mut cmd = RemotingCommand::request(RequestCode::SEND_MESSAGE, ext).with_body("hello");
        creds.sign(&mut cmd);
        assert_eq!(cmd.ext_fields.get(ACCESS_KEY), Some("RocketMQ"));
        assert!(verify(&cmd, "12345678"));
        assert!(!verify(&cmd, "12345679"));
        let mut changed = cmd.clone();
        changed.ext_fields.insert("queueId", "2");
        assert!(!verify(&changed, "12345678"));
        let mut body = cmd.clone();
        body.body = bytes::Bytes::from_static(b"hellO");
        assert!(!verify(&body, "12345678"));
        let mut unsigned = cmd;
        unsigned.ext_fields.remove(SIGNATURE);
        assert!(!verify(&unsigned, "12345678"));
        assert!(!format!("{creds:?}").contains("12345678"));
    }
}
