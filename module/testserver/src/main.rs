//! Loopback servers for the native module's busted specs (`module/run-specs.sh`).
//!
//! Usage: `tpt-http-module-testserver CA_PATH`. Starts a plain HTTP server, an HTTPS server
//! (certificate for `localhost` and `127.0.0.1`, issued by a CA made at run time) and a silent
//! server (accepts connections, never answers: for connect timeouts), writes that CA's
//! certificate as PEM to `CA_PATH`, prints one line
//! `HTTP=http://127.0.0.1:P HTTPS=https://localhost:Q SILENT=127.0.0.1:R CA=CA_PATH`, and serves
//! until its standard input is closed. The routes are those of `tpt_http_testserver::Server` (`/echo`, `/bytes/N`,
//! `/slow/N`, `/hang`, ...). Both servers only listen on 127.0.0.1.

use std::io::{Read, Write};
use std::process::ExitCode;

use tpt_http_testserver::{RawServer, Server, TestCa};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(ca_path), None) = (args.next(), args.next()) else {
        eprintln!("usage: tpt-http-module-testserver CA_PATH");
        return ExitCode::from(2);
    };
    let ca = TestCa::new();
    if let Err(e) = std::fs::write(&ca_path, ca.cert_pem()) {
        eprintln!("tpt-http-module-testserver: cannot write {ca_path}: {e}");
        return ExitCode::from(2);
    }
    let http = Server::http();
    let https = Server::https(&ca);
    let silent = RawServer::silent();
    let mut out = std::io::stdout().lock();
    let printed = writeln!(
        out,
        "HTTP={} HTTPS={} SILENT={} CA={ca_path}",
        http.base_url(),
        https.base_url(),
        silent.addr()
    )
    .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = printed {
        eprintln!("tpt-http-module-testserver: cannot write to stdout: {e}");
        return ExitCode::from(2);
    }
    // Serve until whoever started us closes our standard input (or exits).
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    drop((http, https, silent));
    ExitCode::SUCCESS
}
