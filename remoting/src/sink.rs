//! The write side of a connection: frames encoded into one reused buffer, and large bodies (a
//! pull's records, read from the commit log) handed to the socket as they are, next to their
//! encoded header, in one vectored write — never copied into the buffer.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Encoder;

use crate::command::RemotingCommand;
use crate::error::{RemotingError, Result};
use crate::frame::RemotingCodec;

/// A body at least this long is written from its own buffer instead of being copied behind its
/// header: below it, the copy costs less than the extra slice of the write.
const SEPARATE_BODY: usize = 8 * 1024;

/// Slices handed to one `writev`.
const MAX_SLICES: usize = 64;

/// Frames on their way to a byte stream (see the module docs).
pub(crate) struct FrameSink<W> {
    io: W,
    codec: RemotingCodec,
    /// The largest frame the peer accepts.
    max_frame: usize,
    /// Frames encoded since the last chunk was moved to `chunks`.
    buf: BytesMut,
    /// Bytes waiting to be written before `buf`, in order: encoded frames, then a large body.
    chunks: VecDeque<Bytes>,
    /// Bytes in `chunks`.
    chunked: usize,
    /// Bytes held (in `chunks` and `buf`) before [`feed`](Self::feed) writes them out.
    boundary: usize,
}

impl<W: AsyncWrite + Unpin> FrameSink<W> {
    pub(crate) fn new(io: W, max_frame: usize, boundary: usize) -> Self {
        FrameSink {
            io,
            codec: RemotingCodec::new(max_frame),
            max_frame,
            buf: BytesMut::with_capacity(8 * 1024),
            chunks: VecDeque::new(),
            chunked: 0,
            boundary,
        }
    }

    /// Bytes queued and not yet written.
    fn held(&self) -> usize {
        self.chunked + self.buf.len()
    }

    /// Queues one frame; writes what is held first when it passed the boundary. A command that
    /// cannot be encoded returns [`RemotingError::Encode`] and leaves nothing queued.
    pub(crate) async fn feed(&mut self, mut cmd: RemotingCommand) -> Result<()> {
        if self.held() >= self.boundary {
            self.flush().await?;
        }
        if cmd.body.len() < SEPARATE_BODY {
            return self.codec.encode(cmd, &mut self.buf);
        }
        let body = std::mem::take(&mut cmd.body);
        let start = self.buf.len();
        self.codec.encode(cmd, &mut self.buf)?;
        // The frame's length field counts the body, which follows as its own chunk.
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.buf[start..start + 4]);
        let head = u32::from_be_bytes(len) as usize;
        let total = head + body.len();
        if total + 4 > self.max_frame {
            self.buf.truncate(start);
            return Err(RemotingError::Encode(format!(
                "frame of {} bytes exceeds the limit of {} bytes",
                total + 4,
                self.max_frame
            )));
        }
        let Ok(total) = u32::try_from(total) else {
            self.buf.truncate(start);
            return Err(RemotingError::Encode(format!("frame of {total} bytes")));
        };
        self.buf[start..start + 4].copy_from_slice(&total.to_be_bytes());
        let encoded = self.buf.split().freeze();
        self.chunked += encoded.len() + body.len();
        self.chunks.push_back(encoded);
        self.chunks.push_back(body);
        Ok(())
    }

    /// Writes everything queued, then flushes the stream.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        while !self.chunks.is_empty() {
            let n = {
                let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_SLICES);
                slices.extend(
                    self.chunks
                        .iter()
                        .take(MAX_SLICES - 1)
                        .map(|c| IoSlice::new(c)),
                );
                if slices.len() < MAX_SLICES && !self.buf.is_empty() {
                    slices.push(IoSlice::new(&self.buf));
                }
                self.io.write_vectored(&slices).await?
            };
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.consume(n);
        }
        while !self.buf.is_empty() {
            let n = self.io.write(&self.buf).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.buf.advance(n);
        }
        self.io.flush().await
    }

    /// Drops `n` written bytes from the front of `chunks`, then of `buf`.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                self.buf.advance(n);
                return;
            };
            let k = n.min(front.len());
            front.advance(k);
            self.chunked -= k;
            n -= k;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        while self.chunks.front().is_some_and(Bytes::is_empty) {
            self.chunks.pop_front();
        }
    }

    /// Writes what is queued and shuts the stream down.
    pub(crate) async fn close(&mut self) -> std::io::Result<()> {
        self.flush().await?;
        self.io.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Decoder;

    fn command(body_len: usize, opaque: i32) -> RemotingCommand {
        let mut c = RemotingCommand::request(crate::RequestCode::PULL_MESSAGE, Default::default());
        c.opaque = opaque;
        c.body = Bytes::from((0..body_len).map(|i| i as u8).collect::<Vec<u8>>());
        c
    }

    /// A writer that accepts at most `step` bytes per call, vectored or not.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let mut left = self.step;
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(left);
                self.out.extend_from_slice(&b[..k]);
                n += k;
                left -= k;
                if left == 0 {
                    break;
                }
            }
            std::task::Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Small and large bodies, in any order and through short writes, come out as the same
    /// byte stream the codec alone would produce.
    #[tokio::test]
    async fn large_bodies_written_beside_their_headers_give_the_codec_bytes() {
        for step in [1usize, 7, 4096, 1 << 20] {
            let cmds: Vec<RemotingCommand> = [10, 9000, 0, 70_000, 100, 8192, 8191]
                .iter()
                .enumerate()
                .map(|(i, n)| command(*n, i as i32))
                .collect();
            let mut expected = BytesMut::new();
            for c in &cmds {
                RemotingCodec::new(1 << 24)
                    .encode(c.clone(), &mut expected)
                    .unwrap();
            }
            let io = Trickle {
                out: Vec::new(),
                step,
            };
            let mut sink = FrameSink::new(io, 1 << 24, 16 * 1024);
            for c in cmds.clone() {
                sink.feed(c).await.unwrap();
            }
            sink.flush().await.unwrap();
            assert_eq!(sink.io.out, expected.to_vec(), "step {step}");
            // And each frame decodes back to its command.
            let mut rest = BytesMut::from(&sink.io.out[..]);
            for c in &cmds {
                let got = RemotingCodec::new(1 << 24)
                    .decode(&mut rest)
                    .unwrap()
                    .unwrap();
                assert_eq!(got.opaque, c.opaque);
                assert_eq!(got.body, c.body);
            }
        }
    }

    #[tokio::test]
    async fn a_large_body_over_the_frame_limit_is_refused_and_leaves_nothing_queued() {
        let io = Trickle {
            out: Vec::new(),
            step: 1 << 20,
        };
        let mut sink = FrameSink::new(io, 20_000, 1 << 20);
        sink.feed(command(100, 1)).await.unwrap();
        let err = sink.feed(command(30_000, 2)).await.unwrap_err();
        assert!(matches!(err, RemotingError::Encode(_)), "{err}");
        sink.feed(command(10_000, 3)).await.unwrap();
        sink.flush().await.unwrap();
        let mut rest = BytesMut::from(&sink.io.out[..]);
        let a = RemotingCodec::new(1 << 24)
            .decode(&mut rest)
            .unwrap()
            .unwrap();
        let b = RemotingCodec::new(1 << 24)
            .decode(&mut rest)
            .unwrap()
            .unwrap();
        assert_eq!((a.opaque, b.opaque), (1, 3));
        assert!(rest.is_empty());
    }
}
