//! Bodies: admin.
