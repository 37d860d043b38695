//! Store benchmarks (implementation follows).
fn main() {}
