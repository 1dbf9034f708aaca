//! Connection reuse with a cap on connections per origin.
//!
//! Per origin the pool keeps idle HTTP/1.1 connections, at most one shared HTTP/2 sender, the
//! number of connections open, and a queue of requests waiting for a slot.
//!
//! Invariants:
//! - `open` counts live connections plus connections being opened; it never exceeds the cap.
//!   A connection's [`SlotGuard`] lives in the connection (an HTTP/1.1 [`h1::Conn`], or an
//!   HTTP/2 connection's driver task), so `open` drops when the connection ends, however it ends.
//! - A connection is never dropped under the pool's lock (its guard takes that lock).
//! - Nothing a connection owns points back at the pool strongly: dropping the client drops the
//!   pool, its idle connections and senders, and so closes its idle connections.
//! - Every event that may let a waiter proceed (a slot freed, a connection released, an HTTP/2
//!   connection established) wakes waiters; a woken waiter re-checks from the top.

use super::activity::Activity;
use super::h1;
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// A shared HTTP/2 connection's sender and its activity stamp.
#[derive(Clone)]
pub(crate) struct H2 {
    pub(crate) send: http2::SendRequest<Full<Bytes>>,
    pub(crate) activity: Activity,
}

impl H2 {
    fn is_closed(&self) -> bool {
        self.send.is_closed()
    }
}

/// A connection ready to carry a request.
pub(crate) enum Conn {
    H1(h1::Conn),
    H2(H2),
}

#[derive(Default)]
struct HostState {
    open: usize,
    idle: Vec<h1::Conn>,
    h2: Option<H2>,
    waiters: VecDeque<oneshot::Sender<()>>,
}

impl HostState {
    fn wake_one(&mut self) {
        while let Some(w) = self.waiters.pop_front() {
            if w.send(()).is_ok() {
                return;
            }
        }
    }

    fn wake_all(&mut self) {
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

struct Shared {
    hosts: Mutex<HashMap<Origin, HostState>>,
    max_per_host: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<Origin, HostState>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The connection pool of one client.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

/// Held by a connection (or a connection attempt) for as long as it occupies a slot.
///
/// It points at the pool weakly: the pool holds idle connections (and HTTP/2 senders, which keep
/// their connection's driver task alive), and a strong pointer here would make that a cycle that
/// outlives the client. When the client goes, the pool and its idle connections go, and the
/// connections close.
pub(crate) struct SlotGuard {
    shared: std::sync::Weak<Shared>,
    origin: Origin,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let mut hosts = shared.lock();
        if let Some(st) = hosts.get_mut(&self.origin) {
            st.open = st.open.saturating_sub(1);
            st.wake_one();
            if st.open == 0 && st.waiters.is_empty() {
                hosts.remove(&self.origin);
            }
        }
    }
}

/// Where a connection goes: scheme, host and port of the origin server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Origin {
    pub(crate) fn of(url: &url::Url) -> Origin {
        Origin {
            https: url.scheme() == "https",
            host: url.host_str().unwrap_or_default().to_string(),
            port: url.port_or_known_default().unwrap_or(80),
        }
    }

    /// The host name without IPv6 brackets, for DNS and TLS.
    pub(crate) fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// What [`Pool::checkout`] decided.
pub(crate) enum Checkout {
    /// A pooled connection, idle until now (HTTP/1.1) or shared (HTTP/2).
    Ready(Conn),
    /// No connection free, but a slot: open one holding this guard.
    Open(SlotGuard),
}

impl Pool {
    pub(crate) fn new(max_per_host: usize) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                hosts: Mutex::new(HashMap::new()),
                max_per_host,
            }),
        }
    }

    /// Get a pooled connection to `origin`, or a slot to open one, waiting in line if needed.
    pub(crate) async fn checkout(&self, origin: &Origin) -> Checkout {
        let mut stale = Vec::new();
        loop {
            let waiter = {
                let mut hosts = self.shared.lock();
                let st = hosts.entry(origin.clone()).or_default();
                if let Some(h2) = &st.h2 {
                    if !h2.is_closed() {
                        return Checkout::Ready(Conn::H2(h2.clone()));
                    }
                    st.h2 = None;
                }
                while let Some(mut conn) = st.idle.pop() {
                    if conn.still_usable() {
                        drop(hosts);
                        drop(stale); // outside the lock: each takes it to give back its slot
                        return Checkout::Ready(Conn::H1(conn));
                    }
                    stale.push(conn);
                }
                if !stale.is_empty() {
                    None // give the stale connections' slots back, then look again
                } else if st.open < self.shared.max_per_host {
                    st.open += 1;
                    return Checkout::Open(SlotGuard {
                        shared: Arc::downgrade(&self.shared),
                        origin: origin.clone(),
                    });
                } else {
                    let (tx, rx) = oneshot::channel();
                    st.waiters.push_back(tx);
                    Some(rx)
                }
            };
            stale.clear();
            if let Some(waiter) = waiter {
                let _ = waiter.await;
            }
        }
    }

    /// Offer a new HTTP/2 connection for sharing.
    pub(crate) fn share_h2(&self, origin: &Origin, h2: &H2) {
        let mut hosts = self.shared.lock();
        let st = hosts.entry(origin.clone()).or_default();
        st.h2 = Some(h2.clone());
        st.wake_all();
    }

    /// Return an HTTP/1.1 connection after its response was read to the end.
    pub(crate) fn release(&self, origin: &Origin, conn: h1::Conn) {
        let mut hosts = self.shared.lock();
        let st = hosts.entry(origin.clone()).or_default();
        st.idle.push(conn);
        st.wake_one();
    }
}
