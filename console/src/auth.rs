//! Who may change state. Reads are open to whoever reaches the port (as Java's dashboard
//! without login); every state change needs `Authorization: Bearer <token>` with the token read
//! from a file (a Kubernetes Secret mounted as one, or the file `operator local` writes). A
//! console without a token file, or started with `--read-only`, refuses every state change.

use std::path::Path;

use crate::error::{ConsoleError, Result};

/// The write policy of one console.
#[derive(Clone)]
pub struct Auth {
    token: Option<String>,
    read_only: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Auth {
    /// A policy with `token` (None: no writes at all) and the read-only switch.
    pub fn new(token: Option<String>, read_only: bool) -> Self {
        let token = token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Auth { token, read_only }
    }

    /// Reads the token from `path` (surrounding whitespace ignored; an empty file is an error,
    /// because it would otherwise silently make the console read-only).
    pub fn token_from_file(path: &Path) -> std::io::Result<String> {
        let t = std::fs::read_to_string(path)?.trim().to_string();
        if t.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is empty", path.display()),
            ));
        }
        Ok(t)
    }

    /// Whether state changes are possible at all.
    pub fn writable(&self) -> bool {
        !self.read_only && self.token.is_some()
    }

    /// Whether the console runs in read-only mode (by flag or for want of a token).
    pub fn read_only(&self) -> bool {
        !self.writable()
    }

    /// Checks a state change's `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Result<()> {
        if self.read_only {
            return Err(ConsoleError::ReadOnly(
                "this console is read-only (--read-only)".into(),
            ));
        }
        let Some(token) = &self.token else {
            return Err(ConsoleError::ReadOnly(
                "this console is read-only: it was started without --token-file".into(),
            ));
        };
        let given = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ConsoleError::Unauthorized("log in with the console's token".into()))?;
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(ConsoleError::Unauthorized("wrong token".into()))
        }
    }
}

/// Compares without an early exit, so the time taken says nothing about how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let a = Auth::new(Some("s3cret\n".into()), false);
        assert!(a.writable());
        assert!(a.check(Some("Bearer s3cret")).is_ok());
        assert!(matches!(
            a.check(Some("Bearer s3cre")),
            Err(ConsoleError::Unauthorized(_))
        ));
        assert!(matches!(a.check(None), Err(ConsoleError::Unauthorized(_))));
        assert!(matches!(
            a.check(Some("Basic czNjcmV0")),
            Err(ConsoleError::Unauthorized(_))
        ));
        let ro = Auth::new(Some("s3cret".into()), true);
        assert!(matches!(
            ro.check(Some("Bearer s3cret")),
            Err(ConsoleError::ReadOnly(_))
        ));
        let none = Auth::new(Some("  ".into()), false);
        assert!(none.read_only());
        assert!(matches!(
            none.check(Some("Bearer ")),
            Err(ConsoleError::ReadOnly(_))
        ));
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
