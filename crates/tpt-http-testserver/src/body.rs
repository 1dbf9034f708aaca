//! Response bodies: small fixed bodies and the streamed test pattern.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Error type of response bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response the [`Server`](crate::Server) sends.
pub(crate) type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body with a fixed content (and so a known length).
pub(crate) fn full(data: impl Into<Bytes>) -> ResponseBody {
    Full::new(data.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// A fixed body that does not report its length, so hyper uses a
/// `Content-Length` header set by the handler or chunked encoding.
pub(crate) fn full_unsized(data: impl Into<Bytes>) -> ResponseBody {
    PatternBody::once(data.into()).boxed_unsync()
}

/// Byte `i` of the test pattern.
pub(crate) fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// Largest piece that is cut from the precomputed pattern table without copying.
const TABLE_PIECE: usize = 64 * 1024;

/// The pattern from offset 0, long enough that any piece of up to
/// `TABLE_PIECE` bytes at any offset modulo 251 is a slice of it.
fn pattern_table() -> &'static Bytes {
    static TABLE: OnceLock<Bytes> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..(TABLE_PIECE + 251) as u64)
            .map(pattern_byte)
            .collect::<Vec<u8>>()
            .into()
    })
}

/// `len` pattern bytes starting at pattern offset `start`.
fn pattern_piece(start: u64, len: usize) -> Bytes {
    let offset = (start % 251) as usize;
    if len <= TABLE_PIECE {
        pattern_table().slice(offset..offset + len)
    } else {
        (start..start + len as u64).map(pattern_byte).collect()
    }
}

/// Delay between the last piece and the deliberate error of an aborting
/// body, so hyper flushes the piece to the socket before it gives up.
const ABORT_DELAY: Duration = Duration::from_millis(100);

/// A streamed body made of test-pattern bytes (or one fixed chunk), sent in
/// pieces with optional pauses, optionally ending in an error that makes hyper
/// abort the connection (h1) or reset the stream (h2).
pub(crate) struct PatternBody {
    /// Fixed content; when `None` the pattern is sent.
    fixed: Option<Bytes>,
    pos: u64,
    total: u64,
    piece: usize,
    pause: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    exact: bool,
    fail_at_end: bool,
    failed: bool,
}

impl PatternBody {
    /// `total` pattern bytes in pieces of `piece` bytes with `pause` before
    /// every piece but the first. With `exact` the body reports its length.
    pub(crate) fn new(total: u64, piece: usize, pause: Duration, exact: bool) -> PatternBody {
        PatternBody {
            fixed: None,
            pos: 0,
            total,
            piece: piece.max(1),
            pause,
            sleep: None,
            exact,
            fail_at_end: false,
            failed: false,
        }
    }

    /// One fixed chunk, without a length hint.
    fn once(data: Bytes) -> PatternBody {
        let mut body = PatternBody::new(data.len() as u64, data.len(), Duration::ZERO, false);
        body.fixed = Some(data);
        body
    }

    /// After the last piece, wait a moment and then fail the body.
    pub(crate) fn fail_at_end(mut self) -> PatternBody {
        self.fail_at_end = true;
        self
    }
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(sleep) = this.sleep.as_mut() {
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        if this.pos >= this.total {
            if this.fail_at_end && !this.failed {
                this.failed = true;
                return Poll::Ready(Some(Err("response body aborted on purpose".into())));
            }
            return Poll::Ready(None);
        }
        let len = (this.total - this.pos).min(this.piece as u64) as usize;
        let data = match this.fixed.take() {
            Some(fixed) => fixed,
            None => pattern_piece(this.pos, len),
        };
        this.pos += len as u64;
        if this.pos < this.total && !this.pause.is_zero() {
            this.sleep = Some(Box::pin(tokio::time::sleep(this.pause)));
        } else if this.pos >= this.total && this.fail_at_end {
            this.sleep = Some(Box::pin(tokio::time::sleep(ABORT_DELAY)));
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.total && !self.fail_at_end
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.total - self.pos)
        } else {
            SizeHint::default()
        }
    }
}
