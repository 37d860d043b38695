//! Headers: transaction (spec §3).
