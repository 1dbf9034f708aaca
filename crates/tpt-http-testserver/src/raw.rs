//! A server that writes canned bytes, for malformed-response tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::{Background, accept};

/// Longest request head [`RawServer::start`] reads before answering anyway.
const MAX_HEAD: usize = 64 * 1024;

/// How long a closing connection keeps draining the client's leftover
/// request bytes, so the close does not turn into a reset that could destroy
/// the response before the client read it.
const LINGER: Duration = Duration::from_secs(2);

/// A raw TCP server on `127.0.0.1` (port chosen by the OS).
///
/// For each accepted connection it reads the request head (until
/// `\r\n\r\n`, 64 KiB or end of stream), writes the response bytes verbatim,
/// and then either closes the connection (after a write shutdown and a short
/// drain of anything else the client sends) or, with `hold_open`, keeps it
/// open without writing anything more until the `RawServer` is dropped.
/// Runs on its own thread with its own tokio runtime; dropping it closes the
/// listener and every connection.
pub struct RawServer {
    background: Background,
}

impl RawServer {
    /// Starts a server that answers every connection with `response`.
    pub fn start(response: Vec<u8>, hold_open: bool) -> RawServer {
        let response: Arc<[u8]> = response.into();
        let background = Background::start("tpt-http-rawserver", move |listener| async move {
            loop {
                let stream = accept(&listener).await;
                tokio::spawn(answer(stream, Arc::clone(&response), hold_open));
            }
        });
        RawServer { background }
    }

    /// Starts a server that accepts connections but never reads or writes;
    /// they stay open until the `RawServer` is dropped.
    pub fn silent() -> RawServer {
        let background = Background::start("tpt-http-rawserver", |listener| async move {
            let mut held = Vec::new();
            loop {
                held.push(accept(&listener).await);
            }
        });
        RawServer { background }
    }

    /// The address the server listens on (always `127.0.0.1`).
    pub fn addr(&self) -> SocketAddr {
        self.background.addr()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr().port())
    }
}

async fn answer(mut stream: TcpStream, response: Arc<[u8]>, hold_open: bool) {
    let _ = stream.set_nodelay(true);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    if stream.write_all(&response).await.is_err() {
        return;
    }
    let _ = stream.flush().await;
    if hold_open {
        // Keep the socket until the runtime is dropped with the server.
        std::future::pending::<()>().await;
    }
    let _ = stream.shutdown().await;
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
