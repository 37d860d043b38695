//! Headers: pull (spec §3).
