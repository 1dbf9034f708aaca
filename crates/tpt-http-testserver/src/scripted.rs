//! A server whose connections follow a script of steps, for hostile-server tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::runtime::{Background, accept};

/// Longest request head [`Step::ReadHead`] reads before going on anyway.
const MAX_HEAD: usize = 64 * 1024;

/// How long [`Step::Close`] keeps draining what the client still sends after the write side
/// is shut down, so that the close is a clean FIN rather than a reset.
const CLOSE_DRAIN: Duration = Duration::from_secs(1);

/// One thing a [`ScriptedServer`] connection does. The steps of a [`Script`] run in order on
/// every accepted connection; when they run out the connection is closed as by
/// [`Step::Close`]. A failed read or write (the client went away) ends the script at once.
#[derive(Clone, Debug)]
pub enum Step {
    /// Read the request head: until `\r\n\r\n`, 64 KiB or the end of the stream. The head
    /// is recorded (see [`ScriptedServer::heads`]).
    ReadHead,
    /// Wait until at least one byte arrives (or the stream ends), and discard what was read.
    ReadSome,
    /// Write these bytes and flush.
    Send(Vec<u8>),
    /// Do nothing for this long.
    Sleep(Duration),
    /// Write `bytes`, then again every `every`, for at most `for_at_most` in all (then go on
    /// with the next step), or until a write fails.
    Repeat {
        /// What is written each time.
        bytes: Vec<u8>,
        /// The pause between two writes.
        every: Duration,
        /// When to stop repeating, counted from the first write.
        for_at_most: Duration,
    },
    /// Abort the connection: `SO_LINGER` 0, then close, so the client sees a TCP reset (RST)
    /// instead of an orderly end. Ends the script.
    Reset,
    /// Shut down the write side (for TLS: `close_notify` first), drain whatever the client
    /// still sends for up to a second, and close. Ends the script.
    Close,
    /// Close the socket at once, with no orderly shutdown: no TLS `close_notify`, no drain.
    /// The client sees a plain end of stream (or a reset if it had sent bytes the script did
    /// not read). Ends the script.
    Drop,
    /// Keep the connection open without reading or writing until the server is dropped.
    /// Ends the script.
    Hold,
}

/// A script for a [`ScriptedServer`]: its steps, whether the request head is read first, and
/// whether connections speak TLS.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use tpt_http_testserver::{Script, Step};
/// let server = Script::new(vec![
///     Step::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab".to_vec()),
///     Step::Sleep(Duration::from_millis(50)),
///     Step::Reset,
/// ])
/// .start();
/// assert!(server.base_url().starts_with("http://127.0.0.1:"));
/// ```
#[derive(Clone)]
pub struct Script {
    steps: Vec<Step>,
    read_head: bool,
    tls: Option<TlsAcceptor>,
}

impl Script {
    /// A plain TCP script that reads the request head (as [`Step::ReadHead`]) before `steps`.
    pub fn new(steps: Vec<Step>) -> Script {
        Script {
            steps,
            read_head: true,
            tls: None,
        }
    }

    /// Run the steps from the moment the connection is accepted (and, with TLS, the handshake
    /// completed), without reading the request head first.
    pub fn without_head(mut self) -> Script {
        self.read_head = false;
        self
    }

    /// Complete a TLS handshake (TLS 1.2 or 1.3) with this certificate chain and key, offering
    /// these ALPN protocols (e.g. `&[b"h2"]`), before the steps. A failed handshake ends the
    /// connection.
    ///
    /// # Panics
    /// If rustls refuses the certificate or key.
    pub fn tls(
        mut self,
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        alpn: &[&[u8]],
    ) -> Script {
        self.tls = Some(crate::server::tls_acceptor(certs, key, alpn));
        self
    }

    /// Start a [`ScriptedServer`] that runs this script on every connection.
    pub fn start(self) -> ScriptedServer {
        ScriptedServer::with(self)
    }
}

/// What a server records about its connections.
#[derive(Default)]
struct Record {
    connections: AtomicUsize,
    /// Steps finished, over all connections (the implicit head read counts).
    steps: AtomicUsize,
    heads: Mutex<Vec<Vec<u8>>>,
    /// Bytes written by [`Step::Send`] and [`Step::Repeat`], over all connections.
    sent: Arc<AtomicU64>,
}

/// Reads how many bytes a [`ScriptedServer`] has written so far (see
/// [`ScriptedServer::sent_meter`]); it outlives the server.
#[derive(Clone, Debug)]
pub struct SentMeter(Arc<AtomicU64>);

impl SentMeter {
    /// Bytes written by the server's `Send` and `Repeat` steps, over all connections.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A TCP (or TLS) server on `127.0.0.1` (port chosen by the OS) whose every connection follows
/// a [`Script`]: write these bytes, sleep, drip forever, reset, close, hold... For tests of
/// what a client does when a server misbehaves.
///
/// Runs on its own thread with its own tokio runtime, like the other servers of this crate.
/// Dropping it stops accepting, drops every connection (whatever step it is at: sleeping,
/// repeating or holding) and joins the thread, so a drop never waits for a script to finish.
pub struct ScriptedServer {
    background: Background,
    tls: bool,
    record: Arc<Record>,
}

impl ScriptedServer {
    /// Starts a plain TCP server that reads each request head and then runs `steps`; the same
    /// as `Script::new(steps).start()`.
    pub fn start(steps: Vec<Step>) -> ScriptedServer {
        Script::new(steps).start()
    }

    /// Starts a server running `script` on every connection.
    pub fn with(script: Script) -> ScriptedServer {
        let tls = script.tls.is_some();
        let record = Arc::new(Record::default());
        let loop_record = Arc::clone(&record);
        let script = Arc::new(script);
        let background = Background::start("tpt-http-scripted", move |listener| async move {
            loop {
                let stream = accept(&listener).await;
                loop_record.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, Arc::clone(&script), Arc::clone(&loop_record)));
            }
        });
        ScriptedServer {
            background,
            tls,
            record,
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

    /// `http://127.0.0.1:PORT`, or `https://127.0.0.1:PORT` with TLS (no trailing slash).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port())
    }

    /// Number of TCP connections accepted so far (counted before any TLS handshake).
    pub fn connections(&self) -> usize {
        self.record.connections.load(Ordering::SeqCst)
    }

    /// Steps finished so far, over all connections, the implicit first head read included:
    /// lets a test wait for a script to reach a point instead of sleeping.
    pub fn steps_done(&self) -> usize {
        self.record.steps.load(Ordering::SeqCst)
    }

    /// Bytes written so far by [`Step::Send`] and [`Step::Repeat`], over all connections
    /// (TLS: before encryption): what a client had to read. For tests that bound a client's
    /// work by what it received.
    pub fn sent_meter(&self) -> SentMeter {
        SentMeter(Arc::clone(&self.record.sent))
    }

    /// The request heads read so far (by [`Step::ReadHead`] or the implicit first read), in
    /// the order they were completed.
    pub fn heads(&self) -> Vec<Vec<u8>> {
        let heads = self
            .record
            .heads
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        heads.clone()
    }
}

async fn serve(stream: TcpStream, script: Arc<Script>, record: Arc<Record>) {
    let _ = stream.set_nodelay(true);
    match &script.tls {
        None => run(stream, &script, &record, plain_socket).await,
        Some(acceptor) => {
            if let Ok(tls) = acceptor.accept(stream).await {
                run(tls, &script, &record, tls_socket).await;
            }
        }
    }
}

fn plain_socket(stream: &TcpStream) -> &TcpStream {
    stream
}

fn tls_socket(stream: &tokio_rustls::server::TlsStream<TcpStream>) -> &TcpStream {
    stream.get_ref().0
}

/// Run the script on `io`; `tcp` gives the socket under it (for [`Step::Reset`]).
async fn run<S>(mut io: S, script: &Script, record: &Record, tcp: fn(&S) -> &TcpStream)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let head = script.read_head.then_some(&Step::ReadHead);
    for step in head.into_iter().chain(script.steps.iter()) {
        match step {
            Step::ReadHead => match read_head(&mut io).await {
                Some(head) => lock(&record.heads).push(head),
                None => return,
            },
            Step::ReadSome => {
                let mut buf = [0u8; 4096];
                if !matches!(io.read(&mut buf).await, Ok(n) if n > 0) {
                    return;
                }
            }
            Step::Send(bytes) => {
                if io.write_all(bytes).await.is_err() || io.flush().await.is_err() {
                    return;
                }
                record.sent.fetch_add(bytes.len() as u64, Ordering::SeqCst);
            }
            Step::Sleep(pause) => tokio::time::sleep(*pause).await,
            Step::Repeat {
                bytes,
                every,
                for_at_most,
            } => {
                let end = Instant::now() + *for_at_most;
                loop {
                    if io.write_all(bytes).await.is_err() || io.flush().await.is_err() {
                        return;
                    }
                    record.sent.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                    if Instant::now() + *every > end {
                        break;
                    }
                    tokio::time::sleep(*every).await;
                }
            }
            Step::Reset => {
                let _ = tcp(&io).set_zero_linger();
                return; // dropping `io` closes the socket: with linger 0, a reset
            }
            Step::Close => break,
            Step::Drop => return,
            Step::Hold => std::future::pending::<()>().await,
        }
        record.steps.fetch_add(1, Ordering::SeqCst);
    }
    close(&mut io).await;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Read until `\r\n\r\n`, [`MAX_HEAD`] bytes or the end of the stream. `None` if the stream
/// failed or ended before any byte.
async fn read_head<S: AsyncRead + Unpin>(io: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // One byte at a time, so that nothing after the head is consumed.
    while head.len() < MAX_HEAD && !head.ends_with(b"\r\n\r\n") {
        match io.read(&mut byte).await {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(_) => return None,
        }
    }
    (!head.is_empty()).then_some(head)
}

/// An orderly close: shut down the write side, drain for at most [`CLOSE_DRAIN`].
async fn close<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) {
    let _ = io.shutdown().await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(CLOSE_DRAIN, async {
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestCa;
    use rustls_pki_types::ServerName;
    use rustls_pki_types::pem::PemObject;
    use std::io::{ErrorKind, Read, Write};
    use std::time::Instant as StdInstant;

    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

    fn connect(server: &ScriptedServer) -> std::net::TcpStream {
        let stream = std::net::TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        stream
    }

    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = StdInstant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(StdInstant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn sends_after_the_head_then_closes() {
        let server = ScriptedServer::start(vec![
            Step::Send(b"one ".to_vec()),
            Step::Sleep(Duration::from_millis(150)),
            Step::Send(b"two".to_vec()),
        ]);
        assert_eq!(server.base_url(), format!("http://127.0.0.1:{}", server.port()));
        let mut stream = connect(&server);
        stream.write_all(HEAD).expect("write head");
        let started = StdInstant::now();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read to end");
        assert_eq!(got, b"one two");
        assert!(
            started.elapsed() >= Duration::from_millis(140),
            "the sleep happened"
        );
        assert_eq!(server.connections(), 1);
        assert_eq!(server.heads(), vec![HEAD.to_vec()]);
    }

    #[test]
    fn nothing_is_sent_before_the_head_is_complete() {
        let server = ScriptedServer::start(vec![Step::Send(b"answer".to_vec())]);
        let mut stream = connect(&server);
        stream.write_all(b"GET / HTTP/1.1\r\n").expect("write");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        let mut buf = [0u8; 16];
        let early = stream.read(&mut buf).expect_err("nothing before the head ends");
        assert!(
            matches!(early.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{early}"
        );
        stream.write_all(b"\r\n").expect("write");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read");
        assert_eq!(got, b"answer");
    }

    #[test]
    fn without_head_runs_at_once_and_read_some_waits() {
        let server = Script::new(vec![
            Step::Send(b"hello ".to_vec()),
            Step::ReadSome,
            Step::Send(b"bye".to_vec()),
        ])
        .without_head()
        .start();
        let mut stream = connect(&server);
        let mut buf = [0u8; 6];
        stream.read_exact(&mut buf).expect("greeting without a request");
        assert_eq!(&buf, b"hello ");
        stream.write_all(b"x").expect("write");
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read");
        assert_eq!(got, b"bye");
        assert!(server.heads().is_empty());
    }

    #[test]
    fn repeat_is_bounded_in_time() {
        let server = ScriptedServer::start(vec![
            Step::Repeat {
                bytes: b"ab".to_vec(),
                every: Duration::from_millis(20),
                for_at_most: Duration::from_millis(300),
            },
            Step::Send(b"!".to_vec()),
        ]);
        let mut stream = connect(&server);
        stream.write_all(HEAD).expect("write head");
        let started = StdInstant::now();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(got.last(), Some(&b'!'));
        let reps = &got[..got.len() - 1];
        assert!(reps.len() >= 8 && reps.len() <= 32, "{} bytes", reps.len());
        assert!(reps.chunks(2).all(|c| c == b"ab"));
    }

    #[test]
    fn reset_is_a_tcp_reset() {
        let server = ScriptedServer::start(vec![
            Step::Send(b"partial".to_vec()),
            Step::Sleep(Duration::from_millis(100)),
            Step::Reset,
        ]);
        let mut stream = connect(&server);
        stream.write_all(HEAD).expect("write head");
        let mut buf = [0u8; 7];
        stream.read_exact(&mut buf).expect("bytes before the reset");
        assert_eq!(&buf, b"partial");
        let err = stream
            .read(&mut [0u8; 16])
            .expect_err("a reset, not an end of stream");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    }

    #[test]
    fn hold_keeps_the_connection_until_drop_and_drop_is_bounded() {
        let server = ScriptedServer::start(vec![Step::Send(b"x".to_vec()), Step::Hold]);
        let repeating = ScriptedServer::start(vec![Step::Repeat {
            bytes: b"y".to_vec(),
            every: Duration::from_millis(10),
            for_at_most: Duration::from_secs(3600),
        }]);
        let mut held = connect(&server);
        held.write_all(HEAD).expect("write head");
        let mut dripping = connect(&repeating);
        dripping.write_all(HEAD).expect("write head");
        let mut one = [0u8; 1];
        held.read_exact(&mut one).expect("first byte");
        dripping.read_exact(&mut one).expect("first drip");
        held.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        let err = held.read(&mut one).expect_err("held open, silent");
        assert!(
            matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{err}"
        );
        let started = StdInstant::now();
        drop(server);
        drop(repeating);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        held.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        assert!(
            matches!(held.read(&mut one), Ok(0) | Err(_)),
            "closed by the drop"
        );
        let mut rest = Vec::new();
        let _ = dripping.read_to_end(&mut rest); // ends (EOF or reset) instead of dripping on
    }

    #[test]
    fn drop_ends_the_stream_without_a_reset() {
        let server = ScriptedServer::start(vec![Step::Send(b"bytes".to_vec()), Step::Drop]);
        let mut stream = connect(&server);
        stream.write_all(HEAD).expect("write head");
        let mut got = Vec::new();
        stream
            .read_to_end(&mut got)
            .expect("an end of stream, not a reset");
        assert_eq!(got, b"bytes");
    }

    #[test]
    fn counts_connections() {
        let server = ScriptedServer::start(vec![Step::Close]);
        for _ in 0..3 {
            let mut stream = connect(&server);
            stream.write_all(HEAD).expect("write head");
            let mut got = Vec::new();
            stream.read_to_end(&mut got).expect("read");
            assert!(got.is_empty());
        }
        wait_for("three heads", || server.heads().len() == 3);
        assert_eq!(server.connections(), 3);
    }

    #[tokio::test]
    async fn tls_script_with_alpn() {
        let ca = TestCa::new();
        let (certs, key) = ca.issue(&["127.0.0.1"]);
        let server = Script::new(vec![Step::Send(b"over tls".to_vec())])
            .tls(certs, key, &[b"http/1.1"])
            .start();
        assert_eq!(server.base_url(), format!("https://127.0.0.1:{}", server.port()));
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("CA PEM"))
            .expect("add CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tcp = TcpStream::connect(server.addr()).await.expect("connect");
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        tls.write_all(HEAD).await.expect("write head");
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut got))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(got, b"over tls");
        assert_eq!(server.heads(), vec![HEAD.to_vec()]);
    }
}
