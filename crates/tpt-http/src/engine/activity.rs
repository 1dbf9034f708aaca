//! When a connection last moved a byte, for the idle timeout ("no byte for this long").
//!
//! [`Tracked`] wraps a connection's socket (plain or TLS) and stamps its [`Activity`] on every
//! read or write that moved data; [`watch`] runs a future and fails it once the connection has
//! been silent for the limit, however long the future as a whole takes.

use crate::failure::{Failure, FailureKind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// The time a connection last moved data.
#[derive(Clone, Debug, Default)]
pub(crate) struct Activity(Arc<AtomicU64>);

impl Activity {
    pub(crate) fn new() -> Activity {
        let a = Activity::default();
        a.touch();
        a
    }

    fn touch(&self) {
        self.0.store(now_us(), Ordering::Relaxed);
    }

    fn last_us(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A socket that stamps an [`Activity`] whenever bytes move.
pub(crate) struct Tracked<T> {
    inner: T,
    activity: Activity,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T, activity: Activity) -> Tracked<T> {
        Tracked { inner, activity }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Await `fut`; with a `limit`, fail with 605 once `activity` shows no byte moved for that long
/// (counting from when the wait began, so a connection idle in the pool does not count).
pub(crate) async fn watch<F: std::future::Future>(
    limit: Option<Duration>,
    activity: &Activity,
    fut: F,
) -> Result<F::Output, Failure> {
    let Some(limit) = limit else { return Ok(fut.await) };
    let limit_us = limit.as_micros() as u64;
    let started = now_us();
    tokio::pin!(fut);
    loop {
        let last = activity.last_us().max(started);
        let wait = Duration::from_micros((last + limit_us).saturating_sub(now_us()));
        tokio::select! {
            out = &mut fut => return Ok(out),
            _ = tokio::time::sleep(wait) => {
                if now_us() >= activity.last_us().max(started) + limit_us {
                    return Err(Failure::new(
                        FailureKind::TimedOut,
                        format!("no data for {} ms", limit.as_millis()),
                    ));
                }
            }
        }
    }
}
