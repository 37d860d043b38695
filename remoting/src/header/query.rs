//! Headers: query (spec §3).
