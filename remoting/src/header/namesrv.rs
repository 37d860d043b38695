//! Name server headers (spec §3.11).
