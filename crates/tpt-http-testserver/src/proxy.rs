//! An HTTP proxy on loopback, for proxy tests: CONNECT tunnels and absolute-form forwarding.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::{Background, accept};

/// Longest request head the proxy reads; a longer one is answered with 400.
const MAX_HEAD: usize = 64 * 1024;

/// How long a refused connection keeps draining the client's leftover bytes after the answer,
/// so that the close does not turn into a reset that destroys the answer.
const LINGER: Duration = Duration::from_secs(2);

const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const FORBIDDEN: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BAD_GATEWAY: &[u8] = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection Established\r\n\r\n";

/// Counters and the request log shared between a [`ProxyServer`] and its connections.
#[derive(Default)]
struct Shared {
    connects: AtomicUsize,
    forwards: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

/// An HTTP proxy on `127.0.0.1` (port chosen by the OS) that only reaches loopback targets.
///
/// Started with [`ProxyServer::start`], it handles, once per client connection:
///
/// * `CONNECT host:port HTTP/1.1`: connects to the target, answers
///   `HTTP/1.1 200 Connection Established`, then relays bytes both ways until either side
///   closes (so TLS runs end to end between client and target). Counted by
///   [`ProxyServer::connects`].
/// * absolute-form requests such as `GET http://host:port/path HTTP/1.1`: connects to
///   `host:port` (port 80 if none is given), forwards the request head with the request line
///   rewritten to origin-form (`GET /path HTTP/1.1`; headers unchanged), then relays bytes both
///   ways. Later requests on the same client connection go to the same target unchanged (one
///   origin per client connection). Counted by [`ProxyServer::forwards`].
///
/// A target that is not a loopback address (`127.0.0.0/8`, `::1`, or `localhost`, which is
/// taken as `127.0.0.1`) is refused with `403 Forbidden`; a target that cannot be reached gets
/// `502 Bad Gateway`; anything else (an origin-form request, a malformed or overlong head) gets
/// `400 Bad Request`. Each of these answers closes the connection. The proxy never resolves
/// names, so it never touches the network beyond loopback.
///
/// [`ProxyServer::refusing`] starts a proxy that answers every request with `403 Forbidden`.
///
/// Like the other servers it runs on its own thread with its own tokio runtime; dropping it
/// closes the listener and every open connection and tunnel, and joins the thread.
pub struct ProxyServer {
    background: Background,
    shared: Arc<Shared>,
}

impl ProxyServer {
    /// Starts a forwarding proxy (CONNECT tunnels and absolute-form requests to loopback).
    pub fn start() -> ProxyServer {
        ProxyServer::run(false)
    }

    /// Starts a proxy that reads each request head, answers `HTTP/1.1 403 Forbidden` and
    /// closes the connection, without connecting anywhere.
    pub fn refusing() -> ProxyServer {
        ProxyServer::run(true)
    }

    fn run(refuse: bool) -> ProxyServer {
        let shared = Arc::new(Shared::default());
        let loop_shared = Arc::clone(&shared);
        let background = Background::start("tpt-http-proxy", move |listener| async move {
            loop {
                let stream = accept(&listener).await;
                tokio::spawn(serve(stream, Arc::clone(&loop_shared), refuse));
            }
        });
        ProxyServer { background, shared }
    }

    /// The address the proxy listens on (always `127.0.0.1`).
    pub fn addr(&self) -> SocketAddr {
        self.background.addr()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash), for `Config::proxy` or `--proxy`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr().port())
    }

    /// Number of CONNECT tunnels opened so far (counted once the target connection is made,
    /// before the `200` answer is written).
    pub fn connects(&self) -> usize {
        self.shared.connects.load(Ordering::SeqCst)
    }

    /// Number of absolute-form requests forwarded so far (counted once the target connection is
    /// made, before the request is forwarded). Only the first request of each client
    /// connection is counted; later ones on the same connection are relayed raw.
    pub fn forwards(&self) -> usize {
        self.shared.forwards.load(Ordering::SeqCst)
    }

    /// The request lines received so far (the first line of each client connection's first
    /// request head, as sent, e.g. `CONNECT localhost:443 HTTP/1.1`), in order of arrival.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

/// Reads one request head (through the blank line). Returns the head and any bytes read past
/// it, or `None` if the stream ended or the head is too long.
async fn read_head(stream: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = data.split_off(end + 4);
            return Some((data, rest));
        }
        if data.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `answer`, shuts down the write side and drains what the client still sends for a
/// short while before the socket is dropped.
async fn answer_and_close(mut stream: TcpStream, answer: &[u8]) {
    if stream.write_all(answer).await.is_err() {
        return;
    }
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Splits `authority` (`host`, `host:port`, `[v6]`, `[v6]:port`, optionally preceded by
/// `userinfo@`) into host and port (`default_port` when none is given).
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

/// The loopback address for `host`, or `None` if it is not a loopback name or address.
fn loopback(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    host.parse::<IpAddr>().ok().filter(IpAddr::is_loopback)
}

/// What a client asked the proxy to do.
enum Target {
    /// `CONNECT host:port`.
    Tunnel { host: String, port: u16 },
    /// An absolute-form request: the target and the head rewritten to origin-form.
    Forward { host: String, port: u16, head: Vec<u8> },
}

/// Parses the request line of `head`.
fn parse_target(head: &[u8]) -> Option<Target> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method.is_empty() || !version.starts_with("HTTP/") {
        return None;
    }
    if method == "CONNECT" {
        let (host, port) = split_authority(target, 443)?;
        return Some(Target::Tunnel { host, port });
    }
    let scheme_end = target.find("://")?;
    if !target[..scheme_end].eq_ignore_ascii_case("http") {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let path_start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_start);
    let (host, port) = split_authority(authority, 80)?;
    let path = path.split('#').next().unwrap_or_default();
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let mut rewritten = format!("{method} {path} {version}").into_bytes();
    rewritten.extend_from_slice(&head[line_end..]);
    Some(Target::Forward {
        host,
        port,
        head: rewritten,
    })
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>, refuse: bool) {
    let _ = client.set_nodelay(true);
    let Some((head, rest)) = read_head(&mut client).await else {
        return answer_and_close(client, BAD_REQUEST).await;
    };
    let line_end = head.windows(2).position(|w| w == b"\r\n").unwrap_or(head.len());
    shared
        .requests
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .push(String::from_utf8_lossy(&head[..line_end]).into_owned());
    if refuse {
        return answer_and_close(client, FORBIDDEN).await;
    }
    let Some(target) = parse_target(&head) else {
        return answer_and_close(client, BAD_REQUEST).await;
    };
    let (host, port) = match &target {
        Target::Tunnel { host, port } | Target::Forward { host, port, .. } => (host, *port),
    };
    let Some(ip) = loopback(host) else {
        return answer_and_close(client, FORBIDDEN).await;
    };
    let Ok(mut upstream) = TcpStream::connect((ip, port)).await else {
        return answer_and_close(client, BAD_GATEWAY).await;
    };
    let _ = upstream.set_nodelay(true);
    match target {
        Target::Tunnel { .. } => {
            shared.connects.fetch_add(1, Ordering::SeqCst);
            if client.write_all(ESTABLISHED).await.is_err() {
                return;
            }
        }
        Target::Forward { head, .. } => {
            shared.forwards.fetch_add(1, Ordering::SeqCst);
            if upstream.write_all(&head).await.is_err() {
                return;
            }
        }
    }
    // Bytes the client sent right after the head belong to the target.
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;
    use crate::{Server, closed_port};

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn connect(proxy: &ProxyServer) -> TcpStream {
        let stream = TcpStream::connect(proxy.addr()).expect("connect to the proxy");
        stream.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        stream
    }

    /// Sends `request` through a fresh proxy connection and reads until it closes.
    fn exchange(proxy: &ProxyServer, request: &[u8]) -> String {
        let mut stream = connect(proxy);
        stream.write_all(request).expect("write request");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read response");
        String::from_utf8(response).expect("utf-8 response")
    }

    /// Reads one response head (through the blank line) byte by byte.
    fn read_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("read response head");
            head.push(byte[0]);
        }
        String::from_utf8(head).expect("utf-8 head")
    }

    fn body(response: &str) -> &str {
        response.split_once("\r\n\r\n").expect("complete head").1
    }

    #[test]
    fn connect_opens_a_tunnel() {
        let server = Server::http();
        let proxy = ProxyServer::start();
        let mut stream = connect(&proxy);
        let target = format!("127.0.0.1:{}", server.port());
        write!(stream, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
        assert_eq!(
            read_head(&mut stream),
            "HTTP/1.1 200 Connection Established\r\n\r\n"
        );
        assert_eq!(proxy.connects(), 1);
        stream
            .write_all(b"GET /bytes/5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let response = String::from_utf8(response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert_eq!(body(&response).as_bytes(), &[0, 1, 2, 3, 4]);
        assert_eq!(proxy.connects(), 1);
        assert_eq!(proxy.forwards(), 0);
        assert_eq!(proxy.requests(), vec![format!("CONNECT {target} HTTP/1.1")]);
        assert_eq!(server.connections_accepted(), 1);
    }

    #[test]
    fn connect_to_localhost_and_bytes_sent_early_reach_the_target() {
        let server = Server::http();
        let proxy = ProxyServer::start();
        // The request to tunnel is sent together with the CONNECT head.
        let request = format!(
            "CONNECT localhost:{} HTTP/1.1\r\n\r\nGET /status/201 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            server.port()
        );
        let response = exchange(&proxy, request.as_bytes());
        let (established, rest) = response.split_at(ESTABLISHED.len());
        assert_eq!(established.as_bytes(), ESTABLISHED);
        assert!(rest.starts_with("HTTP/1.1 201 Created\r\n"), "{rest}");
        assert_eq!(body(rest), "status 201");
        assert_eq!(proxy.connects(), 1);
    }

    #[test]
    fn absolute_form_is_forwarded_in_origin_form() {
        let server = Server::http();
        let proxy = ProxyServer::start();
        let request = format!(
            "POST http://127.0.0.1:{}/echo?a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
            server.port()
        );
        let response = exchange(&proxy, request.as_bytes());
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert_eq!(
            body(&response),
            "method POST\npath /echo?a=1\nversion HTTP/1.1\nheader host: 127.0.0.1\n\
             header content-length: 3\nheader connection: close\nbody-length 3\n\nabc"
        );
        assert_eq!(proxy.forwards(), 1);
        assert_eq!(proxy.connects(), 0);
        assert_eq!(
            proxy.requests(),
            vec![format!(
                "POST http://127.0.0.1:{}/echo?a=1 HTTP/1.1",
                server.port()
            )]
        );
    }

    #[test]
    fn absolute_form_without_path_asks_for_root() {
        let server = Server::http();
        let proxy = ProxyServer::start();
        let request = format!(
            "GET http://localhost:{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            server.port()
        );
        let response = exchange(&proxy, request.as_bytes());
        // The test server has no route `/`: its 404 proves the target was rewritten to `/`.
        assert!(response.starts_with("HTTP/1.1 404 Not Found\r\n"), "{response}");
        assert_eq!(body(&response), "not found");
        assert_eq!(proxy.forwards(), 1);
    }

    #[test]
    fn non_loopback_targets_are_forbidden() {
        let proxy = ProxyServer::start();
        let forbidden = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        for request in [
            "CONNECT example.com:443 HTTP/1.1\r\n\r\n",
            "CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n",
            "GET http://192.0.2.1:80/ HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
        ] {
            assert_eq!(exchange(&proxy, request.as_bytes()), forbidden, "{request}");
        }
        assert_eq!((proxy.connects(), proxy.forwards()), (0, 0));
        assert_eq!(proxy.requests().len(), 4);
    }

    #[test]
    fn unreachable_target_is_a_bad_gateway() {
        let proxy = ProxyServer::start();
        let request = format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", closed_port());
        assert_eq!(
            exchange(&proxy, request.as_bytes()),
            "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(proxy.connects(), 0);
    }

    #[test]
    fn malformed_requests_are_bad_requests() {
        let proxy = ProxyServer::start();
        let bad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        for request in [
            "GET /origin-form HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET https://127.0.0.1/ HTTP/1.1\r\n\r\n",
            "CONNECT 127.0.0.1:notaport HTTP/1.1\r\n\r\n",
            "CONNECT [::1 HTTP/1.1\r\n\r\n",
            "nonsense\r\n\r\n",
        ] {
            assert_eq!(exchange(&proxy, request.as_bytes()), bad, "{request}");
        }
        // A head that ends before its blank line.
        let mut stream = connect(&proxy);
        stream.write_all(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n").unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert_eq!(response, bad);
    }

    #[test]
    fn refusing_proxy_answers_403_and_closes() {
        let server = Server::http();
        let proxy = ProxyServer::refusing();
        let forbidden = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let connect = format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", server.port());
        let get = format!("GET {}/bytes/1 HTTP/1.1\r\n\r\n", server.base_url());
        assert_eq!(exchange(&proxy, connect.as_bytes()), forbidden);
        assert_eq!(exchange(&proxy, get.as_bytes()), forbidden);
        assert_eq!((proxy.connects(), proxy.forwards()), (0, 0));
        assert_eq!(server.connections_accepted(), 0);
        assert_eq!(proxy.url(), format!("http://127.0.0.1:{}", proxy.addr().port()));
    }

    #[test]
    fn drop_closes_open_tunnels() {
        let server = Server::http();
        let proxy = ProxyServer::start();
        let mut stream = connect(&proxy);
        write!(stream, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", server.port()).unwrap();
        assert_eq!(
            read_head(&mut stream),
            "HTTP/1.1 200 Connection Established\r\n\r\n"
        );
        drop(proxy);
        let mut rest = Vec::new();
        // The tunnel is gone: end of stream (or a reset), never a hang.
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty());
    }

    #[test]
    fn authorities_split() {
        assert_eq!(split_authority("h:1", 80), Some(("h".into(), 1)));
        assert_eq!(split_authority("u:p@h", 80), Some(("h".into(), 80)));
        assert_eq!(split_authority("[::1]:8080", 80), Some(("::1".into(), 8080)));
        assert_eq!(split_authority("[::1]", 443), Some(("::1".into(), 443)));
        assert_eq!(split_authority(":80", 80), None);
        assert_eq!(split_authority("h:0", 80), None);
        assert_eq!(split_authority("[::1]x", 80), None);
        assert_eq!(loopback("LOCALHOST"), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(loopback("127.0.0.2"), "127.0.0.2".parse().ok());
        assert_eq!(loopback("::1"), "::1".parse().ok());
        assert_eq!(loopback("10.0.0.1"), None);
        assert_eq!(loopback("localhost.example"), None);
    }
}
