//! Crash-test child (implementation follows).
fn main() {}
