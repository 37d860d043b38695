//! Locating the third-party clients (`.ci/run` installs them; see `e2e/compat/`).

use std::path::PathBuf;

/// The Python interpreter of a venv with PyPI `rocketmq` 0.4.4 (`COMPAT_PYTHON`).
pub fn python() -> Option<PathBuf> {
    std::env::var_os("COMPAT_PYTHON").map(PathBuf::from)
}

/// A `node_modules` directory holding `ali-ons` 3.12 (`COMPAT_NODE_MODULES`).
pub fn node_modules() -> Option<PathBuf> {
    std::env::var_os("COMPAT_NODE_MODULES").map(PathBuf::from)
}

/// The directory of the compatibility scripts.
pub fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat")
}

/// Called when a tool is missing: CI sets `COMPAT_REQUIRED=1`, where a missing tool is a failure;
/// elsewhere the suite says so and skips.
pub fn missing(what: &str) {
    if std::env::var("COMPAT_REQUIRED").as_deref() == Ok("1") {
        panic!("{what} is required (COMPAT_REQUIRED=1) but not installed; run .ci/run");
    }
    eprintln!("SKIPPED: {what} not installed (set it up as .ci/run does)");
}
