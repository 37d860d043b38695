//! Headers: send (spec §3).
