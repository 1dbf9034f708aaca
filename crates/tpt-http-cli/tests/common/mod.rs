//! Shared harness of the Lua behaviour suites: starts the loopback servers and runs
//! `tests/lua/NAME.lua` through the real runner. Also the small helpers of the suites that run
//! the `tpt-http` binary itself (`cli.rs`, `proxy.rs`).
#![allow(dead_code)]

use std::path::PathBuf;
use tpt_http::Config;
use tpt_http_cli::runner::{self, RunOptions};
use tpt_http_testserver::{RawServer, Server, TestCa, closed_port};

struct Env {
    _ca: TestCa,
    _servers: Vec<Server>,
    _raw: Vec<RawServer>,
    args: Vec<String>,
    ca_pem: String,
    ports: (u16, u16),
}

fn lua_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lua")
}

fn env() -> Env {
    let ca = TestCa::new();
    let http = Server::http();
    let https = Server::https(&ca);
    let https_h1 = Server::https_h1_only(&ca);
    let (certs, key) = ca.issue(&["other.example"]);
    let wrong_host = Server::https_with(certs, key);
    let (certs, key) = ca.issue_expired(&["localhost"]);
    let expired = Server::https_with(certs, key);
    let garbage = RawServer::start(b"this is not http\r\n\r\n".to_vec(), false);
    let empty = RawServer::start(Vec::new(), false);
    let big_status = RawServer::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".to_vec(),
        false,
    );
    let silent = RawServer::silent();
    let args = vec![
        lua_dir().join("prelude.lua").display().to_string(),
        format!("HTTP={}", http.base_url()),
        format!("HTTPS={}", https.base_url()),
        format!("HTTPS_H1={}", https_h1.base_url()),
        format!("HTTPS_IP=https://127.0.0.1:{}", https.port()),
        format!("WRONG_HOST={}", wrong_host.base_url()),
        format!("EXPIRED={}", expired.base_url()),
        format!("GARBAGE={}", garbage.base_url()),
        format!("EMPTY_REPLY={}", empty.base_url()),
        format!("TRUNCATED={}", big_status.base_url()),
        format!("SILENT={}", silent.base_url()),
        format!("CLOSED=http://127.0.0.1:{}", closed_port()),
    ];
    let ca_pem = ca.cert_pem();
    Env {
        _ca: ca,
        ports: (http.port(), https.port()),
        _servers: vec![http, https, https_h1, wrong_host, expired],
        _raw: vec![garbage, empty, big_status, silent],
        args,
        ca_pem,
    }
}

/// Run `NAME.lua` with plain http allowed and the test CA trusted; `tweak` adjusts the policy.
pub fn run_with(name: &str, tweak: impl FnOnce(&mut Config)) {
    run_with_ports(name, |config, _, _| tweak(config));
}

/// Like [`run_with`]; `tweak` also gets the ports of the plain HTTP and the HTTPS server.
pub fn run_with_ports(name: &str, tweak: impl FnOnce(&mut Config, u16, u16)) {
    let env = env();
    let mut config = Config {
        enforce_https: false,
        extra_ca_pem: Some(env.ca_pem.clone().into_bytes()),
        ..Config::default()
    };
    tweak(&mut config, env.ports.0, env.ports.1);
    let opts = RunOptions {
        fps: 0.0,
        config,
        identity: None,
    };
    let path = lua_dir().join(format!("{name}.lua"));
    let code = runner::run_file(&path.display().to_string(), &env.args, &opts)
        .unwrap_or_else(|e| panic!("{name}.lua failed: {e}"));
    assert_eq!(code, 0, "{name}.lua exited with {code}");
}

pub fn run(name: &str) {
    run_with(name, |_| {});
}

/// Run `NAME.lua` with only the prelude and `extra` as arguments (`KEY=VALUE` pairs), under
/// `config`; returns the script's exit code.
pub fn run_plain(name: &str, extra: &[String], config: Config) -> i32 {
    let mut args = vec![lua_dir().join("prelude.lua").display().to_string()];
    args.extend_from_slice(extra);
    let opts = RunOptions {
        fps: 0.0,
        config,
        identity: None,
    };
    let path = lua_dir().join(format!("{name}.lua"));
    runner::run_file(&path.display().to_string(), &args, &opts)
        .unwrap_or_else(|e| panic!("{name}.lua failed: {e}"))
}

/// Write `source` to a file named `name` in a directory of its own (tests run in parallel, and
/// several write files of the same name) and return its path.
pub fn script(name: &str, source: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tpt-http-cli-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, source).expect("write script");
    path
}

/// A process's output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
