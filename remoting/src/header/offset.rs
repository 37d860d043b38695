//! Headers: offset (spec §3).
