//! Headers: admin (spec §3).
