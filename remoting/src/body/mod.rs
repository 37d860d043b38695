//! JSON bodies (spec §3, §3.12): what they hold and how they read the fastjson dialect (§1.7).

pub mod admin;
pub mod client;
pub mod cluster;
pub mod kv;
pub mod route;
pub mod topic;
