//! Helpers shared by the end-to-end suites.
//!
//! # Layout
//! - [`cluster`]: a name server and brokers started in-process on 127.0.0.1 with temp stores.
//! - [`tools`]: where the third-party clients installed by `.ci/run` live, and whether a suite
//!   must fail or may skip when they are missing.

pub mod cluster;
pub mod tools;
