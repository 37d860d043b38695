//! The commit-log message record (spec §4).
