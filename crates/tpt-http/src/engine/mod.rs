//! The engine: the only part of the crate that knows tokio, hyper and rustls.
//!
//! One process-wide thread runs a single-threaded tokio runtime ([`runtime`]); every
//! [`Client`] spawns its transfers there and shares that thread. A client owns its policy, its
//! TLS configuration and its connection pool. The engine knows nothing of Lua: it takes a
//! [`RequestSpec`] and reports through a [`crate::state::Reporter`].

mod activity;
mod connect;
mod h1;
mod head;
mod pool;
mod redirect;
mod target;
mod trace;
mod transfer;
mod turn;

/// Entry points for `fuzz/` (feature `fuzzing`): engine parts run on untrusted bytes in memory.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// Read `answer` as a server's whole answer to a GET (or a HEAD), delivered in one piece
    /// when `split` is 0, else in pieces whose sizes follow `split`: the status and body, or
    /// the failure's reason.
    pub fn h1_response(answer: &[u8], head: bool, split: u8) -> Result<(u16, Vec<u8>), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let stream = super::h1::Stream::Mem(super::h1::MemStream::new(answer.to_vec(), split));
            let head_request = head;
            let mut conn = super::h1::Conn::new(stream, super::activity::Activity::new(), Box::new(()));
            let (head, mut framing) = conn
                .read_head(head_request)
                .await
                .map_err(|e| e.into_failure().reason().to_string())?;
            let (reporter, watcher) = crate::state::pair(None);
            while conn
                .read_into(&mut framing, usize::MAX, &reporter)
                .await
                .map_err(|f| f.reason().to_string())?
                > 0
            {}
            Ok((head.status, watcher.read()))
        })
    }

    /// The URL libcurl would request after following `location` from `base` (both as a script
    /// or a server wrote them), as the engine resolves it; or the status a refusal gives.
    pub fn follow_location(base: &[u8], location: &[u8]) -> Result<String, u16> {
        let base = super::target::CurlUrl::parse(base).ok_or(606u16)?;
        let location = crate::spec::trim(location);
        let next = base.resolve(location).map_err(|k| k.code())?;
        // The engine then reads the origin with the `url` crate (a host it refuses is 606).
        url::Url::parse(&next.text()).map_err(|_| 606u16)?;
        Ok(next.text())
    }
}

use crate::Error;
use crate::config::Config;
use crate::failure::{Failure, FailureKind};
use crate::spec::RequestSpec;
use crate::state::{self, News, Outcome, Watcher};
use std::sync::{Arc, OnceLock};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};
use turn::{EngineTurn, HostInside, ON_ENGINE_THREAD, Turn};

/// The process-wide engine runtime, started on first use with its thread `tpt-http-engine`.
pub(crate) fn runtime() -> &'static tokio::runtime::Handle {
    engine().rt.handle()
}

/// The engine: one current-thread runtime, run by the thread `tpt-http-engine` except while a
/// host runs it on its own thread as it waits for news (DESIGN.md, "The host drives while it
/// waits"). At most one thread runs it at a time (tokio's current-thread scheduler hands its
/// core to one `block_on` at a time).
struct Engine {
    rt: tokio::runtime::Runtime,
    turn: Turn,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name("tpt-http-engine")
            .on_thread_park(state::flush_deferred_news)
            .build()
            .unwrap_or_else(|e| panic!("tpt-http: cannot start the engine runtime: {e}"));
        let spawned = std::thread::Builder::new()
            .name("tpt-http-engine".into())
            // `engine()` waits here until this initialisation is done.
            .spawn(|| engine().run_engine_thread());
        if let Err(e) = spawned {
            panic!("tpt-http: cannot start the engine thread: {e}");
        }
        Engine {
            rt,
            turn: Turn::default(),
        }
    })
}

impl Engine {
    fn run_engine_thread(&'static self) {
        ON_ENGINE_THREAD.with(|on| on.set(true));
        state::defer_news_on_this_thread();
        state::set_driver(self);
        loop {
            self.rt.block_on(EngineTurn(&self.turn));
            // News held back for the next park goes out now: a host may be waiting for it
            // without running the engine (it waits for the runtime).
            state::flush_deferred_news();
            self.turn.wait_for_hosts_to_leave();
        }
    }
}

impl state::Drive for Engine {
    fn wait(&self, news: &News, timeout: Option<Duration>, start: &mut dyn FnMut()) -> Option<bool> {
        // Not on the engine thread, nor inside any tokio runtime (block_on would panic there).
        if ON_ENGINE_THREAD.with(|on| on.get()) || tokio::runtime::Handle::try_current().is_ok() {
            return None;
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        self.turn.host_enters();
        let _inside = HostInside(&self.turn);
        let got = self.rt.block_on(async {
            // Spawned from inside the runtime: onto its own queue, no wake-up.
            start();
            let sleep = deadline.map(|d| tokio::time::sleep_until(d.into()));
            let mut sleep = std::pin::pin!(sleep);
            let mut registered: Option<Waker> = None;
            let mut ran = false;
            let got = std::future::poll_fn(|cx| {
                if news.poll_news(cx).is_ready() {
                    return Poll::Ready(true);
                }
                registered = Some(cx.waker().clone());
                match sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
                    // A deadline already past (a host polling with a zero timeout) still lets
                    // the runtime run what is ready and poll for I/O once: a host that polls
                    // like this faster than a lease would otherwise hold the runtime without
                    // ever running it.
                    Some(Poll::Ready(())) if !ran => {
                        ran = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    Some(Poll::Ready(())) => Poll::Ready(false),
                    _ => {
                        ran = true;
                        Poll::Pending
                    }
                }
            })
            .await;
            if let Some(w) = registered {
                news.forget_waker(&w);
            }
            got
        });
        Some(got)
    }
}

pub(crate) struct ClientInner {
    pub(crate) config: Config,
    pub(crate) tls: connect::Tls,
    pub(crate) pool: pool::Pool,
    pub(crate) proxy: connect::ProxyRules,
}

/// A configured HTTP client: the policy, TLS settings and connection pool that requests share.
/// Cheap to clone; clones share the pool.
///
/// # Example
/// ```no_run
/// let client = tpt_http::Client::new(tpt_http::Config::default()).unwrap();
/// let watcher = client.start(tpt_http::spec::RequestSpec::get("https://example.com/"), None);
/// while !watcher.is_done() {
///     std::thread::sleep(std::time::Duration::from_millis(10));
/// }
/// let outcome = watcher.take().unwrap();
/// println!("{} {} bytes", outcome.status, outcome.body.len());
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Client {
    /// Build a client for `config`.
    ///
    /// # Errors
    /// The extra CA is not valid PEM or holds no certificate, or the proxy URL is not usable.
    pub fn new(config: Config) -> Result<Client, Error> {
        let tls = connect::Tls::new(&config)?;
        let proxy = connect::ProxyRules::from_config(&config)?;
        let pool = pool::Pool::new(config.max_host_connections.max(1));
        Ok(Client {
            inner: Arc::new(ClientInner {
                config,
                tls,
                pool,
                proxy,
            }),
        })
    }

    /// The policy this client enforces.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Start a transfer now and return its watcher; `news` is notified when it finishes.
    /// Never blocks: the transfer runs on the engine thread.
    pub fn start(&self, spec: RequestSpec, news: Option<News>) -> Watcher {
        let (watcher, pending) = self.prepare(spec, news);
        if let Some(p) = pending {
            p.start();
        }
        watcher
    }

    /// Set up a transfer without starting it: the watcher, and the transfer to [`Pending::start`]
    /// (`None` when it already finished, e.g. networking is disabled). Lets a host start a burst
    /// of requests back to back, waking the engine once.
    pub fn prepare(&self, spec: RequestSpec, news: Option<News>) -> (Watcher, Option<Pending>) {
        self.prepare_limited(spec, news, None)
    }

    /// [`Client::prepare`], with the transfer waiting (in order) for a slot of `limit` before
    /// it starts: how a Lua state's `max_in_flight` is kept.
    pub fn prepare_limited(
        &self,
        spec: RequestSpec,
        news: Option<News>,
        limit: Option<&InFlightLimit>,
    ) -> (Watcher, Option<Pending>) {
        let (reporter, watcher) = state::pair(news);
        if !self.inner.config.network_enabled {
            let failure = Failure::new(FailureKind::NetworkDisabled, "networking is disabled by the host");
            let outcome = Outcome::failed(failure, Vec::new());
            if let Some(trace) = trace::Trace::start(self.inner.config.trace.as_ref(), &spec) {
                trace.finish(&outcome, 0, None);
            }
            reporter.complete(outcome);
            return (watcher, None);
        }
        if let Some(max) = self.inner.config.max_request_bytes
            && spec.request_size() > max
        {
            // Refused before it is queued: the body copy is dropped here, not held while the
            // request waits for a permit or a connection.
            let failure = Failure::new(FailureKind::TooLarge, format!("request larger than {max} bytes"));
            reporter.complete(Outcome::failed(failure, Vec::new()));
            return (watcher, None);
        }
        let abort = watcher.abort_slot();
        let pending = Pending {
            client: self.inner.clone(),
            spec,
            reporter,
            abort,
            limit: limit.map(|l| l.0.clone()),
        };
        (watcher, Some(pending))
    }
}

impl state::Abort for tokio::task::AbortHandle {
    fn abort(&self) {
        tokio::task::AbortHandle::abort(self);
    }
}

/// How many transfers may run at once (`Config::max_in_flight`), shared by the transfers
/// prepared with it: more wait, in the order they were started. Cheap to clone.
#[derive(Clone, Debug)]
pub struct InFlightLimit(Arc<tokio::sync::Semaphore>);

impl InFlightLimit {
    /// A limit of `n` transfers at once (at least 1).
    pub fn new(n: usize) -> InFlightLimit {
        InFlightLimit(Arc::new(tokio::sync::Semaphore::new(n.max(1))))
    }

    /// The limit `config` asks for, if any.
    pub fn of(config: &Config) -> Option<InFlightLimit> {
        config.max_in_flight.map(InFlightLimit::new)
    }
}

/// A transfer prepared by [`Client::prepare`] and not started yet. Dropping it finishes the
/// transfer with a 600 failure.
pub struct Pending {
    client: Arc<ClientInner>,
    spec: RequestSpec,
    reporter: state::Reporter,
    abort: state::AbortSlot,
    limit: Option<Arc<tokio::sync::Semaphore>>,
}

/// [`Pending::start_all`] starts this many transfers, then lets them run before it goes on.
const START_SLICE: usize = 16;

impl Pending {
    /// Hand a batch of transfers to the engine thread, waking it once: one task spawned from
    /// this thread starts them all from the engine's own (where spawning wakes nothing).
    pub fn start_all(batch: Vec<Pending>) {
        let mut batch = batch;
        match batch.len() {
            0 => {}
            1 => {
                if let Some(p) = batch.pop() {
                    p.start();
                }
            }
            _ => {
                runtime().spawn(async move {
                    for (i, p) in batch.into_iter().enumerate() {
                        p.start();
                        if i % START_SLICE == START_SLICE - 1 {
                            // Let the transfers just started take their first steps before
                            // more start: 10,000 connections opening at once would each hold
                            // their opening state (a few KiB) at the same time.
                            tokio::task::yield_now().await;
                        }
                    }
                });
            }
        }
    }

    /// Hand the transfer to the engine thread.
    pub fn start(self) {
        let (client, spec, reporter, limit) = (self.client, self.spec, self.reporter, self.limit);
        let task = runtime().spawn(async move {
            let _permit = match limit {
                Some(l) => {
                    // Cancelled while it waits for its turn, it is still traced.
                    let queued = trace::Trace::start(client.config.trace.as_ref(), &spec);
                    let permit = l.acquire_owned().await.ok();
                    if let Some(q) = queued {
                        q.disarm();
                    }
                    permit
                }
                None => None,
            };
            transfer::run(client, spec, reporter).await;
        });
        self.abort.set(Box::new(task.abort_handle()));
    }
}

#[cfg(test)]
mod tests {
    /// The task spawned per request is copied into tokio's task cell (and its output slot):
    /// keep it small. Rare, large states (opening a TLS connection) are boxed.
    #[test]
    fn request_task_stays_small() {
        let client = super::Client::new(crate::Config::default()).expect("client");
        let (reporter, _watcher) = crate::state::pair(None);
        let fut = super::transfer::run(
            client.inner.clone(),
            crate::spec::RequestSpec::get("https://x/"),
            reporter,
        );
        let size = std::mem::size_of_val(&fut);
        assert!(size < 4096, "transfer future is {size} bytes");
    }
}
