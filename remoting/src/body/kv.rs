//! Key/value bodies (spec §3.10, §3.11): [`KVTable`] (GET_KVLIST_BY_NAMESPACE,
//! GET_BROKER_RUNTIME_INFO, the REGISTER_BROKER answer) and [`KVConfigSerializeWrapper`], the
//! name server's `kvConfig.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fastjson;

/// A flat string map (`KVTable`): `{"table":{"k":"v"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KVTable {
    /// Key → value.
    pub table: BTreeMap<String, String>,
}

impl KVTable {
    /// Decodes the JSON (Java dialect accepted).
    pub fn decode(body: &[u8]) -> Result<Self> {
        fastjson::from_slice(body)
    }

    /// Encodes as standard JSON.
    pub fn encode(&self) -> Result<Vec<u8>> {
        fastjson::to_vec(self)
    }
}

/// The name server's KV store file (`KVConfigSerializeWrapper`):
/// `{"configTable":{"namespace":{"k":"v"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KVConfigSerializeWrapper {
    /// Namespace → key → value.
    pub config_table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KVConfigSerializeWrapper {
    /// Decodes the file text (Java dialect accepted).
    pub fn decode(body: &[u8]) -> Result<Self> {
        fastjson::from_slice(body)
    }

    /// Encodes as standard JSON.
    pub fn encode(&self) -> Result<Vec<u8>> {
        fastjson::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut w = KVConfigSerializeWrapper::default();
        w.config_table
            .entry("ORDER_TOPIC_CONFIG".into())
            .or_default()
            .insert("T".into(), "broker-a:4".into());
        let text = w.encode().unwrap();
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"broker-a:4"}}}"#
        );
        assert_eq!(KVConfigSerializeWrapper::decode(&text).unwrap(), w);
        let t = KVTable::decode(br#"{"table":{"a":"1"}}"#).unwrap();
        assert_eq!(t.table["a"], "1");
    }
}
