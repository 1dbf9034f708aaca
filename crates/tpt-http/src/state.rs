//! The state of one request, shared by the engine (which fills it) and the Lua binding (which
//! polls it). This module is the only place that state crosses threads.
//!
//! [`pair`] hands out two halves:
//!
//! ```text
//!   engine thread                         Lua thread
//!   Reporter ──progress / complete──▶ Shared ◀──status / progress / take── Watcher
//!                                                 drop(Watcher) ──abort──▶ transfer task
//! ```
//!
//! Invariants:
//! - `phase` goes `RUNNING -> DONE` once; the outcome is stored before `DONE` is published
//!   (release/acquire), so a watcher that sees `DONE` always finds the outcome.
//! - The Lua side never waits: `status` and `progress` are atomic loads; `take` locks a mutex that
//!   the engine holds only while moving the finished outcome in, never across I/O.
//! - Dropping the [`Watcher`] aborts the transfer task (cancel). Dropping the [`Reporter`] without
//!   completing (the task was aborted or the engine went away) completes with a 600 failure, so a
//!   watcher never waits forever.

use crate::failure::{Failure, FailureKind};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::Waker;
use std::time::Duration;

const RUNNING: u8 = 0;
const DONE: u8 = 1;

/// The finished result of a transfer.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Final HTTP status, or the 6xx failure code.
    pub status: u16,
    /// The whole body; empty on failure.
    pub body: Vec<u8>,
    /// Headers of the final response (lowercased names, trimmed values, wire order).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Why the transfer failed, if it did.
    pub failure: Option<Failure>,
}

impl Outcome {
    /// An outcome for a failure, keeping the headers that arrived before it.
    pub fn failed(failure: Failure, headers: Vec<(Vec<u8>, Vec<u8>)>) -> Outcome {
        Outcome {
            status: failure.code(),
            body: Vec::new(),
            headers,
            failure: Some(failure),
        }
    }
}

/// Wakes a host waiting for any request to change state (the runner's `--fps 0`).
///
/// The engine notifies once per burst (see the module docs); a notify costs a system call only
/// when the host is actually asleep in [`News::wait`]. While a host waits in [`News::wait`] its
/// own thread runs the engine (DESIGN.md, "The host drives while it waits"), so a request the
/// host waits for costs no switch between threads.
#[derive(Clone, Default)]
pub struct News {
    inner: Arc<NewsInner>,
    in_flight: Arc<AtomicUsize>,
}

#[derive(Default)]
struct NewsInner {
    /// There is news not yet taken by `wait`.
    flag: AtomicBool,
    /// Hosts asleep (or about to sleep) on `cv`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
    /// How many wakers wait in `wakers` (checked without the lock by `notify`).
    polled: AtomicUsize,
    /// Tasks waiting for news: the host's `wait` while it runs the engine on its own thread.
    wakers: Mutex<Vec<Waker>>,
}

impl News {
    /// A fresh notifier with no news.
    pub fn new() -> News {
        News::default()
    }

    /// Transfers started with this notifier that have not finished yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Record news and wake a waiter.
    pub fn notify(&self) {
        let n = &*self.inner;
        // SeqCst pairs with `wait` and `poll_news`: either they see the flag, or we see them as
        // a sleeper or a registered waker.
        if !n.flag.swap(true, Ordering::SeqCst) {
            if n.sleepers.load(Ordering::SeqCst) > 0 {
                let _guard = n.lock.lock().unwrap_or_else(|e| e.into_inner());
                n.cv.notify_all();
            }
            if n.polled.load(Ordering::SeqCst) > 0 {
                let wakers = {
                    let mut list = lock(&n.wakers);
                    n.polled.store(0, Ordering::SeqCst);
                    std::mem::take(&mut *list)
                };
                for w in wakers {
                    w.wake();
                }
            }
        }
    }

    /// Ready (and the news taken) once there is news; else `cx` is woken by the next notify.
    pub(crate) fn poll_news(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let n = &*self.inner;
        if n.flag.swap(false, Ordering::SeqCst) {
            return std::task::Poll::Ready(());
        }
        {
            let mut wakers = lock(&n.wakers);
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            n.polled.store(wakers.len(), Ordering::SeqCst);
        }
        if n.flag.swap(false, Ordering::SeqCst) {
            return std::task::Poll::Ready(());
        }
        std::task::Poll::Pending
    }

    /// Drop `waker`, which `poll_news` registered (its wait ended another way).
    pub(crate) fn forget_waker(&self, waker: &Waker) {
        let n = &*self.inner;
        if n.polled.load(Ordering::SeqCst) > 0 {
            let mut list = lock(&n.wakers);
            list.retain(|w| !w.will_wake(waker));
            n.polled.store(list.len(), Ordering::SeqCst);
        }
    }

    /// Wait until there is news or `timeout` passes; clears the news. Returns whether there was news.
    ///
    /// Once the engine has started, the calling thread runs the engine while it waits (unless
    /// it is inside a tokio runtime already): a request the host waits for then finishes on the
    /// host's own thread, with no thread to wake on either side.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let n = &*self.inner;
        if n.flag.swap(false, Ordering::SeqCst) {
            return true;
        }
        self.wait_starting(timeout, || {})
    }

    /// Call `start` (which starts transfers, e.g. [`crate::Http::flush`]), then wait as
    /// [`News::wait`] does. A thread that runs the engine while it waits calls `start` from
    /// there, so the transfers it starts wake no thread at all.
    pub fn wait_starting(&self, timeout: Option<Duration>, start: impl FnOnce()) -> bool {
        let n = &*self.inner;
        let mut start = Some(start);
        let mut run_start = || {
            if let Some(f) = start.take() {
                f();
            }
        };
        if let Some(driver) = DRIVER.get()
            && let Some(news) = driver.wait(self, timeout, &mut run_start)
        {
            return news;
        }
        run_start();
        if n.flag.swap(false, Ordering::SeqCst) {
            return true;
        }
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut guard = n.lock.lock().unwrap_or_else(|e| e.into_inner());
        n.sleepers.fetch_add(1, Ordering::SeqCst);
        while !n.flag.load(Ordering::SeqCst) {
            match deadline {
                None => guard = n.cv.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        break;
                    }
                    guard =
                        n.cv.wait_timeout(guard, d - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                }
            }
        }
        n.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        n.flag.swap(false, Ordering::SeqCst)
    }
}

/// Who can run the engine on a waiting host's thread (the engine registers itself).
pub(crate) trait Drive: Send + Sync {
    /// Call `start`, then wait for `news` (or `timeout`), on this thread while running the
    /// engine here; `None` when this thread cannot run it (then `start` was not called: the
    /// caller calls it and sleeps on the condition variable).
    fn wait(&self, news: &News, timeout: Option<Duration>, start: &mut dyn FnMut()) -> Option<bool>;
}

static DRIVER: OnceLock<&'static dyn Drive> = OnceLock::new();

/// Let [`News::wait`] run the engine on the waiting thread.
pub(crate) fn set_driver(driver: &'static dyn Drive) {
    let _ = DRIVER.set(driver);
}

struct Shared {
    abort: OnceLock<Box<dyn Abort>>,
    phase: AtomicU8,
    total: AtomicI64,
    received: AtomicI64,
    /// Body bytes received and not yet handed to Lua (by `read` or `take`).
    body: Mutex<Vec<u8>>,
    /// The host reads the body as it arrives: every arrival is news.
    streaming: std::sync::atomic::AtomicBool,
    outcome: Mutex<Option<Outcome>>,
    news: Option<News>,
}

/// [`Reporter::fill_with`] makes room when less than this is left...
const FILL_MIN_ROOM: usize = 16 * 1024;
/// ...of (at least) this much, the body growing geometrically beyond.
const FILL_GROWTH: usize = 64 * 1024;

/// Create the two halves of a request's state.
pub fn pair(news: Option<News>) -> (Reporter, Watcher) {
    if let Some(n) = &news {
        n.in_flight.fetch_add(1, Ordering::AcqRel);
    }
    let shared = Arc::new(Shared {
        abort: OnceLock::new(),
        phase: AtomicU8::new(RUNNING),
        total: AtomicI64::new(-1),
        received: AtomicI64::new(0),
        body: Mutex::new(Vec::new()),
        streaming: std::sync::atomic::AtomicBool::new(false),
        outcome: Mutex::new(None),
        news,
    });
    (
        Reporter {
            shared: Some(shared.clone()),
            protocol: AtomicU8::new(0),
        },
        Watcher { shared },
    )
}

/// The engine's half: reports progress and the outcome.
pub struct Reporter {
    shared: Option<Arc<Shared>>,
    /// The protocol of the last response head, for tracing: 0 none yet, 1 HTTP/1.x, 2 HTTP/2.
    protocol: AtomicU8,
}

impl Reporter {
    /// A response head arrived over `protocol` (`"h1"` or `"h2"`).
    pub fn set_protocol(&self, protocol: &str) {
        let p = if protocol == "h2" { 2 } else { 1 };
        self.protocol.store(p, Ordering::Relaxed);
    }

    /// The protocol of the last response head, if one came: `"h1"` or `"h2"`.
    pub fn protocol(&self) -> Option<&'static str> {
        match self.protocol.load(Ordering::Relaxed) {
            1 => Some("h1"),
            2 => Some("h2"),
            _ => None,
        }
    }

    /// A new transfer (or redirect hop) started: total unknown, nothing received.
    pub fn reset_progress(&self) {
        if let Some(s) = &self.shared {
            s.total.store(-1, Ordering::Relaxed);
            s.received.store(0, Ordering::Relaxed);
        }
    }

    /// The final response announced `total` body bytes (-1 if unknown).
    pub fn set_total(&self, total: i64) {
        if let Some(s) = &self.shared {
            s.total.store(total, Ordering::Relaxed);
        }
    }

    /// Body bytes of the final response arrived. The body waits in the shared state, where
    /// `Watcher::read` or `Watcher::take` collects it.
    pub fn append(&self, data: &[u8]) {
        self.append_decoded(data, data.len());
    }

    /// Like [`Reporter::append`] for a compressed body: `decoded` bytes join the body, while
    /// progress counts the `wire` bytes that carried them (so it stays comparable with the
    /// Content-Length).
    pub fn append_decoded(&self, decoded: &[u8], wire: usize) {
        if let Some(s) = &self.shared {
            lock(&s.body).extend_from_slice(decoded);
            s.received.fetch_add(wire as i64, Ordering::Relaxed);
            if s.streaming.load(Ordering::Relaxed) {
                notify(s);
            }
        }
    }

    /// Let `fill` append body bytes straight into the body buffer: it gets the buffer, with
    /// room made for more, and the most it may append (`max`), and returns how many bytes it
    /// appended. Returns what `fill` returned (`Ready(Ok(0))` once completed: nothing more is
    /// wanted).
    pub(crate) fn fill_with(
        &self,
        max: usize,
        fill: impl FnOnce(&mut Vec<u8>, usize) -> std::task::Poll<std::io::Result<usize>>,
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        let Some(s) = &self.shared else {
            return Poll::Ready(Ok(0)); // completed: nothing more is wanted
        };
        let mut body = lock(&s.body);
        if body.capacity() - body.len() < FILL_MIN_ROOM {
            body.reserve(max.min(FILL_GROWTH));
        }
        let before = body.len();
        let result = fill(&mut body, max);
        let n = body.len() - before;
        drop(body);
        if n > 0 {
            s.received.fetch_add(n as i64, Ordering::Relaxed);
            if s.streaming.load(Ordering::Relaxed) {
                notify(s);
            }
        }
        result
    }

    /// Make room for a body of `n` bytes (from Content-Length), so it is never reallocated.
    pub fn reserve(&self, n: usize) {
        if let Some(s) = &self.shared {
            // A failed reservation is fine: the body then grows as it arrives.
            let _ = lock(&s.body).try_reserve_exact(n);
        }
    }

    /// Body bytes received so far.
    pub fn received(&self) -> i64 {
        self.shared
            .as_ref()
            .map_or(0, |s| s.received.load(Ordering::Relaxed))
    }

    /// Is anyone still interested (the watcher has not been dropped)?
    pub fn is_watched(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| Arc::strong_count(s) > 1)
    }

    /// Publish the outcome and wake the host.
    pub fn complete(mut self, outcome: Outcome) {
        if let Some(s) = self.shared.take() {
            publish(&s, outcome);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn publish(s: &Shared, mut outcome: Outcome) {
    if outcome.failure.is_some() {
        // A failed transfer delivers no body (what `read` already returned stays read).
        *lock(&s.body) = Vec::new();
    } else if !outcome.body.is_empty() {
        lock(&s.body).append(&mut outcome.body);
    }
    *lock(&s.outcome) = Some(outcome);
    s.phase.store(DONE, Ordering::Release);
    if let Some(n) = &s.news {
        n.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
    notify(s);
}

/// Wake the host of `s` (deferred to the engine's next park when on the engine thread).
fn notify(s: &Shared) {
    if let Some(n) = &s.news {
        let deferred = DEFERRED_NEWS.with(|d| match d.borrow_mut().as_mut() {
            Some(list) => {
                if !list.iter().any(|m| Arc::ptr_eq(&m.inner, &n.inner)) {
                    list.push(n.clone());
                }
                true
            }
            None => false,
        });
        if !deferred {
            n.notify();
        }
    }
}

thread_local! {
    /// On the engine thread: notifiers to wake when the engine next goes idle, so a burst of
    /// completions wakes the host once. `None` on every other thread (notify at once).
    static DEFERRED_NEWS: RefCell<Option<Vec<News>>> = const { RefCell::new(None) };
}

/// Make the current thread defer news until [`flush_deferred_news`] (the engine thread does
/// this; it flushes each time before it parks).
pub(crate) fn defer_news_on_this_thread() {
    DEFERRED_NEWS.with(|d| *d.borrow_mut() = Some(Vec::new()));
}

/// Wake every host that got news since the last flush.
pub(crate) fn flush_deferred_news() {
    let pending = DEFERRED_NEWS.with(|d| d.borrow_mut().as_mut().map(std::mem::take));
    for n in pending.into_iter().flatten() {
        n.notify();
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(s) = self.shared.take() {
            let failure = Failure::new(FailureKind::Internal, "request abandoned by the engine");
            publish(&s, Outcome::failed(failure, Vec::new()));
        }
    }
}

/// The Lua side's half: polls without blocking; dropping it cancels the transfer.
pub struct Watcher {
    shared: Arc<Shared>,
}

/// How a [`Watcher`] stops the engine's task for its transfer (the engine's task handle).
pub(crate) trait Abort: Send + Sync {
    /// Stop the transfer; it then completes with a failure through its dropped [`Reporter`].
    fn abort(&self);
}

/// Where the engine puts the handle that lets a [`Watcher`] abort its task.
pub(crate) struct AbortSlot(std::sync::Weak<Shared>);

impl AbortSlot {
    pub(crate) fn set(&self, abort: Box<dyn Abort>) {
        if let Some(s) = self.0.upgrade() {
            let _ = s.abort.set(abort);
        }
    }
}

impl Watcher {
    pub(crate) fn abort_slot(&self) -> AbortSlot {
        AbortSlot(Arc::downgrade(&self.shared))
    }

    /// Has the transfer finished (successfully or not)?
    pub fn is_done(&self) -> bool {
        self.shared.phase.load(Ordering::Acquire) == DONE
    }

    /// `(total, received)`: the Content-Length of the current transfer (-1 if unknown) and the
    /// body bytes received so far.
    pub fn progress(&self) -> (i64, i64) {
        (
            self.shared.total.load(Ordering::Relaxed),
            self.shared.received.load(Ordering::Relaxed),
        )
    }

    /// Take the outcome once done, with the body not read yet; `None` while running or if
    /// already taken.
    pub fn take(&self) -> Option<Outcome> {
        if !self.is_done() {
            return None;
        }
        let mut outcome = lock(&self.shared.outcome).take()?;
        outcome.body = std::mem::take(&mut *lock(&self.shared.body));
        Some(outcome)
    }

    /// The body bytes that arrived since the last read (empty when none); what is read here is
    /// not returned again by [`Watcher::take`]. A failed transfer yields nothing more.
    pub fn read(&self) -> Vec<u8> {
        self.shared.streaming.store(true, Ordering::Relaxed);
        std::mem::take(&mut *lock(&self.shared.body))
    }

    /// Body bytes received and not yet read or taken: all the body memory this request holds.
    pub fn buffered(&self) -> usize {
        lock(&self.shared.body).len()
    }

    /// Why the transfer failed, once done; `None` while running or for an HTTP response.
    pub fn failure(&self) -> Option<Failure> {
        if !self.is_done() {
            return None;
        }
        lock(&self.shared.outcome)
            .as_ref()
            .and_then(|o| o.failure.clone())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // A transfer not started yet sees the watcher gone (`Reporter::is_watched`) and stops.
        if let Some(a) = self.shared.abort.get()
            && !self.is_done()
        {
            a.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_running_progress_done_take_once() {
        let news = News::new();
        let (rep, w) = pair(Some(news.clone()));
        assert_eq!(news.in_flight(), 1);
        assert!(!w.is_done());
        assert_eq!(w.progress(), (-1, 0));
        assert!(w.take().is_none());
        rep.set_total(10);
        rep.append(b"abcd");
        assert_eq!(w.progress(), (10, 4));
        assert_eq!(w.read(), b"abcd");
        assert_eq!(w.read(), b"");
        rep.append(b"ef");
        assert!(
            news.wait(Some(Duration::from_secs(5))),
            "a streaming reader hears of new bytes"
        );
        assert!(!news.wait(Some(Duration::from_millis(1))));
        rep.complete(Outcome {
            status: 200,
            body: b"x".to_vec(),
            ..Outcome::default()
        });
        assert_eq!(w.failure(), None);
        assert!(news.wait(Some(Duration::from_secs(5))));
        assert_eq!(news.in_flight(), 0);
        assert!(w.is_done());
        let o = w.take().expect("outcome");
        assert_eq!(
            (o.status, o.body.as_slice()),
            (200, &b"efx"[..]),
            "unread rest only"
        );
        assert!(w.take().is_none());
    }

    #[test]
    fn dropped_reporter_completes_with_600() {
        let (rep, w) = pair(None);
        assert!(rep.is_watched());
        rep.append(b"partial");
        drop(rep);
        assert!(w.is_done());
        assert_eq!(w.failure().map(|f| f.code()), Some(600));
        let o = w.take().expect("outcome");
        assert_eq!(
            (o.status, o.body.len()),
            (600, 0),
            "a failed transfer delivers no body"
        );
    }

    #[test]
    fn dropped_watcher_is_seen_by_reporter() {
        let (rep, w) = pair(None);
        drop(w);
        assert!(!rep.is_watched());
    }
}
