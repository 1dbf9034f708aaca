//! The hyper based test server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use crate::TestCa;
use crate::routes::{self, Shared};
use crate::runtime::{Background, accept};

/// How accepted connections are served.
#[derive(Clone)]
enum Mode {
    Plain,
    Tls { acceptor: TlsAcceptor, h1_only: bool },
}

/// An HTTP or HTTPS test server on `127.0.0.1` with a port chosen by the OS.
///
/// It runs on its own thread with its own tokio runtime; dropping the
/// `Server` stops it, closes the listener and every open connection. Plain
/// servers speak HTTP/1.1 (and h2c with prior knowledge); HTTPS servers speak
/// h2 and HTTP/1.1, chosen by ALPN (unless created by
/// [`Server::https_h1_only`]).
///
/// # Routes
///
/// Query strings are percent-decoded (`+` stays `+`). Every route reads the
/// whole request body before answering, and accepts any method.
///
/// * `/echo`: 200, `text/plain`, a report made of the lines
///   `method M`, `path P` (path and query as received), `version V`
///   (`HTTP/1.1` or `HTTP/2.0`), one `header name: value` line per request
///   header (lowercase names; for h2 a synthetic `header host: AUTHORITY`
///   line comes first when there is no `host` header), `body-length N`, an
///   empty line, and then the raw request body. Headers come in the order
///   received, except that repeated headers of one name are grouped at the
///   position of the first one.
/// * `/bytes/N`: `N` pattern bytes (byte `i` is `i % 251`),
///   `application/octet-stream`, with `Content-Length`.
/// * `/chunked/N`: the same bytes, streamed in pieces of at most 16 KiB
///   without `Content-Length` (chunked on HTTP/1.1).
/// * `/slow/N?ms=M&chunk=C`: `N` pattern bytes in pieces of `C` bytes
///   (default 1024) with a pause of `M` ms (default 50) before every piece but
///   the first; with `Content-Length` unless `nolength=1` is given.
/// * `/status/N`: status `N` (100..=999), body `status N`.
/// * `/redirect/N`: 302 with `Location: /redirect/{N-1}`, or `/echo` when
///   `N` is 0; `code=C` changes the status of every hop, and the query string
///   is kept on every hop (including the final `/echo`). Empty body.
/// * `/redirect-to?url=U&code=C`: status `C` (default 302),
///   `Location: U`, empty body.
/// * `/no-location/C`: status `C`, no `Location`, body `no location`.
/// * `/headers?name=value&...`: 200, body `ok`, each query pair appended as a
///   response header, in order.
/// * `/hang`: reads the request and never answers.
/// * `/files/NAME`: a file added with [`Server::add_file`], else 404.
/// * `/abort-mid-body?n=N` (default 1024): `Content-Length: 2N`, then `N`
///   pattern bytes, then (after 100 ms) the body fails on purpose: on
///   HTTP/1.1 hyper closes the connection, on h2 the stream is reset. This
///   works on every server kind.
/// * `/cookie`: 200 with `Set-Cookie: a=b`; the body is the request's
///   `Cookie` header (several joined with `; `), or empty.
/// * `/ExternalAuth.api` and `/mock/KIND/ARG/ExternalAuth.api`: the reference auth server
///   (users from [`Server::add_user`]) and mock answers for auth tests; see the `auth` module.
/// * `/gzip/N`, `/deflate/N`: `N` pattern bytes compressed (gzip, or zlib-wrapped deflate), with
///   `Content-Encoding`, whatever the request asked for; `/gzip-broken`: a gzip header then
///   garbage.
/// * anything else: 404 `not found`.
///
/// Malformed numbers, header names or values in a request give 400.
pub struct Server {
    background: Background,
    tls: bool,
    shared: Arc<Shared>,
}

impl Server {
    /// Starts a plain HTTP/1.1 server on `127.0.0.1:0` (port chosen by the
    /// OS) on its own thread with its own tokio runtime.
    pub fn http() -> Server {
        Server::start(Mode::Plain)
    }

    /// Starts an HTTPS server on `127.0.0.1:0` with a certificate for
    /// `localhost` and `127.0.0.1` issued by `ca`. ALPN offers `h2` and
    /// `http/1.1`.
    pub fn https(ca: &TestCa) -> Server {
        let (certs, key) = ca.issue(&["localhost", "127.0.0.1"]);
        Server::https_with(certs, key)
    }

    /// Starts an HTTPS server with the given certificate chain and key (for
    /// wrong-host, expired or self-signed certificate tests). ALPN offers `h2`
    /// and `http/1.1`.
    pub fn https_with(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Server {
        Server::start(Mode::Tls {
            acceptor: tls_acceptor(certs, key, &[b"h2", b"http/1.1"]),
            h1_only: false,
        })
    }

    /// Starts an HTTPS server like [`Server::https`] that only speaks
    /// HTTP/1.1 (ALPN offers only `http/1.1`).
    pub fn https_h1_only(ca: &TestCa) -> Server {
        let (certs, key) = ca.issue(&["localhost", "127.0.0.1"]);
        Server::start(Mode::Tls {
            acceptor: tls_acceptor(certs, key, &[b"http/1.1"]),
            h1_only: true,
        })
    }

    fn start(mode: Mode) -> Server {
        let tls = matches!(mode, Mode::Tls { .. });
        let shared = Arc::new(Shared::default());
        let loop_shared = Arc::clone(&shared);
        let background = Background::start("tpt-http-testserver", move |listener| {
            accept_loop(listener, mode, loop_shared)
        });
        Server {
            background,
            tls,
            shared,
        }
    }

    /// The address the server listens on (always `127.0.0.1`).
    pub fn addr(&self) -> SocketAddr {
        self.background.addr()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// `http://127.0.0.1:PORT` or `https://localhost:PORT` (no trailing
    /// slash).
    pub fn base_url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.port())
        } else {
            format!("http://127.0.0.1:{}", self.port())
        }
    }

    /// Number of TCP connections accepted so far (counted before any TLS
    /// handshake), for connection-reuse tests.
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Registers a user of the reference auth server (`/ExternalAuth.api`, see the crate's
    /// `auth` module): `X-Auth-User-Id: id` with `X-Auth-Session-Key: session_key` gets tokens
    /// naming `name`.
    pub fn add_user(&self, id: &str, session_key: &str, name: &str) {
        let mut users = self
            .shared
            .users
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        users.add(id, session_key, name);
    }

    /// Adds (or replaces) a static file served at `/files/NAME`.
    pub fn add_file(&self, name: &str, contents: Vec<u8>) {
        let mut files = self
            .shared
            .files
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        files.insert(name.to_owned(), contents);
    }
}

/// Builds a rustls acceptor (ring provider, TLS 1.2 and 1.3) with the given
/// ALPN protocols. Panics on an unusable certificate or key.
pub(crate) fn tls_acceptor(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("unusable test server certificate or key");
    config.alpn_protocols = alpn.iter().map(|proto| proto.to_vec()).collect();
    TlsAcceptor::from(Arc::new(config))
}

async fn accept_loop(listener: tokio::net::TcpListener, mode: Mode, shared: Arc<Shared>) {
    loop {
        let stream = accept(&listener).await;
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        let mode = mode.clone();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            match mode {
                Mode::Plain => serve_http(stream, shared, false).await,
                Mode::Tls { acceptor, h1_only } => {
                    // A failed handshake (e.g. the client rejected the
                    // certificate) just ends the connection.
                    if let Ok(tls) = acceptor.accept(stream).await {
                        serve_http(tls, shared, h1_only).await;
                    }
                }
            }
        });
    }
}

async fn serve_http<I>(io: I, shared: Arc<Shared>, h1_only: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(routes::handle(request, &shared).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if h1_only {
        builder = builder.http1_only();
    }
    // Errors (client went away, deliberate body abort, ...) end the connection.
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}
