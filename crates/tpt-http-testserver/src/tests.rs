//! Tests that talk to the servers over real loopback sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::{CertificateDer, RawServer, Server, TestCa, closed_port};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `request` on a fresh connection and reads until the server closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.write_all(request).expect("write request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    response
}

/// Splits a response into its head (as text) and body.
fn split(response: &[u8]) -> (String, Vec<u8>) {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a complete head");
    (
        String::from_utf8(response[..end].to_vec()).expect("ASCII head"),
        response[end + 4..].to_vec(),
    )
}

fn get(addr: SocketAddr, target: &str) -> (String, Vec<u8>) {
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    split(&exchange(addr, request.as_bytes()))
}

fn has_header(head: &str, line: &str) -> bool {
    head.split("\r\n").any(|l| l.eq_ignore_ascii_case(line))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn echo_reports_the_request() {
    let server = Server::http();
    let request = b"POST /echo?a=%20b&c HTTP/1.1\r\nHost: example\r\nX-Test:  v 1 \r\nx-test: 2\r\nContent-Length: 4\r\nConnection: close\r\n\r\na\0\r\n";
    let (head, body) = split(&exchange(server.addr(), request));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(has_header(&head, "content-type: text/plain"), "{head}");
    let expected = b"method POST\npath /echo?a=%20b&c\nversion HTTP/1.1\nheader host: example\nheader x-test: v 1\nheader x-test: 2\nheader content-length: 4\nheader connection: close\nbody-length 4\n\na\0\r\n";
    assert_eq!(String::from_utf8_lossy(&body), String::from_utf8_lossy(expected));
    assert_eq!(server.connections_accepted(), 1);
}

#[test]
fn bytes_chunked_and_slow() {
    let server = Server::http();
    let (head, body) = get(server.addr(), "/bytes/10");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(has_header(&head, "content-length: 10"), "{head}");
    assert!(
        has_header(&head, "content-type: application/octet-stream"),
        "{head}"
    );
    assert_eq!(body, pattern(10));

    let (head, body) = get(server.addr(), "/bytes/70000");
    assert!(has_header(&head, "content-length: 70000"), "{head}");
    assert_eq!(body, pattern(70000));

    let (head, body) = get(server.addr(), "/chunked/40000");
    assert!(has_header(&head, "transfer-encoding: chunked"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("content-length"), "{head}");
    assert_eq!(dechunk(&body), pattern(40000));

    let start = Instant::now();
    let (head, body) = get(server.addr(), "/slow/300?ms=100&chunk=100");
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(has_header(&head, "content-length: 300"), "{head}");
    assert_eq!(body, pattern(300));

    let (head, body) = get(server.addr(), "/slow/5?ms=1&nolength=1");
    assert!(has_header(&head, "transfer-encoding: chunked"), "{head}");
    assert_eq!(dechunk(&body), pattern(5));
    assert_eq!(server.connections_accepted(), 5);
}

/// Decodes a chunked body (no extensions or trailers).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").expect("size");
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16).expect("hex size");
        body = &body[line_end + 2..];
        if size == 0 {
            assert_eq!(body, b"\r\n");
            return out;
        }
        out.extend_from_slice(&body[..size]);
        assert_eq!(&body[size..size + 2], b"\r\n");
        body = &body[size + 2..];
    }
}

#[test]
fn status_redirects_and_headers() {
    let server = Server::http();
    let (head, body) = get(server.addr(), "/status/418");
    assert!(head.starts_with("HTTP/1.1 418 I'm a teapot\r\n"), "{head}");
    assert_eq!(body, b"status 418");
    let (head, body) = get(server.addr(), "/status/699");
    assert!(head.starts_with("HTTP/1.1 699 "), "{head}");
    assert_eq!(body, b"status 699");
    let (head, _) = get(server.addr(), "/status/1000");
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");

    let (head, body) = get(server.addr(), "/redirect/1");
    assert!(head.starts_with("HTTP/1.1 302 Found\r\n"), "{head}");
    assert!(has_header(&head, "location: /redirect/0"), "{head}");
    assert_eq!(body, b"");
    let (head, _) = get(server.addr(), "/redirect/0?code=307");
    assert!(head.starts_with("HTTP/1.1 307 "), "{head}");
    assert!(has_header(&head, "location: /echo?code=307"), "{head}");
    let (head, _) = get(server.addr(), "/redirect-to?url=http%3A%2F%2Fx%2Fy%3Fz&code=301");
    assert!(head.starts_with("HTTP/1.1 301 "), "{head}");
    assert!(has_header(&head, "location: http://x/y?z"), "{head}");
    let (head, body) = get(server.addr(), "/no-location/303");
    assert!(head.starts_with("HTTP/1.1 303 "), "{head}");
    assert!(!head.to_ascii_lowercase().contains("location:"), "{head}");
    assert_eq!(body, b"no location");

    let (head, body) = get(server.addr(), "/headers?X-A=1&x-b=%20two%20&x-a=3");
    assert!(head.contains("\r\nx-a: 1\r\nx-a: 3\r\nx-b:  two \r\n"), "{head}");
    assert_eq!(body, b"ok");
    let (head, _) = get(server.addr(), "/headers?bad%20name=1");
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");

    let (head, body) = get(server.addr(), "/nowhere");
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert_eq!(body, b"not found");
}

#[test]
fn files_cookie_abort_and_hang() {
    let server = Server::http();
    server.add_file("a b.txt", b"hello".to_vec());
    let (head, body) = get(server.addr(), "/files/a%20b.txt");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(has_header(&head, "content-type: text/plain"), "{head}");
    assert_eq!(body, b"hello");
    let (head, _) = get(server.addr(), "/files/missing");
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");

    let request = b"GET /cookie HTTP/1.1\r\nHost: t\r\nCookie: x=1\r\nConnection: close\r\n\r\n";
    let (head, body) = split(&exchange(server.addr(), request));
    assert!(has_header(&head, "set-cookie: a=b"), "{head}");
    assert_eq!(body, b"x=1");

    let (head, body) = get(server.addr(), "/abort-mid-body?n=10");
    assert!(has_header(&head, "content-length: 20"), "{head}");
    assert_eq!(body, pattern(10));

    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .write_all(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 16];
    assert!(stream.read(&mut buf).is_err(), "/hang answered");
    let addr = server.addr();
    drop(server);
    // The connection is closed and nothing listens any more.
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn raw_servers_and_closed_port() {
    let raw = RawServer::start(b"HTTP/1.1 200 OK\r\n\r\nraw".to_vec(), false);
    assert_eq!(raw.base_url(), format!("http://127.0.0.1:{}", raw.addr().port()));
    let response = exchange(raw.addr(), b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response, b"HTTP/1.1 200 OK\r\n\r\nraw");

    let held = RawServer::start(b"partial".to_vec(), true);
    let mut stream = TcpStream::connect(held.addr()).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"partial");
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    assert!(stream.read(&mut buf).is_err(), "connection was not held open");
    drop(held);
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));

    let silent = RawServer::silent();
    let mut stream = TcpStream::connect(silent.addr()).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    assert!(stream.read(&mut buf).is_err(), "silent server wrote");

    let port = closed_port();
    assert_ne!(port, 0);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

fn connector(ca: &TestCa, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let ca_cert = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("CA PEM");
    roots.add(ca_cert).expect("add CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn https_h2_echo() {
    let ca = TestCa::new();
    let server = Server::https(&ca);
    assert_eq!(server.base_url(), format!("https://localhost:{}", server.port()));
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector(&ca, &[b"h2", b"http/1.1"])
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));

    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .uri(format!("{}/echo?q=1", server.base_url()))
        .header("x-one", "1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let expected = format!(
        "method GET\npath /echo?q=1\nversion HTTP/2.0\nheader host: localhost:{}\nheader x-one: 1\nbody-length 0\n\n",
        server.port()
    );
    assert_eq!(String::from_utf8_lossy(&body), expected);

    // Aborting mid-body resets the h2 stream after the first half.
    let request = hyper::Request::builder()
        .uri(format!("{}/abort-mid-body?n=5", server.base_url()))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.headers()["content-length"], "10");
    assert!(response.into_body().collect().await.is_err());
    assert_eq!(server.connections_accepted(), 1);
}

#[tokio::test]
async fn https_h1_only_and_bad_certificates() {
    let ca = TestCa::new();
    let server = Server::https_h1_only(&ca);
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector(&ca, &[b"h2", b"http/1.1"])
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(b"http/1.1".as_slice()));
    tls.write_all(b"GET /bytes/3 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    // The server may close without close_notify; what was read still counts.
    let _ = tls.read_to_end(&mut response).await;
    let (head, body) = split(&response);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, vec![0, 1, 2]);

    // An expired certificate and a wrong host name are both rejected.
    let (certs, key) = ca.issue_expired(&["localhost"]);
    let expired = Server::https_with(certs, key);
    let (certs, key) = ca.issue(&["example.com"]);
    let wrong_host = Server::https_with(certs, key);
    for server in [&expired, &wrong_host] {
        let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let result = connector(&ca, &[b"http/1.1"]).connect(name, tcp).await;
        assert!(result.is_err(), "bad certificate accepted");
    }
    // ...and a different CA is not trusted.
    let other = TestCa::new();
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    assert!(connector(&other, &[]).connect(name, tcp).await.is_err());
}
