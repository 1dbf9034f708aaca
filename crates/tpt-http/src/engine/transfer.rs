//! One transfer from start to outcome: the redirect loop, request building, and reading the body
//! with progress. Runs as a task on the engine thread.

use super::ClientInner;
use super::activity::{self, Activity};
use super::connect;
use super::h1::{self, Framing, Head};
use super::pool::Origin;
use super::pool::{Checkout, Conn};
use super::redirect::{self, Refused};
use super::target::CurlUrl;
use crate::failure::{Failure, FailureKind};
use crate::spec::{self, PostBody, RequestSpec};
use crate::state::{Outcome, Reporter};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response};
use std::sync::Arc;
use url::{Position, Url};

type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// libcurl's EXPECT_100_THRESHOLD: a larger body is sent with `Expect: 100-continue`.
const EXPECT_100_THRESHOLD: usize = 1024 * 1024;

/// Most body memory reserved up front from a Content-Length (the body may still grow past it).
const RESERVE_LIMIT: usize = 2 << 30;

/// Longest time spent reading a redirect's body (in all) before giving up on reusing its
/// connection.
const REDIRECT_DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Largest redirect body read to the end so its connection can be reused.
const REDIRECT_BODY_DRAIN: usize = 64 * 1024;

/// Run the transfer described by `spec` and publish its outcome.
pub(crate) async fn run(client: Arc<ClientInner>, spec: RequestSpec, reporter: Reporter) {
    // Traced when it ends, and as cancelled when this task is dropped before.
    let trace = super::trace::Trace::start(client.config.trace.as_ref(), &spec);
    if !reporter.is_watched() {
        return; // cancelled before it started
    }
    let limit = match (spec.timeout, client.config.timeout) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let transfer = perform(&client, spec, &reporter);
    let result = match limit {
        None => transfer.await,
        Some(limit) => tokio::time::timeout(limit, transfer).await.unwrap_or_else(|_| {
            let why = format!("request timed out after {} ms", limit.as_millis());
            Err(Failure::new(FailureKind::TimedOut, why))
        }),
    };
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(mut failure) => {
            let headers = failure.take_headers().unwrap_or_default();
            Outcome::failed(failure, headers)
        }
    };
    if let Some(trace) = trace {
        trace.finish(&outcome, reporter.received() as usize, reporter.protocol());
    }
    reporter.complete(outcome);
}

fn internal(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(FailureKind::Internal, format!("{what}: {e}"))
}

/// The method, body and content type of one hop.
struct Payload {
    method: Method,
    /// The method is the script's own verb, kept across redirects.
    custom: bool,
    /// The script's verb as it wrote it: libcurl's CURLOPT_CUSTOMREQUEST puts it on the request
    /// line as it is, whether or not it is a token.
    verb: Option<Vec<u8>>,
    body: Option<Bytes>,
    content_type: Option<Vec<u8>>,
    /// Ask for a compressed body (a per-request option) and decode it.
    compressed: bool,
}

/// The payload of `spec`, whose body it takes (moved, not copied: a post's body exists once in
/// the engine).
fn payload(spec: &mut RequestSpec) -> Result<Payload, Failure> {
    let (method, body, content_type) = match spec.post.take() {
        None => (Method::GET, None, None),
        Some(PostBody::Raw(b)) => (
            Method::POST,
            Some(Bytes::from(b)),
            Some(b"application/x-www-form-urlencoded".to_vec()),
        ),
        Some(PostBody::Form(items)) => {
            let boundary = spec::new_boundary();
            let body = spec::encode_multipart(&items, &boundary);
            (
                Method::POST,
                Some(Bytes::from(body)),
                Some(format!("multipart/form-data; boundary={boundary}").into_bytes()),
            )
        }
    };
    match spec.verb.as_deref().filter(|v| !v.is_empty()) {
        None => Ok(Payload {
            method,
            custom: false,
            verb: None,
            body,
            content_type,
            compressed: spec.compressed,
        }),
        Some(verb) => {
            if spec::has_line_break(verb) {
                // A line break would let the verb write headers of its own (request injection).
                return Err(Failure::new(FailureKind::Internal, "invalid method name"));
            }
            // A verb that is no token (`G E T`) still goes out as written over HTTP/1.1, as
            // libcurl sends it; HTTP/2 refuses it when the request is built.
            let method = Method::from_bytes(verb).unwrap_or(Method::GET);
            Ok(Payload {
                method,
                custom: true,
                verb: Some(verb.to_vec()),
                body,
                content_type,
                compressed: spec.compressed,
            })
        }
    }
}

/// The transfer: hops until a final response, then its body. A failure carries the headers
/// TPT's callback had listed (`Failure::with_headers`).
async fn perform(
    client: &ClientInner,
    mut spec: RequestSpec,
    reporter: &Reporter,
) -> Result<Outcome, Failure> {
    let rules = redirect::Rules {
        max_redirects: client.config.max_redirects,
        enforce_https: client.config.enforce_https,
    };
    let mut url = spec::parse_url(&spec.url, rules.enforce_https)?;
    // The path and query as libcurl sends them (the `url` crate's are a browser's).
    let mut curl =
        CurlUrl::parse(&spec.url).ok_or_else(|| Failure::new(FailureKind::MalformedUrl, "malformed url"))?;
    let mut payload = payload(&mut spec)?;
    let mut caller = spec.headers;
    let mut hops = 0;
    loop {
        reporter.reset_progress();
        let origin = Origin::of(&url);
        crate::policy::check_host(&client.config.hosts, &origin.host, origin.port)?;
        let (head, reply, activity) = exchange(client, &origin, &url, &curl.target(), &payload, &caller)
            .await
            .map_err(|f| failed_head(f, reporter))?;
        reporter.set_protocol(if matches!(reply, Reply::H2(_)) { "h2" } else { "h1" });
        let answered = redirect::Answered {
            url: &curl,
            hops,
            post: payload.method == Method::POST,
            custom: payload.custom,
        };
        let hop = match redirect::next_hop(head.status, head.get("location"), answered, rules) {
            Ok(Some(hop)) => hop,
            Ok(None) => {
                return final_response(client, &origin, head, reply, &activity, &payload, reporter).await;
            }
            Err(Refused::Scheme(f)) => return Err(f),
            Err(Refused::Hop(f)) => {
                // As libcurl: the hop's headers and announced length stay.
                reporter.set_total(content_length(&head));
                return Err(f.with_headers(head.headers));
            }
        };
        hops += 1;
        drain_redirect_body(client, &origin, &head, reply).await;
        if hop.drop_body {
            payload.body = None;
            payload.content_type = None;
        }
        if hop.to_get {
            payload.method = Method::GET;
        }
        if Origin::of(&hop.url) != origin {
            // Credentials are not handed to another origin (judged on the wire's names).
            caller = spec::cross_origin_headers(&caller);
        }
        url = hop.url;
        curl = hop.curl;
    }
}

/// A head that failed part way keeps the headers listed before the failure. One that libcurl
/// read to its end before TPT's callback refused the end line has its length announced
/// (libcurl took it at the end of the head).
fn failed_head(mut f: Failure, reporter: &Reporter) -> Failure {
    let partial = Head {
        status: 200,
        headers: f.take_headers().unwrap_or_default(),
        cut: false,
    };
    if f.reason().ends_with(super::head::END_NOT_CRLF)
        && let h1::Length::Known(n) = partial.length()
    {
        reporter.set_total(i64::try_from(n).unwrap_or(-1));
    }
    f.with_headers(partial.headers)
}

/// The final response of a transfer: its body read (with progress) into the outcome.
async fn final_response(
    client: &ClientInner,
    origin: &Origin,
    head: Head,
    reply: Reply,
    activity: &Activity,
    payload: &Payload,
    reporter: &Reporter,
) -> Result<Outcome, Failure> {
    let status = head.status;
    let total = content_length(&head);
    let decoder = payload.compressed.then(|| Decoder::for_head(&head)).flatten();
    let mut headers = head.headers;
    reporter.set_total(total);
    let read = read_body(client, reply, total, reporter, activity, decoder, &mut headers).await;
    if status >= 600 {
        // libcurl reads the body (progress counts it); TPT then drops it.
        let failure = Failure::new(
            FailureKind::Internal,
            format!("server answered with status {status}"),
        );
        return Ok(Outcome {
            status,
            body: Vec::new(),
            headers,
            failure: Some(failure),
        });
    }
    match read {
        Ok(Some(idle)) => client.pool.release(origin, idle),
        Ok(None) => {}
        Err(mut f) => {
            // A failure in the trailers carries TPT's list as it then stood.
            let listed = f.take_headers().unwrap_or(headers);
            return Err(f.with_headers(listed));
        }
    }
    Ok(Outcome {
        status,
        body: Vec::new(),
        headers,
        failure: None,
    })
}

/// Where the body of a response comes from.
enum Reply {
    /// Our HTTP/1.1 connection, positioned at the body.
    H1(h1::Conn, Framing),
    /// A stream of a shared HTTP/2 connection.
    H2(Incoming),
}

/// The announced body length as libcurl reports it in CURLINFO_CONTENT_LENGTH_DOWNLOAD_T: -1
/// when unknown (a chunked body's Content-Length does not count, nor one in a head cut by the
/// close), 0 for a 204 or 304.
fn content_length(head: &Head) -> i64 {
    if head.cut {
        return -1;
    }
    if matches!(head.status, 204 | 304) {
        return 0;
    }
    if head.is_chunked() {
        return -1;
    }
    match head.length() {
        h1::Length::Known(n) => i64::try_from(n).unwrap_or(-1),
        _ => -1,
    }
}

/// A hyper (HTTP/2) response head as TPT reports heads.
fn head_of(resp: &Response<Incoming>) -> Head {
    Head {
        cut: false,
        status: resp.status().as_u16(),
        headers: resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes().to_vec(), spec::trim(v.as_bytes()).to_vec()))
            .collect(),
    }
}

/// Read the final response's body into the shared state, with progress. Returns the HTTP/1.1
/// connection when it can carry another request.
async fn read_body(
    client: &ClientInner,
    reply: Reply,
    total: i64,
    reporter: &Reporter,
    activity: &Activity,
    mut decoder: Option<Decoder>,
    headers: &mut Headers,
) -> Result<Option<h1::Conn>, Failure> {
    let max = client.config.max_response_bytes;
    let idle = client.config.idle_timeout;
    if let Some(max) = max.filter(|&m| total > 0 && total as u64 > m) {
        return Err(too_large(max));
    }
    // Reserve what Content-Length announces (bounded: it comes from the server), so a large
    // body is written in place and never copied by a reallocation. Untouched pages cost no RSS.
    reporter.reserve(usize::try_from(total).unwrap_or(0).min(RESERVE_LIMIT));
    let over = |n: u64| max.filter(|&m| n > m).map(too_large);
    let idle_conn = match reply {
        Reply::H2(mut body) => {
            while let Some(frame) = activity::watch(idle, activity, body.frame()).await? {
                let frame = frame.map_err(|e| internal("transfer failed while receiving the body", e))?;
                if let Ok(data) = frame.into_data() {
                    match &mut decoder {
                        None => {
                            if let Some(f) = over(reporter.received() as u64 + data.len() as u64) {
                                return Err(f);
                            }
                            reporter.append(&data);
                        }
                        Some(d) => d.feed(&data, reporter, max)?,
                    }
                }
            }
            None
        }
        Reply::H1(mut conn, mut framing) => {
            loop {
                match &mut decoder {
                    None => {
                        // One byte more than the limit allows shows the body is too large.
                        let room = max.map_or(usize::MAX, |m| {
                            let left = m.saturating_sub(reporter.received() as u64);
                            usize::try_from(left.saturating_add(1)).unwrap_or(usize::MAX)
                        });
                        let n = activity::watch(idle, activity, conn.read_into(&mut framing, room, reporter))
                            .await??;
                        if n == 0 {
                            break;
                        }
                        if let Some(f) = over(reporter.received() as u64) {
                            return Err(f);
                        }
                    }
                    Some(d) => {
                        let next =
                            activity::watch(idle, activity, conn.next(&mut framing, usize::MAX)).await??;
                        let Some(range) = next else { break };
                        d.feed(conn.slice(range), reporter, max)?;
                    }
                }
            }
            if let Some(list) = conn.take_trailer_list() {
                *headers = list;
            }
            conn.into_idle(&framing)
        }
    };
    if let Some(d) = decoder {
        let (rest, decoded) = d.finish()?;
        if let Some(f) = over(decoded) {
            return Err(f);
        }
        reporter.append_decoded(&rest, 0);
    }
    Ok(idle_conn)
}

fn too_large(max: u64) -> Failure {
    Failure::new(FailureKind::TooLarge, format!("response larger than {max} bytes"))
}

/// Decodes a gzip or deflate body as it arrives (for the `compressed` option).
struct Decoder {
    inner: DecoderKind,
    /// Decoded bytes so far (the size limit applies to these, not to the wire bytes).
    decoded: u64,
}

enum DecoderKind {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
}

impl Decoder {
    /// A decoder for the response's Content-Encoding, or `None` when it is not compressed.
    fn for_head(head: &Head) -> Option<Decoder> {
        let encoding = std::str::from_utf8(head.get("content-encoding")?).ok()?;
        let inner = match encoding.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => DecoderKind::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            "deflate" => DecoderKind::Zlib(flate2::write::ZlibDecoder::new(Vec::new())),
            _ => return None,
        };
        Some(Decoder { inner, decoded: 0 })
    }

    fn bad(e: std::io::Error) -> Failure {
        internal("bad compressed body", e)
    }

    /// Feed wire bytes; returns the bytes decoded so far.
    fn write(&mut self, data: &[u8]) -> Result<Vec<u8>, Failure> {
        use std::io::Write;
        let out = match &mut self.inner {
            DecoderKind::Gzip(d) => {
                d.write_all(data).map_err(Decoder::bad)?;
                std::mem::take(d.get_mut())
            }
            DecoderKind::Zlib(d) => {
                d.write_all(data).map_err(Decoder::bad)?;
                std::mem::take(d.get_mut())
            }
        };
        self.decoded += out.len() as u64;
        Ok(out)
    }

    /// Decode `wire` bytes into the body; fails once the decoded size passes `max`.
    fn feed(&mut self, wire: &[u8], reporter: &Reporter, max: Option<u64>) -> Result<(), Failure> {
        let out = self.write(wire)?;
        if let Some(max) = max.filter(|&m| self.decoded > m) {
            return Err(too_large(max));
        }
        reporter.append_decoded(&out, wire.len());
        Ok(())
    }

    /// The end of the body: the last decoded bytes and the decoded total.
    fn finish(self) -> Result<(Vec<u8>, u64), Failure> {
        let rest = match self.inner {
            DecoderKind::Gzip(d) => d.finish().map_err(Decoder::bad)?,
            DecoderKind::Zlib(d) => d.finish().map_err(Decoder::bad)?,
        };
        let total = self.decoded + rest.len() as u64;
        Ok((rest, total))
    }
}

/// Read a small redirect body to its end so the connection can be reused; a large or slow one
/// is abandoned (its connection closed) and the redirect followed anyway. The wait is bounded
/// in all (the idle timeout, or 1 s, whichever is shorter), however the bytes arrive: a body
/// that drips cannot keep it going.
async fn drain_redirect_body(client: &ClientInner, origin: &Origin, head: &Head, reply: Reply) {
    if content_length(head) > REDIRECT_BODY_DRAIN as i64 {
        return;
    }
    let patience = client
        .config
        .idle_timeout
        .map_or(REDIRECT_DRAIN_WAIT, |i| i.min(REDIRECT_DRAIN_WAIT));
    let deadline = tokio::time::Instant::now() + patience;
    let mut seen = 0;
    match reply {
        Reply::H2(mut body) => loop {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => seen += frame.data_ref().map_or(0, |d| d.len()),
                Ok(None) | Ok(Some(Err(_))) | Err(_) => return,
            }
            if seen > REDIRECT_BODY_DRAIN {
                return;
            }
        },
        Reply::H1(mut conn, mut framing) => {
            if framing == Framing::UntilClose {
                return;
            }
            loop {
                match tokio::time::timeout_at(deadline, conn.next(&mut framing, usize::MAX)).await {
                    Ok(Ok(Some(range))) => seen += range.len(),
                    Ok(Ok(None)) => break,
                    Ok(Err(_)) | Err(_) => return,
                }
                if seen > REDIRECT_BODY_DRAIN {
                    return;
                }
            }
            if let Some(idle) = conn.into_idle(&framing) {
                client.pool.release(origin, idle);
            }
        }
    }
}

/// A connection to `origin` from the pool (`true`: reused), or a new one opened within the
/// connect timeout.
async fn connection(
    client: &ClientInner,
    origin: &Origin,
    proxy: Option<&(String, u16)>,
) -> Result<(Conn, bool), Failure> {
    let slot = match client.pool.checkout(origin).await {
        Checkout::Ready(conn) => return Ok((conn, true)),
        Checkout::Open(slot) => slot,
    };
    let opened = tokio::time::timeout(
        client.config.connect_timeout,
        // Boxed: the TLS handshake's state is large and needed only when a connection is opened;
        // inline, it would be copied with every request's task.
        Box::pin(connect::open(
            &client.tls,
            origin,
            proxy,
            &client.config.hosts,
            slot,
        )),
    )
    .await
    .map_err(|_| {
        Failure::new(
            FailureKind::TimedOut,
            format!(
                "connection timed out after {} ms",
                client.config.connect_timeout.as_millis()
            ),
        )
    })??;
    if let Conn::H2(h2) = &opened {
        client.pool.share_h2(origin, h2);
    }
    Ok((opened, false))
}

/// Send one request to `origin`, on a pooled connection or a new one. Returns the response head
/// and where its body comes from.
async fn exchange(
    client: &ClientInner,
    origin: &Origin,
    url: &Url,
    target: &[u8],
    payload: &Payload,
    caller: &Headers,
) -> Result<(Head, Reply, Activity), Failure> {
    let proxy = client.proxy.for_origin(origin);
    let idle = client.config.idle_timeout;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (conn, reused) = connection(client, origin, proxy).await?;
        // A reused connection may have been closed by the server just as the request went out:
        // that request was never answered, and goes again on another connection.
        let may_retry = reused && attempts < 4;
        match conn {
            Conn::H1(mut conn) => {
                let headers = request_headers(client, url, payload, caller, false)?;
                let head = h1_head(url, target, payload, &headers, proxy.is_some() && !origin.https)?;
                let body = payload.body.as_deref().unwrap_or_default();
                let activity = conn.activity.clone();
                match activity::watch(idle, &activity, conn.send(head, body)).await? {
                    Ok(()) => {}
                    Err(_) if may_retry => continue,
                    Err(e) => return Err(internal("sending the request failed", e)),
                }
                // TPT never asks libcurl for a HEAD (CURLOPT_NOBODY): a "HEAD" verb is a custom
                // request, whose response libcurl frames by its headers like any other (a body
                // announced and not sent is waited for, as in the game).
                let is_head = false;
                match activity::watch(idle, &activity, conn.read_head(is_head)).await? {
                    Ok((head, framing)) => return Ok((head, Reply::H1(conn, framing), activity)),
                    Err(h1::HeadError::Unanswered(_)) if may_retry => continue,
                    Err(e) => return Err(e.into_failure()),
                }
            }
            Conn::H2(mut sender) => {
                if sender.send.ready().await.is_err() {
                    if attempts < 8 {
                        continue;
                    }
                    return Err(Failure::new(FailureKind::Internal, "http2 connection closed"));
                }
                let req = h2_request(url, payload, request_headers(client, url, payload, caller, true)?)?;
                let sent = sender.send.send_request(req);
                match activity::watch(idle, &sender.activity, sent).await? {
                    Ok(resp) => {
                        let head = head_of(&resp);
                        return Ok((head, Reply::H2(resp.into_body()), sender.activity));
                    }
                    Err(e)
                        if may_retry && (e.is_canceled() || e.is_incomplete_message() || e.is_closed()) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(internal("http2 request failed", e)),
                }
            }
        }
    }
}

/// The request's headers in the order they are sent: the client's defaults merged with the
/// caller's (see [`spec::merge_headers`]). HTTP/2 carries the host in its `:authority`.
fn request_headers(
    client: &ClientInner,
    url: &Url,
    payload: &Payload,
    caller: &Headers,
    h2: bool,
) -> Result<Headers, Failure> {
    let authority = &url[Position::BeforeHost..Position::AfterPort];
    let mut defaults: Vec<(&str, Vec<u8>)> = Vec::with_capacity(5);
    if !h2 {
        defaults.push(("Host", authority.as_bytes().to_vec()));
    }
    if let Some(basic) = userinfo_basic(url) {
        // libcurl sends a URL's user and password as Basic credentials, after Host.
        defaults.push(("Authorization", basic));
    }
    defaults.push(("User-Agent", client.config.user_agent.as_bytes().to_vec()));
    defaults.push(("Accept", b"*/*".to_vec()));
    if payload.compressed {
        defaults.push(("Accept-Encoding", b"gzip, deflate".to_vec()));
    }
    if let (false, Some(body)) = (h2, &payload.body) {
        defaults.push(("Content-Length", body.len().to_string().into_bytes()));
    }
    if let Some(ct) = &payload.content_type {
        defaults.push(("Content-Type", ct.clone()));
    }
    if let (false, Some(body)) = (h2, &payload.body)
        && body.len() > EXPECT_100_THRESHOLD
    {
        // libcurl asks before sending a body over 1 MiB (a caller `Expect:` removes it). It
        // then waits up to a second for the answer; the body goes out at once here.
        defaults.push(("Expect", b"100-continue".to_vec()));
    }
    let mut merged = spec::merge_headers(&defaults, caller);
    if h2 {
        merged.retain(|(n, _)| !n.eq_ignore_ascii_case(b"host"));
    }
    for (name, value) in &merged {
        if !spec::is_token(name) {
            return Err(Failure::new(
                FailureKind::Internal,
                format!("invalid header name {:?}", String::from_utf8_lossy(name)),
            ));
        }
        if spec::has_line_break(value) {
            return Err(Failure::new(
                FailureKind::Internal,
                format!("invalid value for header {}", String::from_utf8_lossy(name)),
            ));
        }
    }
    Ok(merged)
}

/// A URL's user and password as an `Authorization: Basic` value (percent-decoded, joined by
/// `:`), as libcurl sends them; `None` without a user.
fn userinfo_basic(url: &Url) -> Option<Vec<u8>> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b[i],
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (b'%', Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                (c, _, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        out
    };
    let mut plain = decode(url.username());
    plain.push(b':');
    plain.extend(decode(url.password().unwrap_or("")));
    let mut value = b"Basic ".to_vec();
    value.extend(base64(&plain));
    Some(value)
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// An HTTP/1.1 request head: the request line (`target` in origin form, or in absolute form to
/// a proxy) and the headers as given (the body's Content-Length among them).
fn h1_head(
    url: &Url,
    target: &[u8],
    payload: &Payload,
    headers: &Headers,
    absolute: bool,
) -> Result<Vec<u8>, Failure> {
    let mut whole = Vec::new();
    let target = if absolute {
        whole.extend_from_slice(url.scheme().as_bytes());
        whole.extend_from_slice(b"://");
        whole.extend_from_slice(url[Position::BeforeHost..Position::AfterPort].as_bytes());
        whole.extend_from_slice(target);
        &whole
    } else {
        target
    };
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(Failure::new(FailureKind::MalformedUrl, "malformed url"));
    }
    let method = payload
        .verb
        .as_deref()
        .unwrap_or(payload.method.as_str().as_bytes());
    let size = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>();
    let mut out = Vec::with_capacity(method.len() + target.len() + size + 64);
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    // Content-Length is among `headers` (see request_headers).
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// An HTTP/2 request for hyper (the absolute URL: scheme and authority become pseudo-headers).
fn h2_request(url: &Url, payload: &Payload, headers: Headers) -> Result<Request<Full<Bytes>>, Failure> {
    let target = &url[..Position::AfterQuery];
    if let Some(verb) = &payload.verb
        && Method::from_bytes(verb).is_err()
    {
        return Err(Failure::new(FailureKind::Internal, "invalid method name"));
    }
    let mut builder = Request::builder().method(payload.method.clone()).uri(target);
    let map = builder
        .headers_mut()
        .ok_or_else(|| Failure::new(FailureKind::MalformedUrl, "malformed url"))?;
    for (name, value) in headers {
        let n = HeaderName::from_bytes(&name).map_err(|_| {
            Failure::new(
                FailureKind::Internal,
                format!("invalid header name {:?}", String::from_utf8_lossy(&name)),
            )
        })?;
        let v = HeaderValue::from_bytes(&value)
            .map_err(|_| Failure::new(FailureKind::Internal, format!("invalid value for header {n}")))?;
        map.append(n, v);
    }
    if let Some(body) = &payload.body {
        map.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let body = payload.body.clone().unwrap_or_default();
    builder
        .body(Full::new(body))
        .map_err(|e| Failure::new(FailureKind::MalformedUrl, format!("malformed url: {e}")))
}
