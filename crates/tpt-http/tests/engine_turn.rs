//! Who runs the engine (DESIGN.md, "The host drives while it waits"): a host waiting in
//! `News::wait` runs it on its own thread, so the engine thread does not wake per request; when
//! the host stops waiting, the engine thread takes over, so transfers and timers go on without
//! the host; and once it has, an idle engine thread does not wake at all.
//!
//! The engine is one per process and these tests count its thread's context switches, so they
//! run one at a time (`SERIAL`) in their own test binary.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tpt_http::spec::RequestSpec;
use tpt_http::{Client, Config, News};
use tpt_http_testserver::{Script, Server, Step};

static SERIAL: Mutex<()> = Mutex::new(());

fn client(config: Config) -> Client {
    Client::new(Config {
        enforce_https: false,
        ..config
    })
    .expect("client")
}

/// Voluntary plus involuntary context switches of the thread `tpt-http-engine` so far.
fn engine_switches() -> u64 {
    for task in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == "tpt-http-engine" {
            let status = std::fs::read_to_string(task.path().join("status")).expect("status");
            return status
                .lines()
                .filter(|l| {
                    l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:")
                })
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        }
    }
    panic!("no thread named tpt-http-engine");
}

/// Start a GET and wait for it in `News::wait`, as the runner's `--fps 0` does; its status.
fn fetch_waiting(client: &Client, news: &News, url: &str) -> u16 {
    let watcher = client.start(RequestSpec::get(url), Some(news.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !watcher.is_done() {
        assert!(Instant::now() < deadline, "{url}: not done within 10 s");
        news.wait(Some(Duration::from_secs(1)));
    }
    watcher.take().expect("outcome").status
}

/// One request at a time, the host waiting for each: before this design each request woke the
/// engine thread twice (its start, its response); now the engine thread only looks, once per
/// lease (2 ms), whether the host still runs it.
#[test]
fn a_waiting_host_runs_its_requests_without_waking_the_engine_thread() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::http();
    let url = format!("{}/bytes/100", server.base_url());
    let client = client(Config::default());
    let news = News::new();
    assert_eq!(fetch_waiting(&client, &news, &url), 200, "warm-up");
    let n: u64 = 400;
    let before = engine_switches();
    let started = Instant::now();
    for _ in 0..n {
        assert_eq!(fetch_waiting(&client, &news, &url), 200);
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let switches = engine_switches() - before;
    eprintln!("{n} requests in {elapsed_ms} ms: {switches} engine thread context switches");
    // At most one look per millisecond (twice the lease rate), plus a little; per request, the
    // old design made 2 or more.
    assert!(
        switches <= n / 8 + elapsed_ms,
        "{switches} engine thread switches for {n} requests in {elapsed_ms} ms"
    );
}

/// A host that waited once and then only polls (a game frame loop) still gets its transfers
/// done, and their timers fire on time: the engine thread takes the runtime back within a lease.
#[test]
fn the_engine_thread_takes_over_when_the_host_stops_waiting() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::http();
    let client = client(Config::default());
    let news = News::new();
    assert_eq!(
        fetch_waiting(&client, &news, &format!("{}/bytes/10", server.base_url())),
        200,
        "the host ran the engine for this one"
    );
    // An answer 100 ms late, and a timeout of 300 ms on a server that never answers: neither is
    // waited for with `News::wait`.
    let slow = Script::new(vec![
        Step::Sleep(Duration::from_millis(100)),
        Step::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()),
    ])
    .start();
    let silent = Script::new(vec![Step::Hold]).start();
    let timing_out = Client::new(Config {
        enforce_https: false,
        timeout: Some(Duration::from_millis(300)),
        ..Config::default()
    })
    .expect("client");
    let started = Instant::now();
    let a = client.start(RequestSpec::get(format!("{}/", slow.base_url())), None);
    let b = timing_out.start(RequestSpec::get(format!("{}/", silent.base_url())), None);
    let mut b_done = None;
    while !(a.is_done() && b_done.is_some()) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not done within 10 s"
        );
        if b_done.is_none() && b.is_done() {
            b_done = Some(started.elapsed());
        }
        // A frame of a game that polls.
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(a.take().expect("outcome").status, 200);
    assert_eq!(b.take().expect("outcome").status, 605);
    let b_done = b_done.expect("b done");
    assert!(
        b_done >= Duration::from_millis(300) && b_done < Duration::from_millis(800),
        "the 300 ms timeout fired after {b_done:?}"
    );
}

/// Once the host has stopped waiting and the engine thread has taken over, an idle engine thread
/// does not wake at all (P6), after a burst the host ran.
#[test]
fn after_a_host_ran_a_burst_the_idle_engine_thread_sleeps() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::http();
    let url = format!("{}/bytes/100", server.base_url());
    let client = client(Config::default());
    let news = News::new();
    for _ in 0..50 {
        assert_eq!(fetch_waiting(&client, &news, &url), 200);
    }
    // The takeover: one lease after the host left, the engine thread runs the runtime again
    // and then parks; give it ample time, then count over a window with nothing to do.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(100) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = engine_switches();
    let window = Instant::now();
    while window.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(engine_switches() - before, 0, "the idle engine thread woke up");
}

/// `Http::flush_and_wait` starts the requests batched starts queued, then waits: from inside
/// the engine when this thread runs it, else before sleeping on the condition variable (here:
/// a thread already inside a tokio runtime of its own).
#[test]
fn flush_and_wait_starts_the_queued_requests() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::http();
    let url = format!("{}/bytes/100", server.base_url());
    let lua = tpt_http::mlua::Lua::new();
    let http = tpt_http::install(
        &lua,
        Config {
            enforce_https: false,
            ..Config::default()
        },
    )
    .expect("install");
    http.set_batch_starts(true);
    let fetch = |how: &str| {
        lua.load(format!("req = http.get('{url}')"))
            .exec()
            .expect("http.get");
        assert_eq!(http.queued(), 1, "{how}: queued until a flush");
        let deadline = Instant::now() + Duration::from_secs(10);
        while http.in_flight() > 0 {
            assert!(Instant::now() < deadline, "{how}: not done within 10 s");
            http.flush_and_wait(Some(Duration::from_secs(1)));
        }
        assert_eq!(http.queued(), 0, "{how}");
        let code: i64 = lua
            .load("local _, code = req:finish() return code")
            .eval()
            .expect("finish");
        assert_eq!(code, 200, "{how}");
    };
    for _ in 0..3 {
        fetch("running the engine");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async { fetch("inside another runtime") });
}

/// A host that polls for news with a zero timeout, again and again with nothing in between,
/// runs its transfers itself: each such wait runs what is ready and polls for I/O, so the
/// engine thread need not take over (and could not soon: the host is never away for half a
/// lease). A zero timeout that returned without running the engine left every request to the
/// engine thread, whenever the busy host happened to be preempted for a millisecond.
#[test]
fn a_host_polling_with_zero_timeouts_still_runs_the_engine() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::http();
    let client = client(Config::default());
    let news = News::new();
    let url = format!("{}/bytes/100", server.base_url());
    assert_eq!(fetch_waiting(&client, &news, &url), 200, "warm-up");
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = engine_switches();
    let n = 20;
    for _ in 0..n {
        let watcher = client.start(RequestSpec::get(url.as_str()), Some(news.clone()));
        while !watcher.is_done() {
            assert!(Instant::now() < deadline, "not done within 20 s");
            news.wait(Some(Duration::ZERO));
        }
        assert_eq!(watcher.take().expect("outcome").status, 200);
    }
    let switches = engine_switches() - before;
    eprintln!("{n} requests polled with zero timeouts: {switches} engine thread context switches");
    assert!(
        switches <= n / 4,
        "{switches} engine thread switches for {n} requests"
    );
}

/// Waits longer than the hand-over alarm (a slow server) do not wake the engine thread each:
/// after one long wait the host takes the alarm off while it waits, and sets it again when it
/// leaves. (Without that, the alarm rang inside every such wait: one engine thread wake-up per
/// request.)
#[test]
fn long_waits_do_not_wake_the_engine_thread_each() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let slow = Script::new(vec![
        Step::Sleep(Duration::from_millis(15)),
        Step::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_vec()),
    ])
    .start();
    let url = format!("{}/", slow.base_url());
    let client = client(Config::default());
    let news = News::new();
    assert_eq!(fetch_waiting(&client, &news, &url), 200, "warm-up");
    let n = 12;
    let before = engine_switches();
    for _ in 0..n {
        assert_eq!(fetch_waiting(&client, &news, &url), 200);
    }
    let switches = engine_switches() - before;
    eprintln!("{n} requests of 15 ms each: {switches} engine thread context switches");
    assert!(
        switches <= n / 3,
        "{switches} engine thread switches for {n} slow requests"
    );
}
