//! Bodies: cluster (name server side).
