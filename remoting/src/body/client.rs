//! Bodies: client.
