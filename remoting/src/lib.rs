//! The RocketMQ 4.x remoting protocol, shared by every crate of the project.
//!
//! # Layout
//! - [`acl`]: 4.x plain-ACL request signing (HmacSHA1) and the ACL admin bodies.
//! - [`codes`]: request and response codes (spec §2).
//! - [`command`]: the logical command a frame carries (spec §1.2).
//! - [`frame`]: bytes ⇄ commands, JSON and binary headers (spec §1.1–1.4), a tokio codec;
//!   `json_scan` reads the flat JSON headers real clients send without serde.
//! - [`ext`]: header fields and the [`header!`](macro@header) macro for typed header structs (spec §1.5).
//! - [`connection`], [`client`], [`server`]: async transport on tokio; `sink`: the write side
//!   (large bodies written beside their headers, not copied).
//! - [`header`]: typed headers of every command; [`body`]: JSON bodies; [`fastjson`]: the Java
//!   JSON dialect.
//! - [`message`]: the commit-log message record (spec §4).
//! - [`properties`]: Java properties text (config files and config bodies).
//! - [`tls`]: rustls on the remoting port, Java's `tls.*` modes and properties.
//! - [`error`]: the crate's error type.

pub mod acl;
pub mod body;
pub mod client;
pub mod codes;
pub mod command;
pub mod connection;
pub mod error;
pub mod ext;
pub mod fastjson;
pub mod frame;
pub mod header;
mod json_scan;
pub mod message;
pub mod properties;
pub mod server;
mod sink;
pub mod tls;

pub use client::{ClientConfig, RemotingClient};
pub use codes::{RequestCode, ResponseCode};
pub use command::{LanguageCode, RemotingCommand, SerializeType};
pub use connection::{Connection, ConnectionConfig, RequestHandler};
pub use error::{RemotingError, Result};
pub use ext::{CommandHeader, ExtFields};
pub use server::{ServerConfig, serve};
