//! Bodies: route (name server side).
