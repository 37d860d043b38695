//! The web console (RocketMQ's dashboard, on port 8180): an HTTP server that serves a small
//! page app embedded in the binary and a JSON API over the project's admin crates.
//!
//! # Layout
//! - [`server`]: [`serve`] binds nothing itself (tests hand it a listener on port 0), routes
//!   requests and runs the sampler.
//! - [`api`]: the JSON API, one function per page action, over `mqadmin`'s admin layer and the
//!   client library (cluster, topics, groups, messages).
//! - [`auth`]: read-only mode and the token that state changes need.
//! - [`history`]: the last hour of TPS and lag samples behind the charts, in memory.
//! - [`assets`]: the HTML, CSS and JavaScript, compiled in (no build step, no network).
//! - [`error`]: [`ConsoleError`], shown in the page as one readable line.

pub mod api;
pub mod assets;
pub mod auth;
pub mod error;
pub mod history;
pub mod server;

pub use error::{ConsoleError, Result};
pub use server::{ConsoleConfig, ConsoleHandle, serve};

/// The port RocketMQ's dashboard listens on, and ours by default.
pub const DEFAULT_PORT: u16 = 8180;
