//! Typed request and response headers (spec §3), one module per area. Each struct is declared
//! with [`crate::header!`] so the server and the client parse and build the same definition.

pub mod acl;
pub mod admin;
pub mod client;
pub mod namesrv;
pub mod offset;
pub mod pull;
pub mod query;
pub mod send;
pub mod transaction;
