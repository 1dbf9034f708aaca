//! Loopback HTTP/HTTPS test servers for the `tpt-http` test suite and the
//! offline demo of `tpt-http-cli`.
//!
//! Everything in this crate exists so that tests (and the demo) never need the
//! real network:
//!
//! * [`TestCa`] creates a throw-away certificate authority at run time and
//!   issues server certificates (valid or already expired) signed by it.
//! * [`Server`] is a hyper based server (plain HTTP, or HTTPS with h2 and
//!   HTTP/1.1 via ALPN) with a fixed set of routes such as `/echo`,
//!   `/bytes/N`, `/redirect/N` and `/hang`; see [`Server`] for the list.
//! * [`RawServer`] writes a canned byte string to every connection, for
//!   malformed-response tests, or accepts connections and stays silent.
//! * [`closed_port`] finds a port on which nothing listens.
//!
//! Every server runs on its own thread with its own tokio runtime, listens on
//! a port chosen by the operating system, and is shut down when dropped.
//! Servers only ever bind `127.0.0.1`; nothing here listens on any other
//! address.

mod auth;
mod body;
mod ca;
mod proxy;
pub mod random;
mod raw;
mod routes;
mod runtime;
mod scripted;
mod server;

pub use ca::TestCa;
pub use proxy::ProxyServer;
pub use raw::RawServer;
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use scripted::{Script, ScriptedServer, SentMeter, Step};
pub use server::Server;

/// Returns a port on `127.0.0.1` where nothing listens: connecting to it is refused.
///
/// The port is held by a socket that is bound but never listens, kept until the process exits,
/// so no other test (or program) can take the port and answer in its place (as could happen to
/// a port merely picked and released).
pub fn closed_port() -> u16 {
    use socket2::{Domain, Socket, Type};
    static HELD: std::sync::Mutex<Vec<Socket>> = std::sync::Mutex::new(Vec::new());
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket for closed_port");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    socket
        .bind(&addr.into())
        .expect("binding 127.0.0.1:0 for closed_port failed");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("local address of a bound socket")
        .port();
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(socket);
    port
}

#[cfg(test)]
mod tests;
