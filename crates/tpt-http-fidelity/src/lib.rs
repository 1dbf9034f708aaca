//! The differential harness: the same server bytes, read by TPT's libcurl 8.10.1 (set up as TPT
//! v100.1 sets it up, `reference/tpt_reference.c`) and by tpt-http (through its Lua API, as a
//! script sees it), compared on what a script or a server can observe: the status code, the
//! body, the header list, `progress()` after the request is done, and the request heads the
//! server received.
//!
//! A [`Case`] is a request and the replies a loopback server gives to successive requests;
//! [`compare`] runs it through both clients and lists the differences. The allow-list of
//! differences that are kept on purpose is [`allowed`], each entry with its reason (the same
//! as DESIGN.md's "Known deviations").

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tpt_http::mlua::Lua;
use tpt_http::{Config, Http};

mod reference;

// libcurl itself: the reference (C) calls it, so its static library must be linked in.
use curl_sys as _;
use libz_sys as _;

pub use reference::{libcurl_version, reference_url};

/// One reply of a [`Server`]: bytes to write, then whether to close the connection.
#[derive(Clone, Debug)]
pub struct Reply {
    /// What is written; `{A}` and `{B}` stand for the two servers' base URLs, `{HOST}` for
    /// A's `127.0.0.1:PORT`.
    pub bytes: Vec<u8>,
    /// Close the connection after writing (else read the next request on it).
    pub close: bool,
}

impl Reply {
    /// `bytes`, then the connection is closed.
    pub fn close(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply {
            bytes: bytes.into(),
            close: true,
        }
    }

    /// `bytes`, and the connection is kept for the next request.
    pub fn keep(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply {
            bytes: bytes.into(),
            close: false,
        }
    }
}

/// What a script asks for.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The URL; `{A}` and `{B}` stand for the servers' base URLs (`http://127.0.0.1:PORT`).
    pub url: Vec<u8>,
    /// A verb given to `http.get`/`http.post` (TPT's CURLOPT_CUSTOMREQUEST).
    pub verb: Option<Vec<u8>>,
    /// Caller headers, in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `http.post` with this string (else `http.get`).
    pub post: Option<Vec<u8>>,
    /// `http.post` with this form (a table of `{name, value, filename, type}` items).
    pub form: Option<Vec<FormPart>>,
}

/// One item of a form post.
#[derive(Clone, Debug, Default)]
pub struct FormPart {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    pub filename: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
}

/// A request and the replies of server A (and B) to the requests they receive, in order.
#[derive(Clone, Debug, Default)]
pub struct Case {
    pub name: String,
    pub request: Request,
    pub a: Vec<Reply>,
    pub b: Vec<Reply>,
    /// The replies are sent as they are, with no `{A}`/`{B}`/`{HOST}` filled in (random
    /// bytes may hold those spellings).
    pub literal: bool,
}

impl Case {
    /// A GET of `{A}/` answered with `response`, then a close.
    pub fn get(name: impl Into<String>, response: impl Into<Vec<u8>>) -> Case {
        Case {
            name: name.into(),
            request: Request {
                url: b"{A}/".to_vec(),
                ..Request::default()
            },
            a: vec![Reply::close(response)],
            b: Vec::new(),
            literal: false,
        }
    }

    /// [`Case::get`] with `response` sent exactly as it is.
    pub fn literal(name: impl Into<String>, response: impl Into<Vec<u8>>) -> Case {
        Case {
            literal: true,
            ..Case::get(name, response)
        }
    }
}

/// The status [`Observed`] holds when tpt-http raised a Lua error instead of starting the
/// request.
pub const LUA_ERROR: i64 = -1;

/// What one client made of a case.
#[derive(Clone, Debug)]
pub struct Observed {
    pub status: i64,
    pub body: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `progress()` after the request is done: total, done.
    pub progress: (i64, i64),
    /// The requests the servers received (A's, then B's): each head and the body its
    /// Content-Length framed.
    pub requests: Vec<Vec<u8>>,
    /// Why it failed, for the report (not compared).
    pub error: String,
}

/// A loopback server answering each request it reads with the next of its replies. Requests are
/// read up to their blank line, then as much body as their Content-Length says.
struct Server {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    /// The accepted connections, shut down on drop so that no reader waits for its timeout.
    open: Arc<Mutex<Vec<TcpStream>>>,
    heads: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serve `replies` on `listener` until dropped.
    fn on(listener: TcpListener, replies: Vec<Reply>) -> Server {
        let mut this = Server {
            addr: listener.local_addr().expect("local address"),
            stop: Arc::new(AtomicBool::new(false)),
            open: Arc::new(Mutex::new(Vec::new())),
            heads: Arc::new(Mutex::new(Vec::new())),
            thread: None,
        };
        let (stop, heads, open) = (
            Arc::clone(&this.stop),
            Arc::clone(&this.heads),
            Arc::clone(&this.open),
        );
        let replies = Arc::new(replies);
        let next = Arc::new(AtomicUsize::new(0));
        this.thread = Some(std::thread::spawn(move || {
            let mut conns = Vec::new();
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if let Ok(clone) = stream.try_clone() {
                    open.lock().unwrap_or_else(|p| p.into_inner()).push(clone);
                }
                let (replies, next, heads) = (Arc::clone(&replies), Arc::clone(&next), Arc::clone(&heads));
                conns.push(std::thread::spawn(move || {
                    connection(stream, &replies, &next, &heads)
                }));
            }
            for c in conns {
                let _ = c.join();
            }
        }));
        this
    }

    fn heads(&self) -> Vec<Vec<u8>> {
        self.heads.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for conn in self.open.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serve one connection: read a request, write the next reply, until the replies run out or
/// one says close (or the client goes away).
fn connection(mut s: TcpStream, replies: &[Reply], next: &AtomicUsize, heads: &Mutex<Vec<Vec<u8>>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_until_blank(&mut s, &mut buf) else {
            return;
        };
        let body_len = request_length(&buf[..head_end]);
        while buf.len() < head_end + body_len {
            let mut chunk = [0u8; 16 * 1024];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        // The request as the server saw it: its head and the body its Content-Length framed.
        let request: Vec<u8> = buf.drain(..head_end + body_len).collect();
        heads.lock().unwrap_or_else(|p| p.into_inner()).push(request);
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(reply) = replies.get(i) else {
            return; // no reply left: the connection is closed unanswered
        };
        if s.write_all(&reply.bytes).is_err() {
            return;
        }
        let _ = s.flush();
        if reply.close || i + 1 == replies.len() {
            let _ = s.shutdown(Shutdown::Write);
            // Drain what the client still sends, so the close is a FIN rather than a reset.
            let mut sink = [0u8; 4096];
            let deadline = Instant::now() + Duration::from_secs(2);
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            while Instant::now() < deadline {
                match s.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        break;
                    }
                    Err(_) => break,
                }
            }
            return;
        }
    }
}

/// Read into `buf` until it holds a blank line; the length up to and including it.
fn read_until_blank(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn request_length(head: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .next()
        .unwrap_or(0)
}

fn fill(bytes: &[u8], a: &str, b: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"{HOST}") {
            out.extend_from_slice(a.trim_start_matches("http://").as_bytes());
            i += 6;
        } else if bytes[i..].starts_with(b"{A}") {
            out.extend_from_slice(a.as_bytes());
            i += 3;
        } else if bytes[i..].starts_with(b"{B}") {
            out.extend_from_slice(b.as_bytes());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Start the case's servers; run `client` on the filled-in request; collect the heads.
fn with_servers(case: &Case, client: impl FnOnce(&Request) -> Observed) -> Observed {
    // Both ports are known before either server answers, so replies can name either.
    let b_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a_url = format!(
        "http://127.0.0.1:{}",
        a_listener.local_addr().expect("addr").port()
    );
    let b_url = format!(
        "http://127.0.0.1:{}",
        b_listener.local_addr().expect("addr").port()
    );
    let fill_all = |replies: &[Reply]| -> Vec<Reply> {
        replies
            .iter()
            .map(|r| Reply {
                bytes: if case.literal {
                    r.bytes.clone()
                } else {
                    fill(&r.bytes, &a_url, &b_url)
                },
                close: r.close,
            })
            .collect()
    };
    let a = Server::on(a_listener, fill_all(&case.a));
    let b = Server::on(b_listener, fill_all(&case.b));
    let mut request = case.request.clone();
    request.url = fill(&request.url, &a_url, &b_url);
    let mut seen = client(&request);
    seen.requests = a.heads();
    seen.requests.extend(b.heads());
    // Ports and multipart boundaries differ from run to run: name them.
    for head in &mut seen.requests {
        *head = fill_back(head, &a_url, &b_url);
        *head = name_boundary(head);
    }
    seen
}

/// A multipart request with its boundary (from its Content-Type) written `{BOUNDARY}`.
fn name_boundary(request: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let Some(at) = text.find("boundary=") else {
        return request.to_vec();
    };
    let boundary: String = text[at + 9..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ';')
        .collect();
    if boundary.is_empty() {
        return request.to_vec();
    }
    // Replace on the bytes: a body may not be UTF-8.
    replace(request, boundary.as_bytes(), b"{BOUNDARY}")
}

/// The inverse of [`fill`] for host:port spellings, so heads from two runs compare.
fn fill_back(bytes: &[u8], a: &str, b: &str) -> Vec<u8> {
    let a_host = a.trim_start_matches("http://").as_bytes();
    let b_host = b.trim_start_matches("http://").as_bytes();
    replace(&replace(bytes, a_host, b"{A}"), b_host, b"{B}")
}

/// `bytes` with every `from` written `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if !from.is_empty() && bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Run `case` through TPT's libcurl.
pub fn run_reference(case: &Case, user_agent: &str) -> Observed {
    with_servers(case, |req| reference::fetch(req, user_agent))
}

/// A Lua state with tpt-http installed as a TPT build would be (plain http allowed, for
/// loopback; one connection per host, as TPT), for [`run_ours`].
pub struct Ours {
    lua: Lua,
    http: Http,
}

impl Ours {
    pub fn new() -> Ours {
        let lua = Lua::new();
        let config = Config {
            enforce_https: false,
            max_host_connections: 1,
            ..Config::default()
        };
        let http = tpt_http::install(&lua, config).expect("install the http table");
        Ours { lua, http }
    }

    /// The User-Agent tpt-http sends (the reference is given the same).
    pub fn user_agent() -> String {
        Config::default().user_agent
    }

    /// Run `case` through tpt-http's Lua API.
    pub fn run(&self, case: &Case) -> Observed {
        with_servers(case, |req| self.fetch(req))
    }

    fn fetch(&self, req: &Request) -> Observed {
        let lua = &self.lua;
        let g = lua.globals();
        let s = |b: &[u8]| lua.create_string(b).expect("lua string");
        g.set("URL", s(&req.url)).expect("set");
        g.set("VERB", req.verb.as_deref().map(s)).expect("set");
        g.set("POST", req.post.as_deref().map(s)).expect("set");
        if let Some(form) = &req.form {
            let items = lua.create_table().expect("table");
            for (i, p) in form.iter().enumerate() {
                let item = lua.create_table().expect("item");
                item.raw_set(1, s(&p.name)).expect("set");
                item.raw_set(2, s(&p.value)).expect("set");
                if let Some(f) = &p.filename {
                    item.raw_set(3, s(f)).expect("set");
                }
                if let Some(t) = &p.content_type {
                    item.raw_set(4, s(t)).expect("set");
                }
                items.raw_set(i + 1, item).expect("set");
            }
            g.set("POST", items).expect("set");
        }
        let headers = lua.create_table().expect("table");
        for (i, (n, v)) in req.headers.iter().enumerate() {
            let pair = lua.create_sequence_from([s(n), s(v)]).expect("pair");
            headers.raw_set(i + 1, pair).expect("set");
        }
        g.set("HEADERS", headers).expect("set");
        let started = lua
            .load("if POST then R = http.post(URL, POST, HEADERS, VERB) else R = http.get(URL, HEADERS, VERB) end")
        .exec();
        if let Err(e) = started {
            // A Lua error where TPT would start the request (see the allow-list).
            return Observed {
                status: LUA_ERROR,
                body: Vec::new(),
                headers: Vec::new(),
                progress: (0, 0),
                requests: Vec::new(),
                error: e.to_string(),
            };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status: String = lua.load("return R:status()").eval().expect("status");
            if status != "running" {
                break;
            }
            assert!(Instant::now() < deadline, "tpt-http did not finish {:?}", req.url);
            self.http.news().wait(Some(Duration::from_millis(5)));
        }
        let (total, done): (i64, i64) = lua.load("return R:progress()").eval().expect("progress");
        let (body, status, list): (tpt_http::mlua::LuaString, i64, tpt_http::mlua::Table) =
            lua.load("return R:finish()").eval().expect("finish");
        let mut headers = Vec::new();
        for pair in list.sequence_values::<tpt_http::mlua::Table>() {
            let pair = pair.expect("header pair");
            let n: tpt_http::mlua::LuaString = pair.raw_get(1).expect("name");
            let v: tpt_http::mlua::LuaString = pair.raw_get(2).expect("value");
            headers.push((n.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        lua.load("R = nil").exec().expect("clear");
        Observed {
            status,
            body: body.as_bytes().to_vec(),
            headers,
            progress: (total, done),
            requests: Vec::new(),
            error: String::new(),
        }
    }
}

impl Default for Ours {
    fn default() -> Self {
        Ours::new()
    }
}

/// What differs between libcurl's reading (`reference`) and ours, one line each.
pub fn differences(reference: &Observed, ours: &Observed) -> Vec<Difference> {
    let mut out = Vec::new();
    let show = |b: &[u8]| {
        let s = String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
        if b.len() > 200 {
            format!("{s}... ({} bytes)", b.len())
        } else {
            s
        }
    };
    if reference.status != ours.status {
        out.push(Difference::Status(reference.status, ours.status));
    }
    if reference.body != ours.body {
        out.push(Difference::Body(show(&reference.body), show(&ours.body)));
    }
    if reference.headers != ours.headers {
        let list = |h: &[(Vec<u8>, Vec<u8>)]| {
            h.iter()
                .map(|(n, v)| format!("{}: {}", show(n), show(v)))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        out.push(Difference::Headers(list(&reference.headers), list(&ours.headers)));
    }
    if reference.progress != ours.progress {
        out.push(Difference::Progress(reference.progress, ours.progress));
    }
    if reference.requests != ours.requests {
        let list = |r: &[Vec<u8>]| r.iter().map(|h| show(h)).collect::<Vec<_>>().join(" || ");
        out.push(Difference::Requests(
            list(&reference.requests),
            list(&ours.requests),
        ));
    }
    out
}

/// One way two readings differ: libcurl's, then ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    Status(i64, i64),
    Body(String, String),
    Headers(String, String),
    Progress((i64, i64), (i64, i64)),
    Requests(String, String),
}

/// A difference kept on purpose, with its reason (DESIGN.md, "Known deviations").
pub struct Allowed {
    /// The case name prefix it applies to.
    pub case: &'static str,
    /// Which kind of difference.
    pub what: fn(&Difference) -> bool,
    pub reason: &'static str,
}

/// The allow-list: every difference kept on purpose. Any other difference fails the harness.
pub fn allow_list() -> Vec<Allowed> {
    vec![
        Allowed {
            case: "deviation/header-injection",
            what: |d| {
                matches!(
                    d,
                    Difference::Status(_, LUA_ERROR)
                        | Difference::Body(..)
                        | Difference::Headers(..)
                        | Difference::Progress(..)
                        | Difference::Requests(..)
                )
            },
            reason: "a caller header holding CR, LF or NUL is refused with a Lua error: TPT passes it to \
                     libcurl, which writes it to the wire (header injection)",
        },
        Allowed {
            case: "deviation/verb-injection",
            what: |d| {
                matches!(
                    d,
                    Difference::Status(_, 600)
                        | Difference::Body(..)
                        | Difference::Headers(..)
                        | Difference::Progress(..)
                        | Difference::Requests(..)
                )
            },
            reason: "a verb holding CR, LF or NUL is refused (600, invalid method name): libcurl puts \
                     it on the request line as it is, so a script could write headers or a second \
                     request of its own (request injection)",
        },
        Allowed {
            case: "deviation/caller-framing",
            what: |d| matches!(d, Difference::Requests(..)),
            reason: "a caller Content-Length or Transfer-Encoding header is ignored and the body is \
                     framed by the client: libcurl lets it decide the framing, so a script can \
                     desynchronise a pooled connection (request smuggling)",
        },
        Allowed {
            case: "deviation/session-key-cross-origin",
            what: |d| matches!(d, Difference::Requests(..)),
            reason: "X-Auth-Session-Key (TPT's session secret) is not sent to another origin after a \
                     redirect; libcurl forwards every custom header but Authorization and Cookie",
        },
    ]
}

/// Is `diff`, in case `name`, on the allow-list?
pub fn allowed(name: &str, diff: &Difference) -> bool {
    allow_list()
        .iter()
        .any(|a| name.starts_with(a.case) && (a.what)(diff))
}

/// Run `case` through both clients; the differences not on the allow-list.
pub fn compare(ours: &Ours, case: &Case) -> (Observed, Observed, Vec<Difference>) {
    let (reference, mine, diffs, _) = compare_all(ours, case);
    (reference, mine, diffs)
}

/// [`compare`], also giving the differences the allow-list let through.
pub fn compare_all(ours: &Ours, case: &Case) -> (Observed, Observed, Vec<Difference>, Vec<Difference>) {
    let reference = run_reference(case, &Ours::user_agent());
    let mine = ours.run(case);
    let (kept, diffs) = differences(&reference, &mine)
        .into_iter()
        .partition(|d| allowed(&case.name, d));
    (reference, mine, diffs, kept)
}
