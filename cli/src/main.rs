//! The `mqadmin` binary.

fn main() {}
