//! Helpers shared by the end-to-end suites.
//!
//! # Layout
//! - [`cluster`]: a name server and brokers started in-process on 127.0.0.1 with temp stores.
//! - [`load`]: concurrent producers that remember what was acknowledged, a drain that reads
//!   every queue from the master or its slave, and the loss/duplicate tally.
//! - [`local`]: a cluster file run as real processes through the operator's local-mode plan, with
//!   per-process kill, stop and restart.
//! - [`kubelet`]: a test kubelet that runs this checkout's binaries as pods (network
//!   namespaces on a bridge, probes, restarts, graceful deletion) for a real control plane.
//! - [`java`]: the Java 4.9.7 client and `mqadmin` built outside the repository, and running the
//!   test programs of `e2e/java/` against them (SKIPPED where they are absent).
//! - [`tools`]: where the third-party clients installed by `.ci/run` live, and whether a suite
//!   must fail or may skip when they are missing.

pub mod cluster;
pub mod java;
pub mod kubelet;
pub mod load;
pub mod local;
pub mod tools;
