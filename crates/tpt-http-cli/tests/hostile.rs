//! The hostile-server suite: servers on 127.0.0.1 that lie, stall, reset, drip, loop or speak
//! garbage. Each test drives one request through `tpt_http::Client` and checks its exact
//! outcome (status, body, `failure` reason, and headers where they matter) and that it ended
//! within a bound a little past the configured timeouts: no hang, no crash, no partial body
//! reported as success. RELIABILITY.md ("Hostile servers") tabulates the scenarios.
//!
//! The guards, for the whole kind (section "Guards" below): every request here runs alone on
//! the engine thread, with a bystander polling a healthy server started for it; the engine's CPU
//! time must stay within a budget linear in the bytes the hostile servers sent, the bystander
//! must never wait long, and the flood shapes are run at two sizes to show the CPU per byte
//! does not grow with the size.

use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use tpt_http::policy::HostRule;
use tpt_http::spec::RequestSpec;
use tpt_http::{Client, Config, News};
use tpt_http_testserver::{Script, ScriptedServer, Server, Step, TestCa};

/// A test that is still waiting after this long has found a hang.
const HANG: Duration = Duration::from_secs(5);
/// How long past its expected end a request may finish (two CPUs, tests in parallel).
const SLACK: Duration = Duration::from_millis(1500);
/// The bound for failures that need no timeout at all.
const PROMPT: Duration = Duration::from_secs(2);
/// A TLS body cut by a TCP close without close_notify.
const NO_CLOSE_NOTIFY: &str =
    "transfer failed while receiving the body: connection closed without TLS close_notify";
/// A body that ended (EOF) before its length or its last chunk.
const TRUNCATED: &str = "connection closed before the body was complete";

/// What a finished request gave.
struct Got {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    error: Option<String>,
    elapsed: Duration,
}

impl std::fmt::Debug for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{}: {}", String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
            .collect();
        f.debug_struct("Got")
            .field("status", &self.status)
            .field(
                "body",
                &String::from_utf8_lossy(&self.body[..self.body.len().min(200)]),
            )
            .field("body_len", &self.body.len())
            .field("error", &self.error)
            .field("headers", &headers)
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

/// The policy of most tests: plain http allowed, a short connect timeout, nothing else.
fn policy() -> Config {
    Config {
        enforce_https: false,
        connect_timeout: Duration::from_millis(800),
        ..Config::default()
    }
}

/// [`policy`] trusting only `ca` (no system roots).
fn tls_policy(ca: &TestCa) -> Config {
    Config {
        extra_ca_pem: Some(ca.cert_pem().into_bytes()),
        system_roots: false,
        ..policy()
    }
}

fn client(config: Config) -> Client {
    Client::new(config).expect("a usable test policy")
}

/// Run one GET to `url` on `client` and wait for its outcome (panics after [`HANG`]).
fn get(client: &Client, url: &str) -> Got {
    run(client, RequestSpec::get(url))
}

/// Run `spec` on `client`, under the guards, and wait for its outcome (panics after [`HANG`]).
fn run(client: &Client, spec: RequestSpec) -> Got {
    let url = String::from_utf8_lossy(&spec.url).into_owned();
    guarded(|| {
        let news = News::new();
        let started = Instant::now();
        let watcher = client.start(spec, Some(news.clone()));
        while !watcher.is_done() {
            let waited = started.elapsed();
            assert!(waited < HANG, "{url} hung: still running after {waited:?}");
            news.wait(Some(Duration::from_millis(50)));
        }
        let elapsed = started.elapsed();
        let outcome = watcher.take().expect("a finished request has an outcome");
        Got {
            status: outcome.status,
            body: outcome.body,
            headers: outcome.headers,
            error: outcome.failure.map(|f| f.reason().to_string()),
            elapsed,
        }
    })
}

fn fetch(config: Config, url: &str) -> Got {
    get(&client(config), url)
}

/// Exactly this status, body and failure reason, within `within`.
fn expect(got: &Got, status: u16, body: &[u8], error: Option<&str>, within: Duration) {
    assert_eq!(
        (got.status, got.body.as_slice(), got.error.as_deref()),
        (status, body, error),
        "outcome: {got:?}"
    );
    assert!(
        got.elapsed < within,
        "took {:?}, bound {within:?}: {got:?}",
        got.elapsed
    );
}

/// Not before `at_least` (a timeout must not fire early).
fn not_before(got: &Got, at_least: Duration) {
    assert!(
        got.elapsed >= at_least,
        "ended after {:?}, before {at_least:?}: {got:?}",
        got.elapsed
    );
}

fn send(bytes: impl AsRef<[u8]>) -> Step {
    Step::Send(bytes.as_ref().to_vec())
}

fn sleep(ms: u64) -> Step {
    Step::Sleep(Duration::from_millis(ms))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn url(server: &ScriptedServer) -> String {
    format!("{}/", server.base_url())
}

/// `pairs` as an outcome reports response headers (lower-case names, wire order).
fn headers(pairs: &[(&str, &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Guards
//
// The engine is one thread shared by every request of a process: whatever one hostile server
// makes it do, every other request waits for. So every scenario of this suite runs under
// `guarded`, which
// - runs it alone on the engine (one guarded section at a time in this process), so the engine
//   thread's CPU time over the section is the scenario's;
// - starts a healthy server and a bystander client that fetches from it every
//   `BYSTANDER_EVERY` while the scenario runs, and records each fetch's latency;
// - records the bytes the scenario's scripted servers sent (what the engine had to read);
// - fails when the bystander waited more than `BYSTANDER_BOUND`, or the engine's CPU time is
//   over a budget linear in those bytes (`CPU_BASE` + `CPU_PER_BYTE` per byte +
//   `CPU_PER_BYSTANDER` per bystander fetch).
// The budget is loose (a debug build on a busy 2-core machine must pass); it catches work that
// explodes. `grows_linearly` catches milder superlinear growth: it runs one flood shape at two
// sizes and compares the CPU per byte, which does not depend on the machine's speed.

/// Longest a bystander fetch may wait while a scenario runs.
const BYSTANDER_BOUND: Duration = Duration::from_millis(500);
/// Pause between two bystander fetches.
const BYSTANDER_EVERY: Duration = Duration::from_millis(50);
/// The engine CPU any scenario may use, whatever it received (connections, TLS handshakes).
const CPU_BASE: Duration = Duration::from_millis(250);
/// The engine CPU allowed per byte received (a debug build reads a byte of any scenario here
/// in 10 to 350 ns).
const CPU_PER_BYTE: Duration = Duration::from_nanos(1_000);
/// The engine CPU allowed per bystander fetch.
const CPU_PER_BYSTANDER: Duration = Duration::from_millis(10);
/// How much more CPU per byte the larger run of `grows_linearly` may use than the smaller.
const PER_BYTE_GROWTH: f64 = 3.0;

/// What the guards measured over one guarded section.
#[derive(Clone, Copy, Debug)]
struct Measured {
    /// CPU time (user and system) of the threads that ran the engine: its own thread, and the
    /// scenario's and the bystander's threads, which run it while they wait in `News::wait`.
    cpu: Duration,
    /// Bytes the scripted servers of this test sent.
    bytes: u64,
    /// Bystander fetches made, and the longest one.
    bystanders: usize,
    bystander_max: Duration,
}

/// One guarded section at a time in this process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// The byte meters of the scripted servers this test (thread) started.
    static METERS: std::cell::RefCell<Vec<tpt_http_testserver::SentMeter>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The last guarded section's measures.
    static LAST: std::cell::Cell<Option<Measured>> = const { std::cell::Cell::new(None) };
}

/// A scripted server whose bytes count for this test's guards.
fn scripted(steps: Vec<Step>) -> ScriptedServer {
    Script::new(steps).serve()
}

trait Serve {
    /// Start the script as a server whose bytes count for this test's guards.
    fn serve(self) -> ScriptedServer;
}

impl Serve for Script {
    fn serve(self) -> ScriptedServer {
        let server = self.start();
        METERS.with(|m| m.borrow_mut().push(server.sent_meter()));
        server
    }
}

fn bytes_sent() -> u64 {
    METERS.with(|m| m.borrow().iter().map(|m| m.get()).sum())
}

/// CPU time of the calling thread so far.
fn this_thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(
        stat.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

/// CPU time of the engine thread (`tpt-http-engine`) so far; zero before it starts.
fn engine_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == "tpt-http-engine" {
            // schedstat: time on a CPU (ns), time waiting to run, slices.
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            let ns = stat
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            return Duration::from_nanos(ns);
        }
    }
    Duration::ZERO
}

/// Fetch from a healthy server every [`BYSTANDER_EVERY`] until `stop` says so; each fetch's
/// latency (each must be a 200), and this thread's CPU time. A fetch still waiting after
/// [`HANG`] ends the bystander, its wait recorded.
fn bystander(base: String, stop: std::sync::mpsc::Receiver<()>) -> (Vec<Duration>, Duration) {
    let client = client(policy());
    let news = News::new();
    let mut latencies = Vec::new();
    loop {
        let started = Instant::now();
        let watcher = client.start(RequestSpec::get(format!("{base}/bytes/64")), Some(news.clone()));
        while !watcher.is_done() {
            if started.elapsed() >= HANG {
                latencies.push(started.elapsed());
                return (latencies, this_thread_cpu());
            }
            news.wait(Some(ms(5)));
        }
        latencies.push(started.elapsed());
        let outcome = watcher.take().expect("outcome");
        assert_eq!((outcome.status, outcome.body.len()), (200, 64), "bystander");
        match stop.recv_timeout(BYSTANDER_EVERY) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return (latencies, this_thread_cpu()),
        }
    }
}

/// Run `scenario` under the guards (see above); its measures are in [`last_measured`].
fn guarded<T>(scenario: impl FnOnce() -> T) -> T {
    let _alone = SERIAL.lock().unwrap_or_else(|poison| poison.into_inner());
    let healthy = Server::http();
    let (stop, stopped) = std::sync::mpsc::channel();
    let base = healthy.base_url();
    let (bytes, cpu, own) = (bytes_sent(), engine_cpu(), this_thread_cpu());
    let by = std::thread::spawn(move || bystander(base, stopped));
    let out = scenario();
    let _ = stop.send(());
    let (latencies, bystander_cpu) = by.join().expect("the bystander failed");
    let m = Measured {
        cpu: engine_cpu().saturating_sub(cpu) + this_thread_cpu().saturating_sub(own) + bystander_cpu,
        bytes: bytes_sent().saturating_sub(bytes),
        bystanders: latencies.len(),
        bystander_max: latencies.iter().copied().max().unwrap_or_default(),
    };
    LAST.with(|l| l.set(Some(m)));
    let name = std::thread::current().name().unwrap_or("?").to_string();
    eprintln!(
        "guard {name}: engine cpu {:?}, {} bytes received, {} bystander fetches, longest {:?}",
        m.cpu, m.bytes, m.bystanders, m.bystander_max
    );
    assert!(
        m.bystander_max <= BYSTANDER_BOUND,
        "{name}: a bystander request waited {:?} (bound {BYSTANDER_BOUND:?}): {m:?}",
        m.bystander_max
    );
    let budget = CPU_BASE + CPU_PER_BYTE * m.bytes as u32 + CPU_PER_BYSTANDER * m.bystanders as u32;
    assert!(
        m.cpu <= budget,
        "{name}: the engine used {:?} of CPU, budget {budget:?} for {} bytes: {m:?}",
        m.cpu,
        m.bytes
    );
    out
}

fn last_measured() -> Measured {
    LAST.with(|l| l.get()).expect("a guarded section ran")
}

/// Fetch the answer `steps(n)` at `n` and at 8 `n`, check each outcome with `check`, and fail
/// when the engine's CPU per byte received at 8 `n` is more than [`PER_BYTE_GROWTH`] times
/// that at `n` (plus 5 ms for timer noise): a cost that grows faster than the bytes. Fixed
/// costs (the connection, the bystander) weigh more in the smaller run, which only makes the
/// test more lenient; a noisy reading is given one more try.
fn grows_linearly(n: usize, steps: impl Fn(usize) -> Vec<Step>, check: impl Fn(usize, &Got)) {
    let measure = |k: usize| {
        let server = scripted(steps(k));
        let got = fetch(policy(), &url(&server));
        check(k, &got);
        last_measured()
    };
    let mut tries = Vec::new();
    for _ in 0..2 {
        let (small, large) = (measure(n), measure(8 * n));
        let per_byte = small.cpu.as_secs_f64() / small.bytes.max(1) as f64;
        let allowed = PER_BYTE_GROWTH * per_byte * large.bytes as f64 + 0.005;
        if large.cpu.as_secs_f64() <= allowed {
            return;
        }
        tries.push((small, large, allowed));
    }
    panic!("engine CPU grows faster than the bytes received (small, large, allowed s): {tries:?}");
}

// ---------------------------------------------------------------------------------------------
// Connections that end badly

/// One connection's worth of canned bytes: a server that reads the request head, sends
/// `response` and closes; fetched under the default test policy.
fn canned(response: &[u8]) -> Got {
    let server = scripted(vec![send(response)]);
    fetch(policy(), &url(&server))
}

#[test]
fn reset_mid_body() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        send([b'x'; 100]),
        sleep(100),
        Step::Reset,
    ]);
    let got = fetch(policy(), &url(&server));
    expect(
        &got,
        600,
        b"",
        Some("transfer failed while receiving the body: Connection reset by peer (os error 104)"),
        PROMPT,
    );
}

#[test]
fn reset_before_any_response() {
    let server = scripted(vec![Step::Reset]);
    let got = fetch(policy(), &url(&server));
    expect(
        &got,
        600,
        b"",
        Some("receiving the response failed: Connection reset by peer (os error 104)"),
        PROMPT,
    );
}

#[test]
fn content_length_longer_than_body_then_close() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        send([b'x'; 100]),
        Step::Close,
    ]);
    let got = fetch(policy(), &url(&server));
    expect(&got, 600, b"", Some(TRUNCATED), PROMPT);
}

/// Bytes after the Content-Length bytes are not body; here they even form a whole second
/// response. The body is exactly CL bytes, and the connection is not reused (else the next
/// request would get the smuggled response): the second request opens a new connection.
#[test]
fn content_length_shorter_than_body() {
    // The extra bytes come with the response, or after it while the connection is idle: either
    // way the connection is not used again, so they are never taken for the next answer.
    for late in [false, true] {
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec();
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled".to_vec();
        let steps = if late {
            vec![Step::Send(first), sleep(20), Step::Send(extra), Step::Hold]
        } else {
            vec![Step::Send([first, extra].concat()), Step::Hold]
        };
        let server = scripted(steps);
        let client = client(policy());
        let got = get(&client, &url(&server));
        expect(&got, 200, b"hello", None, PROMPT);
        if late {
            // Read head, first response, pause, extra bytes: four steps done.
            let deadline = Instant::now() + PROMPT;
            while server.steps_done() < 4 {
                assert!(Instant::now() < deadline, "the server never sent the extra bytes");
                std::thread::sleep(ms(2));
            }
        }
        let second = get(&client, &url(&server));
        expect(&second, 200, b"hello", None, PROMPT);
        assert_eq!(
            server.connections(),
            2,
            "the connection with extra bytes is not reused (late: {late})"
        );
    }
}

#[test]
fn chunked_bad_hex_size() {
    let got = canned(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n",
    );
    expect(&got, 600, b"", Some("malformed response: bad chunk size"), PROMPT);
}

#[test]
fn chunked_missing_crlf_after_data() {
    let got =
        canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX5\r\nworld\r\n0\r\n\r\n");
    expect(
        &got,
        600,
        b"",
        Some("malformed response: chunk data longer than its size"),
        PROMPT,
    );
}

#[test]
fn chunked_eof_inside_a_chunk() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhello"),
        Step::Close,
    ]);
    let got = fetch(policy(), &url(&server));
    expect(&got, 600, b"", Some(TRUNCATED), PROMPT);
}

/// Whole chunks, then the end of the stream before the last (zero) chunk: truncated, not done.
#[test]
fn chunked_eof_before_the_last_chunk() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
        Step::Close,
    ]);
    let got = fetch(policy(), &url(&server));
    expect(&got, 600, b"", Some(TRUNCATED), PROMPT);
}

/// Bytes sent on a pooled connection after its response ended (here a whole second response)
/// close that connection: the next request does not read them as its answer.
#[test]
fn late_bytes_on_an_idle_pooled_connection() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
        sleep(100),
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"),
        Step::Hold,
    ]);
    let client = client(policy());
    expect(&get(&client, &url(&server)), 200, b"hello", None, PROMPT);
    std::thread::sleep(ms(300));
    expect(&get(&client, &url(&server)), 200, b"hello", None, PROMPT);
    assert_eq!(server.connections(), 2);
}

/// The server takes the next request on a kept-alive connection and closes without answering
/// (the keep-alive race): the request is retried once on a new connection.
#[test]
fn reused_connection_closed_without_an_answer_is_retried() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
        Step::ReadHead,
        Step::Close,
    ]);
    let client = client(policy());
    expect(&get(&client, &url(&server)), 200, b"hello", None, PROMPT);
    expect(&get(&client, &url(&server)), 200, b"hello", None, PROMPT);
    assert_eq!(server.connections(), 2);
    assert_eq!(
        server.heads().len(),
        3,
        "the second request reached both connections"
    );
}

/// An 8 MiB upload answered with 413 before the server read it (then an orderly close that
/// drains the rest): the 413 is the outcome, not a write error.
#[test]
fn early_final_response_during_an_upload() {
    let server = scripted(vec![
        send(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig"),
        Step::Close,
    ]);
    let got = run(&client(policy()), post(&url(&server), 8 << 20));
    expect(&got, 413, b"big", None, PROMPT);
}

/// A POST of `size` bytes to `url`.
fn post(url: &str, size: usize) -> RequestSpec {
    let mut spec = RequestSpec::get(url);
    spec.post = Some(tpt_http::spec::PostBody::Raw(vec![b'p'; size]));
    spec
}

/// A 32 MiB upload answered with 200 right after the request head; the server then neither
/// reads nor closes. The early answer is the answer (as libcurl reports it), at once, and the
/// connection (with the body half sent) is not reused: the next request opens another.
#[test]
fn early_final_response_during_an_upload_to_a_server_that_stops_reading() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly"),
        Step::Hold,
    ]);
    let client = client(policy());
    let got = run(&client, post(&url(&server), 32 << 20));
    expect(&got, 200, b"early", None, PROMPT);
    let again = run(&client, post(&url(&server), 32 << 20));
    expect(&again, 200, b"early", None, PROMPT);
    assert_eq!(server.connections(), 2, "the half-sent connection is not reused");
}

/// The same over TLS.
#[test]
fn early_final_response_during_an_upload_over_tls() {
    let ca = TestCa::new();
    let server = tls_script(
        &ca,
        &[b"http/1.1"],
        vec![
            send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"),
            Step::Hold,
        ],
    )
    .serve();
    let got = run(&client(tls_policy(&ca)), post(&url(&server), 32 << 20));
    expect(&got, 403, b"no", None, PROMPT);
}

/// An interim `100 Continue` sent before the server reads the body is not an early answer:
/// the upload goes on, and the final answer (after the whole body) is the outcome.
#[test]
fn interim_answer_during_an_upload_does_not_stop_it() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let size = 16usize << 20;
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").expect("100");
        // Let the client fill the socket buffers (and find the 100) before reading: not
        // needed for the outcome, only for the scenario to happen.
        std::thread::sleep(ms(200));
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        while got < size {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        let body = got.to_string();
        let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        s.write_all(answer.as_bytes()).expect("answer");
    });
    let got = run(
        &client(policy()),
        post(&format!("http://127.0.0.1:{port}/"), size),
    );
    expect(&got, 200, size.to_string().as_bytes(), None, PROMPT);
    server.join().expect("server");
}

// ---------------------------------------------------------------------------------------------
// Heads that are not HTTP, or too much of it

#[test]
fn garbage_instead_of_a_status_line() {
    // libcurl: "Received HTTP/0.9 when not allowed", CURLE_UNSUPPORTED_PROTOCOL, so 601 in TPT.
    let got = canned(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
    expect(
        &got,
        601,
        b"",
        Some("malformed response: not an HTTP/1.x status line (HTTP/0.9 is refused)"),
        PROMPT,
    );
}

#[test]
fn one_mib_of_headers() {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..16 {
        head.extend_from_slice(format!("X-Pad-{i}: ").as_bytes());
        head.extend_from_slice(&[b'a'; 64 * 1024]);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    let server = scripted(vec![Step::Send(head)]);
    let got = fetch(policy(), &url(&server));
    expect(
        &got,
        600,
        b"",
        Some("malformed response: head longer than 300 KiB"),
        PROMPT,
    );
}

/// One header line over libcurl's 100 KiB line limit fails; one under it is read.
#[test]
fn header_line_over_100_kib() {
    let head = |n: usize| {
        let mut head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        head.extend_from_slice(&vec![b'a'; n]);
        head.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
        head
    };
    let got = canned(&head(90 * 1024));
    expect(&got, 200, b"ok", None, PROMPT);
    let got = canned(&head(100 * 1024));
    expect(
        &got,
        600,
        b"",
        Some("malformed response: header line longer than 100 KiB"),
        PROMPT,
    );
}

/// Heads of 2,000 and 5,000 small header lines: libcurl has no count limit, only the size one.
#[test]
fn too_many_headers() {
    let head = |n: usize| {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..n {
            head.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
        head
    };
    for n in [2000, 5000] {
        let server = scripted(vec![Step::Send(head(n))]);
        let got = fetch(policy(), &url(&server));
        expect(&got, 200, b"ok", None, PROMPT);
        assert_eq!(got.headers.len(), n + 1);
        assert_eq!(got.headers[1999], (b"x-h1999".to_vec(), b"1999".to_vec()));
    }
}

/// Header lines (4 KiB at a time) that never end, quickly: the head limit ends it.
#[test]
fn headers_that_never_end_quickly() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\n"),
        Step::Repeat {
            bytes: b"X-Again: and again\r\n".repeat(200),
            every: ms(1),
            for_at_most: Duration::from_secs(30),
        },
    ]);
    let got = fetch(policy(), &url(&server));
    expect(
        &got,
        600,
        b"",
        Some("malformed response: head longer than 300 KiB"),
        PROMPT,
    );
}

/// One header line every 100 ms, forever: only the total timeout can end it.
#[test]
fn headers_that_never_end_slowly_hit_the_total_timeout() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\n"),
        Step::Repeat {
            bytes: b"X-Again: and again\r\n".to_vec(),
            every: ms(100),
            for_at_most: Duration::from_secs(30),
        },
    ]);
    let got = fetch(
        Config {
            timeout: Some(ms(700)),
            ..policy()
        },
        &url(&server),
    );
    expect(
        &got,
        605,
        b"",
        Some("request timed out after 700 ms"),
        ms(700) + SLACK,
    );
    not_before(&got, ms(700));
}

/// The idle timeout is "no byte for this long": a head arriving a line every 150 ms under a
/// 400 ms idle timeout is not idle, even though the whole head takes 900 ms.
#[test]
fn head_dripped_under_the_idle_timeout_completes() {
    let mut steps = vec![send(b"HTTP/1.1 200 OK\r\n")];
    for i in 0..6 {
        steps.push(sleep(150));
        steps.push(send(format!("X-Line-{i}: {i}\r\n")));
    }
    steps.push(sleep(150));
    steps.push(send(b"Content-Length: 2\r\n\r\nok"));
    let server = scripted(steps);
    let got = fetch(
        Config {
            idle_timeout: Some(ms(400)),
            ..policy()
        },
        &url(&server),
    );
    expect(&got, 200, b"ok", None, ms(1050) + SLACK);
}

/// Bare LF line endings (no CR) fail: TPT's header callback refuses a line not ending in CRLF,
/// and libcurl then fails the transfer.
#[test]
fn bare_lf_line_endings() {
    let got = canned(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
    expect(
        &got,
        600,
        b"",
        Some("malformed response: a head line not ending in CRLF (TPT refuses it)"),
        PROMPT,
    );
}

/// A line without `:` fails the transfer at once, as in libcurl (which refuses it before TPT's
/// callback could skip it).
#[test]
fn header_line_without_a_colon() {
    let got = canned(b"HTTP/1.1 200 OK\r\nGarbage line\r\nContent-Length: 2\r\n\r\nok");
    expect(
        &got,
        600,
        b"",
        Some("malformed response: header line without a colon"),
        PROMPT,
    );
}

/// `Content-Length : 2` (space before the colon) is listed as the header `content-length ` (as
/// libcurl and TPT's callback do) and is no Content-Length: the body runs to the close, and the
/// connection is not reused, so nothing can be smuggled behind it.
#[test]
fn space_before_the_colon() {
    let got = canned(b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok");
    expect(&got, 200, b"ok", None, PROMPT);
    assert_eq!(got.headers, [(b"content-length ".to_vec(), b"2".to_vec())]);
}

/// Obsolete line folding: TPT's callback sees each line on its own, so a continuation line is
/// listed as its own header when it has a colon, and skipped when not.
#[test]
fn obsolete_line_folding() {
    let got = canned(b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\tc: d\r\nContent-Length: 2\r\n\r\nok");
    expect(&got, 200, b"ok", None, PROMPT);
    assert_eq!(
        got.headers,
        [
            (b"x-a".to_vec(), b"a".to_vec()),
            (b"\tc".to_vec(), b"d".to_vec()),
            (b"content-length".to_vec(), b"2".to_vec())
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Bodies that never end, drip or stall

#[test]
fn body_that_never_ends_with_a_size_cap() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\n\r\n"),
        Step::Repeat {
            bytes: vec![b'z'; 16 * 1024],
            every: ms(1),
            for_at_most: Duration::from_secs(30),
        },
    ]);
    let got = fetch(
        Config {
            max_response_bytes: Some(256 * 1024),
            ..policy()
        },
        &url(&server),
    );
    expect(&got, 600, b"", Some("response larger than 262144 bytes"), PROMPT);
}

#[test]
fn body_that_never_ends_with_a_total_timeout() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Step::Repeat {
            bytes: b"400\r\n"
                .iter()
                .copied()
                .chain([b'z'; 1024])
                .chain(*b"\r\n")
                .collect(),
            every: ms(5),
            for_at_most: Duration::from_secs(30),
        },
    ]);
    let got = fetch(
        Config {
            timeout: Some(ms(700)),
            ..policy()
        },
        &url(&server),
    );
    expect(
        &got,
        605,
        b"",
        Some("request timed out after 700 ms"),
        ms(700) + SLACK,
    );
    not_before(&got, ms(700));
}

/// A byte every 150 ms under a 400 ms idle timeout: 1.2 s in all, and it completes.
#[test]
fn slow_drip_below_the_idle_timeout_completes() {
    let mut steps = vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")];
    for byte in b"abcdefgh" {
        steps.push(sleep(150));
        steps.push(send([*byte]));
    }
    let server = scripted(steps);
    let got = fetch(
        Config {
            idle_timeout: Some(ms(400)),
            ..policy()
        },
        &url(&server),
    );
    expect(&got, 200, b"abcdefgh", None, ms(1200) + SLACK);
    not_before(&got, ms(1150));
}

#[test]
fn stall_beyond_the_idle_timeout() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nabcd"),
        sleep(5000),
        send(b"efgh"),
    ]);
    let got = fetch(
        Config {
            idle_timeout: Some(ms(400)),
            ..policy()
        },
        &url(&server),
    );
    expect(&got, 605, b"", Some("no data for 400 ms"), ms(400) + SLACK);
    not_before(&got, ms(400));
}

#[test]
fn accepted_but_never_answered_with_an_idle_timeout() {
    let server = scripted(vec![Step::Hold]);
    let got = fetch(
        Config {
            idle_timeout: Some(ms(400)),
            ..policy()
        },
        &url(&server),
    );
    expect(&got, 605, b"", Some("no data for 400 ms"), ms(400) + SLACK);
    not_before(&got, ms(400));
}

#[test]
fn accepted_but_never_answered_with_only_a_total_timeout() {
    let server = scripted(vec![Step::Hold]);
    let got = fetch(
        Config {
            timeout: Some(ms(600)),
            ..policy()
        },
        &url(&server),
    );
    expect(
        &got,
        605,
        b"",
        Some("request timed out after 600 ms"),
        ms(600) + SLACK,
    );
    not_before(&got, ms(600));
}

/// With one connection per host (TPT's setting), a request that timed out against a server
/// holding its connection gives the slot back: the next one gets its own 400 ms, not a wait.
#[test]
fn a_timed_out_request_frees_its_connection_slot() {
    let server = scripted(vec![Step::Hold]);
    let client = client(Config {
        idle_timeout: Some(ms(400)),
        max_host_connections: 1,
        ..policy()
    });
    for _ in 0..2 {
        let got = get(&client, &url(&server));
        expect(&got, 605, b"", Some("no data for 400 ms"), ms(400) + SLACK);
        not_before(&got, ms(400));
    }
    assert_eq!(server.connections(), 2);
}

/// Chunked trailers that never end, quickly: bounded by the trailer limit (64 KiB).
#[test]
fn trailers_that_never_end() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"),
        Step::Repeat {
            bytes: b"X-Trailer: t\r\n".repeat(100),
            every: ms(1),
            for_at_most: Duration::from_secs(30),
        },
    ]);
    let got = fetch(policy(), &url(&server));
    expect(
        &got,
        600,
        b"",
        Some("malformed response: trailers too long"),
        PROMPT,
    );
}

/// A chunk-size line whose extension never ends, quickly: bounded by the line limit (4 KiB).
#[test]
fn chunk_extension_that_never_ends() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="),
        Step::Repeat {
            bytes: b"a".repeat(4000),
            every: ms(1),
            for_at_most: Duration::from_secs(30),
        },
    ]);
    let got = fetch(policy(), &url(&server));
    expect(
        &got,
        600,
        b"",
        Some("malformed response: chunk line too long"),
        PROMPT,
    );
}

// ---------------------------------------------------------------------------------------------
// Redirects and addresses

#[test]
fn redirect_loop() {
    let server = scripted(vec![send(
        b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )]);
    let got = fetch(policy(), &url(&server));
    expect(&got, 611, b"", Some("more than 10 redirects"), PROMPT);
    assert_eq!(server.connections(), 11, "the first request and 10 redirects");
}

#[test]
fn redirect_to_http_under_https_only() {
    let ca = TestCa::new();
    let https = Server::https(&ca);
    let target = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")]);
    let got = fetch(
        Config {
            enforce_https: true,
            ..tls_policy(&ca)
        },
        &format!(
            "https://127.0.0.1:{}/redirect-to?url={}",
            https.port(),
            url(&target)
        ),
    );
    expect(&got, 601, b"", Some("only https is allowed by this host"), PROMPT);
    assert_eq!(target.connections(), 0, "the http target is never contacted");
}

/// A redirect announcing a 10-byte body that sends 3 bytes and stalls, under a 400 ms idle
/// timeout. Either the redirect is followed without its body, or the stall is a 605; never a
/// wait past the idle timeout.
#[test]
fn redirect_whose_body_stalls_under_an_idle_timeout() {
    let target = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")]);
    let first = scripted(vec![
        send(format!(
            "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 10\r\n\r\nabc",
            url(&target)
        )),
        Step::Hold,
    ]);
    let got = fetch(
        Config {
            idle_timeout: Some(ms(400)),
            ..policy()
        },
        &url(&first),
    );
    let outcome = (got.status, got.body.as_slice(), got.error.as_deref());
    assert!(
        outcome == (200, &b"final"[..], None) || outcome == (605, &b""[..], Some("no data for 400 ms")),
        "outcome: {got:?}"
    );
    assert!(got.elapsed < ms(400) + SLACK, "took {:?}: {got:?}", got.elapsed);
}

/// A 302 whose chunked body drips one byte every 800 ms, forever: each byte comes before any
/// idle timeout, so only a bound on the whole drain ends it. The redirect is followed after at
/// most a second of draining (or the idle timeout, if shorter), with or without an idle timeout.
#[test]
fn redirect_whose_body_drips_forever() {
    let target = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")]);
    let first = scripted(vec![
        send(format!(
            "HTTP/1.1 302 Found\r\nLocation: {}done\r\nTransfer-Encoding: chunked\r\n\r\n",
            url(&target)
        )),
        Step::Repeat {
            bytes: b"1\r\nx\r\n".to_vec(),
            every: ms(800),
            for_at_most: Duration::from_secs(60),
        },
    ]);
    for idle in [None, Some(Duration::from_secs(2)), Some(ms(600))] {
        let got = fetch(
            Config {
                idle_timeout: idle,
                ..policy()
            },
            &url(&first),
        );
        let drain = idle.unwrap_or(ms(1000)).min(ms(1000));
        expect(&got, 200, b"done", None, drain + SLACK);
        not_before(&got, drain);
    }
}

/// A script's credentials, however it splits the header line between name and value, do not
/// follow a redirect to another origin; every other header does. Judged on the wire: what the
/// other origin's server read.
#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin_whatever_their_spelling() {
    let target = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]);
    let first = scripted(vec![send(format!(
        "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
        url(&target)
    ))]);
    let caller: Vec<(Vec<u8>, Vec<u8>)> = [
        ("Authorization", "Bearer plain"),
        ("Authorization: Bearer in-the-name", ""),
        ("Authorization:Bearer", "split"),
        ("cookie: a=in-the-name", ""),
        ("Cookie:b", "split"),
        ("X-Auth-Session-Key: in-the-name", ""),
        ("x-auth-session-key:", "split"),
        ("X-Kept: in-the-name", ""),
        ("X-Kept-Too", "value"),
    ]
    .iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    let mut spec = RequestSpec::get(url(&first));
    spec.headers = caller;
    let got = run(&client(policy()), spec);
    expect(&got, 200, b"ok", None, PROMPT);
    let lines = |head: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(head)
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let sent = lines(&first.heads()[0]);
    let credentials = |l: &&String| {
        ["authorization:", "cookie:", "x-auth-session-key:"]
            .iter()
            .any(|c| l.starts_with(c))
    };
    assert_eq!(sent.iter().filter(credentials).count(), 7, "{sent:?}");
    let forwarded = lines(&target.heads()[0]);
    assert_eq!(
        forwarded.iter().filter(credentials).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "credentials reached the other origin"
    );
    // TPT sends the line "X-Kept: in-the-name: ", as it is (libcurl keeps the trailing blank).
    assert!(
        forwarded.contains(&"x-kept: in-the-name: ".to_string()),
        "{forwarded:?}"
    );
    assert!(
        forwarded.contains(&"x-kept-too: value".to_string()),
        "{forwarded:?}"
    );
}

#[test]
fn redirect_to_a_malformed_location() {
    let got = canned(b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n");
    expect(
        &got,
        606,
        b"",
        Some("bad redirect location: invalid IPv6 address"),
        PROMPT,
    );
}

/// The first server is re-admitted by an exact `127.0.0.1:PORT` rule (the only thing that
/// re-admits a private address); `127.0.0.1` without a port lets the redirect's host pass the
/// allow list, so it is refused by the address check, before any socket is opened to it.
#[test]
fn redirect_to_a_private_address_under_block_private() {
    let target = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")]);
    let location = format!("http://127.0.0.1:{}/secret", target.port());
    let first = scripted(vec![send(format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
    ))]);
    let mut config = policy();
    config.hosts.block_private = true;
    config.hosts.allow = vec![
        HostRule::parse(&format!("127.0.0.1:{}", first.port())).unwrap(),
        HostRule::parse("127.0.0.1").unwrap(),
    ];
    let got = fetch(config, &url(&first));
    expect(
        &got,
        607,
        b"",
        Some("blocked by policy: private address 127.0.0.1"),
        PROMPT,
    );
    assert_eq!(first.connections(), 1);
    assert_eq!(target.connections(), 0, "the private target is never contacted");
}

/// `localhost` resolves to a loopback address, which block_private refuses (as a DNS answer,
/// not a literal): no connection is made.
#[test]
fn dns_name_resolving_to_a_private_address() {
    let server = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")]);
    let first = ("localhost", server.port())
        .to_socket_addrs()
        .expect("localhost resolves")
        .next()
        .expect("an address for localhost")
        .ip();
    let mut config = policy();
    config.hosts.block_private = true;
    let got = fetch(config, &format!("http://localhost:{}/", server.port()));
    expect(
        &got,
        607,
        b"",
        Some(&format!("blocked by policy: private address {first}")),
        PROMPT,
    );
    assert_eq!(server.connections(), 0);
}

/// A script's request larger than the policy's `max_request_bytes` (its URL, headers and body
/// together) finishes at once with 600 and says so, without a connection; one exactly at the
/// limit is sent.
#[test]
fn request_larger_than_the_policy_allows() {
    let server = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]);
    let target = url(&server);
    let client = client(Config {
        max_request_bytes: Some(1000),
        ..policy()
    });
    let over = run(&client, post(&target, 1001 - target.len()));
    expect(&over, 600, b"", Some("request larger than 1000 bytes"), ms(200));
    let mut headers_too = post(&target, 990 - target.len());
    headers_too.headers = vec![(b"X-Pad".to_vec(), b"123456".to_vec())];
    let over = run(&client, headers_too);
    expect(&over, 600, b"", Some("request larger than 1000 bytes"), ms(200));
    assert_eq!(server.connections(), 0, "nothing was sent");
    let at = run(&client, post(&target, 1000 - target.len()));
    expect(&at, 200, b"ok", None, PROMPT);
}

/// A deny rule naming an address holds for every name of it: `127.0.0.1:PORT` denied,
/// `localhost:PORT` is refused before any connection (the deny rules are matched against the
/// name, and against every address it resolves to). The same address on another port is not
/// denied.
#[test]
fn deny_rule_by_address_holds_for_a_name() {
    let server = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]);
    let port = server.port();
    let mut config = policy();
    config.hosts.deny = vec![HostRule::parse(&format!("127.0.0.1:{port}")).unwrap()];
    let client = client(config);
    let got = get(&client, &format!("http://localhost:{port}/"));
    expect(
        &got,
        607,
        b"",
        Some("blocked by policy: host localhost is denied (it resolves to 127.0.0.1)"),
        PROMPT,
    );
    let literal = get(&client, &format!("http://127.0.0.1:{port}/"));
    expect(
        &literal,
        607,
        b"",
        Some("blocked by policy: host 127.0.0.1 is denied"),
        PROMPT,
    );
    assert_eq!(server.connections(), 0, "the denied address was never reached");
    let other = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]);
    let allowed = get(&client, &format!("http://localhost:{}/", other.port()));
    expect(&allowed, 200, b"ok", None, PROMPT);
}

/// Spellings of loopback not already in `tests/lua/sandbox_private.lua` (which covers
/// `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, `[::ffff:127.0.0.1]`, `0x7f000001`, `[::1]`,
/// `10.0.0.5`, `169.254.169.254`, `[fd00::1]`, `0.0.0.0` and a name resolving to 127.0.0.1).
#[test]
fn ip_literal_spellings_of_loopback() {
    let server = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")]);
    let port = server.port();
    let cases = [
        ("127.000.000.001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("0x7f.0x00.0x00.0x01", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.255.255.254", "127.255.255.254"),
        ("%31%32%37.0.0.1", "127.0.0.1"),
        ("user@127.0.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[0:0:0:0:0:ffff:7f00:1]", "127.0.0.1"),
        ("[::ffff:7f00:1]", "127.0.0.1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[::127.0.0.1]", "::7f00:1"),
        ("[64:ff9b::127.0.0.1]", "64:ff9b::7f00:1"),
        ("[2002:7f00:1::]", "2002:7f00:1::"),
        ("[fe80::1]", "fe80::1"),
        ("[::ffff:0:127.0.0.1]", "::ffff:0:7f00:1"),
        ("[::ffff:0:7f00:1]", "::ffff:0:7f00:1"),
        ("[64:ff9b:1::7f00:1]", "64:ff9b:1::7f00:1"),
        (
            "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ),
    ];
    let client = client(Config {
        hosts: tpt_http::policy::HostRules {
            block_private: true,
            ..Default::default()
        },
        ..policy()
    });
    for (host, shown) in cases {
        let got = get(&client, &format!("http://{host}:{port}/"));
        assert_eq!(
            (got.status, got.body.as_slice(), got.error.as_deref()),
            (
                607,
                &b""[..],
                Some(format!("blocked by policy: private address {shown}").as_str())
            ),
            "{host}: {got:?}"
        );
        assert!(got.elapsed < PROMPT, "{host}: {got:?}");
    }
    assert_eq!(server.connections(), 0, "no spelling reached the server");
}

// ---------------------------------------------------------------------------------------------
// TLS

#[test]
fn certificate_from_an_untrusted_ca() {
    let trusted = TestCa::new();
    let other = TestCa::new();
    let server = Server::https(&other);
    let got = fetch(
        tls_policy(&trusted),
        &format!("https://127.0.0.1:{}/echo", server.port()),
    );
    // Both test CAs are named "tpt-http test CA": the verifier finds the trusted one by name,
    // and its key does not match the signature.
    expect(
        &got,
        600,
        b"",
        Some("certificate verify failed: bad signature"),
        PROMPT,
    );
}

/// A certificate from a CA nobody trusts (the system roots only).
#[test]
fn certificate_from_an_unknown_issuer() {
    let ca = TestCa::new();
    let server = Server::https(&ca);
    let got = fetch(policy(), &format!("https://127.0.0.1:{}/echo", server.port()));
    expect(
        &got,
        600,
        b"",
        Some(
            "certificate verify failed: unknown issuer (its CA is not trusted here: the host can \
             add it, e.g. the runner's --ca-file or the module's ca_file)",
        ),
        PROMPT,
    );
}

#[test]
fn certificate_for_another_host() {
    let ca = TestCa::new();
    let (certs, key) = ca.issue(&["other.example"]);
    let server = Server::https_with(certs, key);
    let got = fetch(
        tls_policy(&ca),
        &format!("https://127.0.0.1:{}/echo", server.port()),
    );
    expect(
        &got,
        600,
        b"",
        Some("certificate verify failed: not valid for this host name"),
        PROMPT,
    );
}

#[test]
fn expired_certificate() {
    let ca = TestCa::new();
    let (certs, key) = ca.issue_expired(&["127.0.0.1"]);
    let server = Server::https_with(certs, key);
    let got = fetch(
        tls_policy(&ca),
        &format!("https://127.0.0.1:{}/echo", server.port()),
    );
    expect(&got, 600, b"", Some("certificate verify failed: expired"), PROMPT);
}

fn tls_script(ca: &TestCa, alpn: &[&[u8]], steps: Vec<Step>) -> Script {
    let (certs, key) = ca.issue(&["127.0.0.1"]);
    Script::new(steps).tls(certs, key, alpn)
}

#[test]
fn tls_handshake_then_close_http1() {
    let ca = TestCa::new();
    let server = tls_script(&ca, &[b"http/1.1"], vec![Step::Close])
        .without_head()
        .serve();
    let got = fetch(tls_policy(&ca), &url(&server));
    expect(
        &got,
        600,
        b"",
        Some("connection closed before a response"),
        PROMPT,
    );
}

#[test]
fn tls_handshake_then_close_h2() {
    let ca = TestCa::new();
    let server = tls_script(&ca, &[b"h2"], vec![Step::Close])
        .without_head()
        .serve();
    let got = fetch(tls_policy(&ca), &url(&server));
    expect(
        &got,
        600,
        b"",
        Some("http2 request failed: connection error"),
        PROMPT,
    );
}

/// A plain TCP server (not TLS) that closes as soon as the ClientHello arrives.
#[test]
fn plain_tcp_server_closes_on_client_hello() {
    let server = Script::new(vec![Step::ReadSome, Step::Close])
        .without_head()
        .serve();
    let got = fetch(policy(), &format!("https://127.0.0.1:{}/", server.port()));
    expect(
        &got,
        612,
        b"",
        Some("tls handshake failed: tls handshake eof"),
        PROMPT,
    );
}

/// A plain HTTP server answering the ClientHello with an HTTP error, as nginx does.
#[test]
fn plain_http_server_answers_the_client_hello() {
    let server = Script::new(vec![
        Step::ReadSome,
        send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    ])
    .without_head()
    .serve();
    let got = fetch(policy(), &format!("https://127.0.0.1:{}/", server.port()));
    expect(
        &got,
        612,
        b"",
        Some("tls handshake failed: received corrupt message of type InvalidContentType"),
        PROMPT,
    );
}

/// A close-delimited body over TLS ended by a TCP close without `close_notify` may be cut
/// short by an attacker: it must not count as a complete body.
#[test]
fn tls_close_delimited_body_without_close_notify() {
    let ca = TestCa::new();
    let server = tls_script(
        &ca,
        &[b"http/1.1"],
        vec![send(b"HTTP/1.1 200 OK\r\n\r\npartial"), sleep(50), Step::Drop],
    )
    .serve();
    let got = fetch(tls_policy(&ca), &url(&server));
    expect(&got, 600, b"", Some(NO_CLOSE_NOTIFY), PROMPT);
}

/// The same with `close_notify`: a complete body.
#[test]
fn tls_close_delimited_body_with_close_notify() {
    let ca = TestCa::new();
    let server = tls_script(
        &ca,
        &[b"http/1.1"],
        vec![send(b"HTTP/1.1 200 OK\r\n\r\ncomplete"), Step::Close],
    )
    .serve();
    let got = fetch(tls_policy(&ca), &url(&server));
    expect(&got, 200, b"complete", None, PROMPT);
}

/// h2 was agreed by ALPN; the server sends its SETTINGS and then GOAWAY (PROTOCOL_ERROR,
/// last stream 0) and keeps the connection open.
#[test]
fn h2_goaway_after_alpn() {
    let ca = TestCa::new();
    let settings = [0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let goaway = [0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let server = tls_script(
        &ca,
        &[b"h2"],
        vec![Step::ReadSome, send(settings), send(goaway), Step::Hold],
    )
    .without_head()
    .serve();
    let got = fetch(tls_policy(&ca), &url(&server));
    expect(&got, 600, b"", Some("http2 request failed: http2 error"), PROMPT);
}

/// h2 was agreed by ALPN, and the server answers in HTTP/1.1.
#[test]
fn h2_garbage_after_alpn() {
    let ca = TestCa::new();
    let server = tls_script(
        &ca,
        &[b"h2"],
        vec![
            Step::ReadSome,
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            Step::Hold,
        ],
    )
    .without_head()
    .serve();
    let got = fetch(tls_policy(&ca), &url(&server));
    expect(&got, 600, b"", Some("http2 request failed: http2 error"), PROMPT);
}

/// h2 agreed; the server answers stream 1 with a HEADERS frame that never ends: CONTINUATION
/// frames of 100-byte headers, 40 per millisecond, forever.
#[test]
fn h2_continuation_flood() {
    let ca = TestCa::new();
    let settings = [0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let headers = [0, 0, 1, 0x1, 0, 0, 0, 0, 1, 0x88]; // :status 200, no END_HEADERS
    let mut continuation = vec![0, 0, 106, 0x9, 0, 0, 0, 0, 1, 0x00, 3, b'x', b'-', b'a', 100];
    continuation.extend_from_slice(&[b'b'; 100]);
    let server = tls_script(
        &ca,
        &[b"h2"],
        vec![
            Step::ReadSome,
            send(settings),
            send(headers),
            Step::Repeat {
                bytes: continuation.repeat(40),
                every: ms(1),
                for_at_most: Duration::from_secs(30),
            },
        ],
    )
    .without_head()
    .serve();
    let got = fetch(tls_policy(&ca), &url(&server));
    expect(&got, 600, b"", Some("http2 request failed: http2 error"), PROMPT);
}

/// h2 agreed; the server allows zero concurrent streams and says nothing more: the request
/// can never be sent, and the idle timeout ends it.
#[test]
fn h2_zero_concurrent_streams() {
    let ca = TestCa::new();
    let settings = [0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0]; // MAX_CONCURRENT_STREAMS 0
    let server = tls_script(&ca, &[b"h2"], vec![Step::ReadSome, send(settings), Step::Hold])
        .without_head()
        .serve();
    let got = fetch(
        Config {
            idle_timeout: Some(ms(400)),
            ..tls_policy(&ca)
        },
        &url(&server),
    );
    expect(&got, 605, b"", Some("no data for 400 ms"), ms(400) + SLACK);
    not_before(&got, ms(400));
}

// ---------------------------------------------------------------------------------------------
// Odd statuses

#[test]
fn informational_responses_before_the_final_one() {
    let server = scripted(vec![
        send(b"HTTP/1.1 100 Continue\r\nX-Interim: 100\r\n\r\n"),
        sleep(50),
        send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"),
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok"),
    ]);
    let got = fetch(policy(), &url(&server));
    expect(&got, 200, b"ok", None, PROMPT);
    assert_eq!(
        got.headers,
        headers(&[("content-length", b"2"), ("x-final", b"yes")]),
        "only the final response's headers"
    );
}

/// A 204 followed by body bytes: no body is read, and the stray bytes do not poison the next
/// request (the connection is not reused).
#[test]
fn status_204_with_a_body() {
    let server = scripted(vec![
        send(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\nstray body"),
        Step::Hold,
    ]);
    let client = client(policy());
    let first = get(&client, &url(&server));
    expect(&first, 204, b"", None, PROMPT);
    let second = get(&client, &url(&server));
    expect(&second, 204, b"", None, PROMPT);
    assert_eq!(server.connections(), 2);
}

/// A 304 whose Content-Length describes the representation, followed by those bytes anyway.
#[test]
fn status_304_with_a_body() {
    let server = scripted(vec![
        send(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello"),
        Step::Hold,
    ]);
    let client = client(policy());
    let first = get(&client, &url(&server));
    expect(&first, 304, b"", None, PROMPT);
    let second = get(&client, &url(&server));
    expect(&second, 304, b"", None, PROMPT);
    assert_eq!(server.connections(), 2);
}

#[test]
fn status_600_or_more_from_the_server() {
    for code in [600u16, 650, 999] {
        let server = scripted(vec![send(format!(
            "HTTP/1.1 {code} Odd\r\nContent-Length: 4\r\n\r\nbody"
        ))]);
        let got = fetch(policy(), &url(&server));
        expect(
            &got,
            code,
            b"",
            Some(&format!("server answered with status {code}")),
            PROMPT,
        );
        assert_eq!(
            got.headers,
            headers(&[("content-length", b"4")]),
            "{code}: headers kept"
        );
    }
}

/// libcurl refuses a status line it cannot read after `HTTP/1.x` as it refuses HTTP/0.9 (601).
#[test]
fn status_of_four_digits() {
    let server = scripted(vec![send(b"HTTP/1.1 1000 Odd\r\nContent-Length: 0\r\n\r\n")]);
    let got = fetch(policy(), &url(&server));
    expect(
        &got,
        601,
        b"",
        Some("malformed response: unsupported HTTP/1 version in the status line"),
        PROMPT,
    );
}

/// `HTTP/1.1  200` (two spaces) is 601 in libcurl; `http/1.1 404` (lower case) and
/// `HTTP/2.0 404` are read as 200 by libcurl's alias rule.
#[test]
fn status_line_spellings() {
    let got = canned(b"HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok");
    expect(
        &got,
        601,
        b"",
        Some("malformed response: unsupported HTTP/1 version in the status line"),
        PROMPT,
    );
    for line in [&b"http/1.1 404 Not Found"[..], b"HTTP/2.0 404 Not Found"] {
        let got = canned(&[line, b"\r\nContent-Length: 2\r\n\r\nok"].concat());
        expect(&got, 200, b"ok", None, PROMPT);
    }
}

/// A status under 100 (three digits, so a parser may take it) is no HTTP status: libcurl refuses
/// it (601).
#[test]
fn status_under_100() {
    let server = scripted(vec![send(b"HTTP/1.1 002 OK\r\nContent-Length: 0\r\n\r\n")]);
    let got = fetch(policy(), &url(&server));
    expect(
        &got,
        601,
        b"",
        Some("malformed response: status code under 100"),
        PROMPT,
    );
}

/// A 101 nobody asked for is taken as the final response, and what follows it is its body,
/// framed as any other (here until the close), as libcurl reads it.
#[test]
fn unsolicited_101_switching_protocols() {
    let server = scripted(vec![
        send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes"),
        Step::Close,
    ]);
    let got = fetch(policy(), &url(&server));
    expect(&got, 101, b"frames", None, PROMPT);
    assert_eq!(
        got.headers,
        headers(&[("upgrade", b"websocket"), ("connection", b"Upgrade")])
    );
}

// ---------------------------------------------------------------------------------------------
// Header values and lengths

#[test]
fn nul_in_a_header_value() {
    let got = canned(b"HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 2\r\n\r\nok");
    expect(
        &got,
        600,
        b"",
        Some("malformed response: NUL byte in the head"),
        PROMPT,
    );
}

/// Bytes 0x80-0xFF (obs-text) are allowed in a header value and reach the script unchanged.
#[test]
fn high_bytes_in_a_header_value() {
    let got = canned(b"HTTP/1.1 200 OK\r\nX-Odd: caf\xc3\xa9 \xff\x80\r\nContent-Length: 2\r\n\r\nok");
    expect(&got, 200, b"ok", None, PROMPT);
    assert_eq!(
        got.headers,
        headers(&[("x-odd", b"caf\xc3\xa9 \xff\x80"), ("content-length", b"2")])
    );
}

/// Control bytes in a value are passed on, as libcurl does.
#[test]
fn control_byte_in_a_header_value() {
    let got = canned(b"HTTP/1.1 200 OK\r\nX-Bad: a\x7fb\x01c\r\nContent-Length: 2\r\n\r\nok");
    expect(&got, 200, b"ok", None, PROMPT);
    assert_eq!(got.headers[0], (b"x-bad".to_vec(), b"a\x7fb\x01c".to_vec()));
}

#[test]
fn content_length_not_a_number() {
    let got = canned(b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\nok");
    expect(
        &got,
        600,
        b"",
        Some("malformed response: invalid content-length"),
        PROMPT,
    );
}

/// Two different lengths: libcurl takes the last. The connection is not reused afterwards (a
/// smuggled response could hide behind the other reading).
#[test]
fn two_different_content_lengths() {
    let got = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello");
    expect(&got, 200, b"hello", None, PROMPT);
}

/// Both framings: Transfer-Encoding wins (RFC 9112 section 6.3), the body is the chunked one.
#[test]
fn content_length_and_chunked_together() {
    let got = canned(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    expect(&got, 200, b"hello", None, PROMPT);
}

/// A length beyond what libcurl's number holds is read as unknown (libcurl: the body runs to the
/// close, and the connection is not reused).
#[test]
fn content_length_beyond_u64() {
    let got = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nok");
    expect(&got, 200, b"ok", None, PROMPT);
}

#[test]
fn two_equal_content_lengths() {
    let got = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
    expect(&got, 200, b"ok", None, PROMPT);
}

#[test]
fn negative_content_length() {
    let got = canned(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok");
    expect(
        &got,
        600,
        b"",
        Some("malformed response: invalid content-length"),
        PROMPT,
    );
}

#[test]
fn chunk_size_beyond_u64() {
    let got = canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nok");
    expect(&got, 600, b"", Some("malformed response: bad chunk size"), PROMPT);
}

/// Content-Length 10^18 under a 1 MiB cap fails at once from the head, although the server
/// keeps the connection open and sends nothing more.
#[test]
fn enormous_content_length_with_a_size_cap() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\nabc"),
        Step::Hold,
    ]);
    let got = fetch(
        Config {
            max_response_bytes: Some(1 << 20),
            ..policy()
        },
        &url(&server),
    );
    expect(
        &got,
        600,
        b"",
        Some("response larger than 1048576 bytes"),
        ms(1000),
    );
}

/// Resident memory of this process (Linux), in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Content-Length 10^18 without a cap: eight at once, each sending 1000 bytes and closing. No
/// 10^18-byte allocation (the process survives), at most a 64 MiB reservation each that is
/// never touched, and each fails cleanly when its connection closes.
#[test]
fn enormous_content_length_without_a_size_cap() {
    let server = scripted(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n"),
        send([b'x'; 1000]),
        sleep(400),
        Step::Close,
    ]);
    let client = client(policy());
    let news = News::new();
    let before = resident_bytes();
    let (outcomes, during) = guarded(|| {
        let watchers: Vec<_> = (0..8)
            .map(|_| client.start(RequestSpec::get(url(&server)), Some(news.clone())))
            .collect();
        std::thread::sleep(ms(250));
        let during = resident_bytes();
        let started = Instant::now();
        while watchers.iter().any(|w| !w.is_done()) {
            assert!(started.elapsed() < HANG, "hung");
            news.wait(Some(ms(50)));
        }
        let outcomes: Vec<_> = watchers.iter().map(|w| w.take().expect("outcome")).collect();
        (outcomes, during)
    });
    for o in outcomes {
        assert_eq!(
            (o.status, o.body.len(), o.failure.map(|f| f.reason().to_string())),
            (600, 0, Some(TRUNCATED.to_string()))
        );
    }
    if let (Some(before), Some(during)) = (before, during) {
        let grown = during.saturating_sub(before);
        assert!(
            grown < 128 << 20,
            "resident memory grew by {grown} bytes with 8 requests in flight"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Floods at two sizes: the engine's CPU per byte must not grow with the size (see "Guards")

/// The answer with `count` header lines, each sent in its own write (so the head arrives in
/// many reads), then a 2-byte body.
fn many_headers(count: usize) -> Vec<Step> {
    let mut steps = vec![send(b"HTTP/1.1 200 OK\r\n")];
    steps.extend((0..count).map(|i| send(format!("X-Header-{i}: value-{i}\r\n"))));
    steps.push(send(b"Content-Length: 2\r\n\r\nok"));
    steps
}

#[test]
fn many_headers_in_many_reads_cost_linear_cpu() {
    grows_linearly(500, many_headers, |count, got| {
        assert_eq!((got.status, got.body.as_slice()), (200, &b"ok"[..]), "{got:?}");
        assert_eq!(got.headers.len(), count + 1);
    });
}

#[test]
fn many_tiny_chunks_cost_linear_cpu() {
    // `count` chunks of 10 bytes (with an extension), sent 100 to a write.
    grows_linearly(
        5_000,
        |count| {
            let mut steps = vec![send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")];
            steps.extend((0..count / 100).map(|_| send(b"a;e=x\r\n0123456789\r\n".repeat(100))));
            steps.push(send(b"0\r\n\r\n"));
            steps
        },
        |count, got| {
            assert_eq!((got.status, got.body.len()), (200, count / 100 * 1000), "{got:?}");
        },
    );
}

#[test]
fn many_trailer_lines_cost_linear_cpu() {
    grows_linearly(
        1200,
        |count| {
            let mut steps = vec![send(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n",
            )];
            steps.extend((0..count / 20).map(|_| send(b"T: v\r\n".repeat(20))));
            steps.push(send(b"\r\n"));
            steps
        },
        |_, got| assert_eq!((got.status, got.body.as_slice()), (200, &b"ok"[..]), "{got:?}"),
    );
}

#[test]
fn body_in_many_small_writes_costs_linear_cpu() {
    grows_linearly(
        1000,
        |count| {
            let mut steps = vec![send(format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                count * 512
            ))];
            steps.extend((0..count).map(|_| send([b'b'; 512])));
            steps
        },
        |count, got| assert_eq!((got.status, got.body.len()), (200, count * 512), "{got:?}"),
    );
}

#[test]
fn redirect_body_in_many_small_writes_costs_linear_cpu() {
    let target = scripted(vec![send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]);
    let location = url(&target);
    grows_linearly(
        600,
        |count| {
            let mut steps = vec![send(format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nTransfer-Encoding: chunked\r\n\r\n"
            ))];
            // Under the 64 KiB a redirect body is drained for, in 2-byte chunks.
            steps.extend((0..count).map(|_| send(b"2\r\nzz\r\n".repeat(5))));
            steps.push(send(b"0\r\n\r\n"));
            steps
        },
        |_, got| assert_eq!((got.status, got.body.as_slice()), (200, &b"ok"[..]), "{got:?}"),
    );
}
