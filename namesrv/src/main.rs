//! The `namesrv` binary.

fn main() {}
