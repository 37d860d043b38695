//! Shared-secret authentication of the HA port (`haAuthSecretFile`), so that a peer that is
//! not one of our brokers gets no commit-log byte, and a slave follows only a master that knows
//! the secret too. No Java counterpart: Java's HA port serves anyone who connects, so a broker
//! with the secret set replicates only with brokers of this project that have the same secret.
//!
//! Before the first offset report (spec §7.3), both sides prove they know the secret without
//! sending it, with HMAC-SHA256 over fresh random nonces:
//!
//! 1. master → slave: `RMQHAUT1` (8 bytes) and a 32-byte nonce `Nm`;
//! 2. slave → master: `HMAC(secret, "slave" ‖ Nm)` (32 bytes) and its own nonce `Ns` (32);
//! 3. master → slave: `HMAC(secret, "master" ‖ Ns)` (32 bytes), only if step 2 verified;
//!
//! then the ordinary HA exchange. A wrong or missing answer closes the connection; the master
//! sends nothing but the challenge before it. The secret file is read at every handshake, so a
//! rotated Kubernetes Secret takes effect on the next connection without a restart (roll the
//! file to all brokers before the connections cycle).

use std::path::Path;
use std::time::Duration;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::BrokerConfig;

/// The first bytes a master with a secret sends.
pub const MAGIC: &[u8; 8] = b"RMQHAUT1";
const NONCE: usize = 32;
const MAC: usize = 32;

/// The secret of `config`, if `haAuthSecretFile` is set: the file's bytes with surrounding
/// whitespace trimmed. An unreadable or empty file is an error (fail closed).
pub fn secret(config: &BrokerConfig) -> Result<Option<Vec<u8>>, String> {
    let Some(path) = config
        .ha_auth_secret_file
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    let raw =
        std::fs::read(Path::new(path)).map_err(|e| format!("haAuthSecretFile {path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let trimmed = text.trim();
    if trimmed.len() < 16 {
        return Err(format!(
            "haAuthSecretFile {path}: the secret must be at least 16 characters"
        ));
    }
    Ok(Some(trimmed.as_bytes().to_vec()))
}

fn mac(secret: &[u8], label: &[u8], nonce: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(label);
    ctx.update(nonce);
    ctx.sign()
}

fn verify(secret: &[u8], label: &[u8], nonce: &[u8], given: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut msg = label.to_vec();
    msg.extend_from_slice(nonce);
    hmac::verify(&key, &msg, given).is_ok()
}

fn nonce() -> Result<[u8; NONCE], String> {
    let mut n = [0u8; NONCE];
    SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| "no randomness for the HA nonce".to_string())?;
    Ok(n)
}

async fn read_exact<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut [u8],
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, s.read_exact(buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("HA authentication: read failed: {e}")),
        Err(_) => Err("HA authentication: no answer in time".into()),
    }
}

/// The master's side: challenge, check the answer, prove itself. `Err` closes the connection.
pub async fn master<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let nm = nonce()?;
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&nm);
    s.write_all(&hello)
        .await
        .map_err(|e| format!("HA authentication: write failed: {e}"))?;
    let mut answer = [0u8; MAC + NONCE];
    read_exact(s, &mut answer, timeout).await?;
    if !verify(secret, b"slave", &nm, &answer[..MAC]) {
        return Err(
            "HA authentication failed: the peer does not know haAuthSecretFile's secret".into(),
        );
    }
    let proof = mac(secret, b"master", &answer[MAC..]);
    s.write_all(proof.as_ref())
        .await
        .map_err(|e| format!("HA authentication: write failed: {e}"))
}

/// The slave's side: answer the challenge, check the master's proof.
pub async fn slave<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let mut hello = [0u8; 8 + NONCE];
    read_exact(s, &mut hello, timeout).await?;
    if &hello[..8] != MAGIC {
        return Err("HA authentication: the master did not ask for the secret (haAuthSecretFile unset there?)".into());
    }
    let ns = nonce()?;
    let mut answer = mac(secret, b"slave", &hello[8..]).as_ref().to_vec();
    answer.extend_from_slice(&ns);
    s.write_all(&answer)
        .await
        .map_err(|e| format!("HA authentication: write failed: {e}"))?;
    let mut proof = [0u8; MAC];
    read_exact(s, &mut proof, timeout).await?;
    if !verify(secret, b"master", &ns, &proof) {
        return Err("HA authentication failed: the master does not know the secret".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_secret_passes_and_a_different_one_fails_both_ways() {
        let secret = b"0123456789abcdef-secret".to_vec();
        let t = Duration::from_secs(5);
        let (mut a, mut b) = tokio::io::duplex(1024);
        let s2 = secret.clone();
        let m = tokio::spawn(async move { master(&mut a, &s2, t).await });
        slave(&mut b, &secret, t).await.expect("slave side");
        m.await.expect("join").expect("master side");

        let (mut a, mut b) = tokio::io::duplex(1024);
        let m = tokio::spawn(async move { master(&mut a, b"the-master-secret-1", t).await });
        let s = slave(&mut b, b"a-different-secret-2", t).await;
        let m = m.await.expect("join");
        assert!(m.expect_err("master accepted").contains("does not know"));
        assert!(s.is_err());
    }
}
