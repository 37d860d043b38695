//! `store-ctl`: inspect a store directory (implementation follows).
fn main() {}
