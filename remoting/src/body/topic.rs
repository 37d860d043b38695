//! Bodies: topic (name server side).
