//! Headers: client (spec §3).
