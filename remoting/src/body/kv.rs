//! Bodies: kv (name server side).
