//! Proxy support and the connect timeout, against loopback servers and the loopback
//! [`ProxyServer`]: HTTPS through a CONNECT tunnel, plain http in absolute-form, the proxy
//! failure codes (608, 607, 600), the proxy environment variables (only ever set on child
//! processes, never on this one) and `tpt-http run --proxy`.

mod common;

use common::{script, text};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tpt_http::spec::RequestSpec;
use tpt_http::state::Outcome;
use tpt_http::{Client, Config, FailureKind};
use tpt_http_testserver::{ProxyServer, RawServer, Server, TestCa, closed_port};

/// Longest a request may take before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(20);

/// Every proxy variable the library (or libcurl) reads, removed from child processes so that
/// the developer's own proxy settings cannot leak into a test.
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Runs one GET of `url` under `config` and waits (polling) for its outcome.
fn fetch(config: Config, url: &str) -> Outcome {
    let client = Client::new(config).expect("usable config");
    let watcher = client.start(RequestSpec::get(url), None);
    let start = Instant::now();
    while !watcher.is_done() {
        assert!(
            start.elapsed() < DEADLINE,
            "{url} still running after {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    watcher.take().expect("a finished request has an outcome")
}

/// A config that ignores the environment, trusts `ca` and uses `proxy` (if any).
fn config(ca: Option<&TestCa>, proxy: Option<String>) -> Config {
    Config {
        enforce_https: false,
        extra_ca_pem: ca.map(|ca| ca.cert_pem().into_bytes()),
        proxy,
        no_proxy_env: true,
        ..Config::default()
    }
}

/// The test server's `/bytes/N` pattern.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Asserts a failed outcome: status `code`, failure of `kind`, no body.
fn assert_failed(outcome: &Outcome, code: u16, kind: FailureKind) {
    assert_eq!(outcome.status, code, "{:?}", outcome.failure);
    let failure = outcome.failure.as_ref().expect("a failure is reported");
    assert_eq!(failure.kind(), kind, "{}", failure.reason());
    assert!(outcome.body.is_empty());
}

/// `/echo`'s report of a body-less GET carrying the library's default headers (`host` first:
/// the real header on HTTP/1.1, the synthetic one on h2).
fn echo_report(version: &str, authority: &str) -> String {
    format!(
        "method GET\npath /echo\nversion {version}\nheader host: {authority}\nheader user-agent: {}\n\
         header accept: */*\nbody-length 0\n\n",
        tpt_http::config::default_user_agent()
    )
}

#[test]
fn https_goes_through_a_connect_tunnel() {
    let ca = TestCa::new();
    let server = Server::https(&ca);
    let proxy = ProxyServer::start();
    let outcome = fetch(
        config(Some(&ca), Some(proxy.url())),
        &format!("{}/bytes/1000", server.base_url()),
    );
    assert_eq!(outcome.status, 200, "{:?}", outcome.failure);
    assert!(outcome.failure.is_none());
    assert_eq!(outcome.body, pattern(1000));
    assert_eq!(proxy.connects(), 1);
    assert_eq!(proxy.forwards(), 0);
    assert_eq!(
        proxy.requests(),
        vec![format!("CONNECT localhost:{} HTTP/1.1", server.port())]
    );
    assert_eq!(server.connections_accepted(), 1);
}

#[test]
fn https_through_the_tunnel_negotiates_h2_end_to_end() {
    let ca = TestCa::new();
    let server = Server::https(&ca);
    let proxy = ProxyServer::start();
    let authority = format!("localhost:{}", server.port());
    let outcome = fetch(
        config(Some(&ca), Some(proxy.url())),
        &format!("https://{authority}/echo"),
    );
    assert_eq!(outcome.status, 200, "{:?}", outcome.failure);
    assert_eq!(text(&outcome.body), echo_report("HTTP/2.0", &authority));
    assert_eq!((proxy.connects(), proxy.forwards()), (1, 0));
}

#[test]
fn https_through_the_tunnel_still_verifies_the_certificate() {
    let ca = TestCa::new();
    let server = Server::https(&ca);
    let proxy = ProxyServer::start();
    // The test CA is not trusted: the tunnel opens, the certificate check fails.
    let outcome = fetch(
        config(None, Some(proxy.url())),
        &format!("{}/bytes/1", server.base_url()),
    );
    assert_failed(&outcome, 600, FailureKind::Internal);
    assert!(
        outcome
            .failure
            .as_ref()
            .unwrap()
            .reason()
            .starts_with("certificate verify failed"),
        "{:?}",
        outcome.failure
    );
    assert_eq!(proxy.connects(), 1);
}

#[test]
fn plain_http_is_sent_in_absolute_form() {
    let server = Server::http();
    let proxy = ProxyServer::start();
    let outcome = fetch(
        config(None, Some(proxy.url())),
        &format!("{}/echo", server.base_url()),
    );
    assert_eq!(outcome.status, 200, "{:?}", outcome.failure);
    // The proxy rewrote the absolute-form target to `/echo`; the Host header is the origin's.
    let authority = format!("127.0.0.1:{}", server.port());
    assert_eq!(text(&outcome.body), echo_report("HTTP/1.1", &authority));
    assert!(proxy.forwards() >= 1);
    assert_eq!(proxy.connects(), 0);
    assert_eq!(
        proxy.requests(),
        vec![format!("GET http://{authority}/echo HTTP/1.1")]
    );
}

#[test]
fn plain_http_bytes_through_the_proxy() {
    let server = Server::http();
    let proxy = ProxyServer::start();
    let outcome = fetch(
        config(None, Some(proxy.url())),
        &format!("{}/bytes/70000", server.base_url()),
    );
    assert_eq!(outcome.status, 200, "{:?}", outcome.failure);
    assert_eq!(outcome.body, pattern(70000));
    assert_eq!(proxy.forwards(), 1);
    assert_eq!(server.connections_accepted(), 1);
}

#[test]
fn proxy_without_scheme_is_taken_as_http() {
    let server = Server::http();
    let proxy = ProxyServer::start();
    let bare = format!("127.0.0.1:{}", proxy.addr().port());
    let outcome = fetch(
        config(None, Some(bare)),
        &format!("{}/bytes/3", server.base_url()),
    );
    assert_eq!(outcome.status, 200, "{:?}", outcome.failure);
    assert_eq!(outcome.body, pattern(3));
    assert_eq!(proxy.forwards(), 1);
}

#[test]
fn unusable_proxy_urls_are_config_errors() {
    for bad in ["socks5://127.0.0.1:1080", "https://127.0.0.1:3128", "http://"] {
        let err = Client::new(config(None, Some(bad.to_string()))).expect_err(bad);
        assert_eq!(err.kind(), tpt_http::ErrorKind::Config, "{bad}: {err}");
    }
}

/// An explicit `:80` in the proxy URL is the port used (the 1080 default is for no port), and a
/// refused proxy says it was the proxy.
#[test]
fn proxy_port_80_is_kept() {
    let outcome = fetch(
        config(None, Some("http://127.0.0.1:80".to_string())),
        "http://127.0.0.1:1/",
    );
    assert_failed(&outcome, 607, FailureKind::ConnectionRefused);
    let reason = outcome.failure.as_ref().unwrap().reason();
    assert!(
        reason.starts_with("could not connect to proxy 127.0.0.1 port 80: "),
        "{reason}"
    );
}

/// An IPv6 literal proxy is connected to, not looked up with its brackets.
#[test]
fn ipv6_literal_proxy_is_connected_to() {
    let proxy = format!("http://[::1]:{}", closed_port());
    let outcome = fetch(config(None, Some(proxy)), "http://127.0.0.1:1/");
    assert_failed(&outcome, 607, FailureKind::ConnectionRefused);
}

#[test]
fn unresolvable_proxy_gives_608() {
    let proxy = Some("http://no-such-proxy.invalid:8080".to_string());
    let server = Server::http();
    for url in [
        "https://localhost:1/".to_string(),
        format!("{}/bytes/1", server.base_url()),
    ] {
        let outcome = fetch(config(None, proxy.clone()), &url);
        assert_failed(&outcome, 608, FailureKind::ProxyNotFound);
    }
    assert_eq!(server.connections_accepted(), 0);
}

#[test]
fn proxy_port_without_listener_gives_607() {
    let proxy = Some(format!("http://127.0.0.1:{}", closed_port()));
    let ca = TestCa::new();
    let https = Server::https(&ca);
    let http = Server::http();
    for url in [
        format!("{}/bytes/1", https.base_url()),
        format!("{}/bytes/1", http.base_url()),
    ] {
        let outcome = fetch(config(Some(&ca), proxy.clone()), &url);
        assert_failed(&outcome, 607, FailureKind::ConnectionRefused);
    }
    assert_eq!(https.connections_accepted() + http.connections_accepted(), 0);
}

#[test]
fn refusing_proxy_gives_600_for_https() {
    let ca = TestCa::new();
    let server = Server::https(&ca);
    let proxy = ProxyServer::refusing();
    let outcome = fetch(
        config(Some(&ca), Some(proxy.url())),
        &format!("{}/bytes/1", server.base_url()),
    );
    assert_failed(&outcome, 600, FailureKind::Internal);
    assert_eq!(
        outcome.failure.as_ref().unwrap().reason(),
        "proxy refused the tunnel: HTTP/1.1 403 Forbidden"
    );
    assert_eq!(
        proxy.requests(),
        vec![format!("CONNECT localhost:{} HTTP/1.1", server.port())]
    );
    assert_eq!(server.connections_accepted(), 0);
}

#[test]
fn refusing_proxy_answer_is_the_response_for_plain_http() {
    // Plain http is not tunnelled: the proxy's 403 is the response the script sees.
    let server = Server::http();
    let proxy = ProxyServer::refusing();
    let outcome = fetch(
        config(None, Some(proxy.url())),
        &format!("{}/bytes/1", server.base_url()),
    );
    assert_eq!(outcome.status, 403, "{:?}", outcome.failure);
    assert!(outcome.failure.is_none());
    assert!(outcome.body.is_empty());
    assert_eq!(server.connections_accepted(), 0);
}

#[test]
fn connect_timeout_gives_605() {
    let silent = RawServer::silent();
    let config = Config {
        connect_timeout: Duration::from_millis(300),
        ..config(None, None)
    };
    let start = Instant::now();
    let outcome = fetch(config, &format!("https://127.0.0.1:{}/", silent.addr().port()));
    let elapsed = start.elapsed();
    assert_failed(&outcome, 605, FailureKind::TimedOut);
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn connect_timeout_covers_the_handshake_through_a_tunnel() {
    let silent = RawServer::silent();
    let proxy = ProxyServer::start();
    let config = Config {
        connect_timeout: Duration::from_millis(300),
        ..config(None, Some(proxy.url()))
    };
    let start = Instant::now();
    let outcome = fetch(config, &format!("https://127.0.0.1:{}/", silent.addr().port()));
    assert_failed(&outcome, 605, FailureKind::TimedOut);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert_eq!(proxy.connects(), 1);
}

// --- The proxy environment variables, set only on child processes. ---

/// Names of the variables through which the parent test hands URLs to
/// [`child_fetches_with_the_environment`].
/// Fetches `arg[1]` (7 pattern bytes) and `arg[2]` (9) and prints each code and whether the
/// body is exact.
const CHILD: &str = "local function pattern(n) local t = {} for i = 0, n - 1 do t[#t + 1] = string.char(i % 251) end return table.concat(t) end\n\
local a, b = http.get(arg[1]), http.get(arg[2])\n\
local function h()\n  if a:status() ~= 'running' and b:status() ~= 'running' then\n\
    local ba, ca = a:finish()\n    local bb, cb = b:finish()\n\
    print(ca, ba == pattern(7), cb, bb == pattern(9))\n    event.unregister(event.tick, h)\n  end\nend\n\
event.register(event.tick, h)\n";

/// Runs the `tpt-http` binary in a child process whose environment is this one's without proxy
/// variables plus `env`, fetching an HTTPS and a plain http URL; `mode` "ignore-env" adds
/// `--no-proxy-env`. Asserts both fetches succeeded with exact bodies.
fn run_child(mode: &str, https: &Server, http: &Server, ca: &TestCa, env: &[(&str, String)]) {
    let pem = script(&format!("child-ca-{}.pem", https.port()), &ca.cert_pem());
    let child_script = script("child.lua", CHILD);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tpt-http"));
    child.args([
        "run",
        "--fps",
        "0",
        "--allow-http",
        "--ca-file",
        pem.to_str().expect("utf-8 path"),
    ]);
    if mode == "ignore-env" {
        child.arg("--no-proxy-env");
    }
    child.args([
        child_script.to_str().expect("utf-8 path"),
        &format!("{}/bytes/7", https.base_url()),
        &format!("{}/bytes/9", http.base_url()),
    ]);
    for name in PROXY_VARS {
        child.env_remove(name);
    }
    for (name, value) in env {
        child.env(name, value);
    }
    let out = child.output().expect("run tpt-http");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "200\ttrue\t200\ttrue\n",
        "{}",
        text(&out.stderr)
    );
}

/// The proxy variables pointing at `proxy`, for both schemes.
fn proxy_env(proxy: &ProxyServer) -> Vec<(&'static str, String)> {
    vec![
        ("https_proxy", proxy.url()),
        ("http_proxy", proxy.url()),
        ("all_proxy", proxy.url()),
    ]
}

#[test]
fn environment_proxies_are_used_by_default() {
    let ca = TestCa::new();
    let (https, http) = (Server::https(&ca), Server::http());
    let proxy = ProxyServer::start();
    run_child("use-env", &https, &http, &ca, &proxy_env(&proxy));
    assert_eq!(proxy.connects(), 1);
    assert_eq!(proxy.forwards(), 1);
}

#[test]
fn no_proxy_env_ignores_the_environment() {
    let ca = TestCa::new();
    let (https, http) = (Server::https(&ca), Server::http());
    let proxy = ProxyServer::start();
    let refusing = ProxyServer::refusing();
    let mut env = proxy_env(&proxy);
    env.extend([("HTTPS_PROXY", refusing.url()), ("ALL_PROXY", refusing.url())]);
    run_child("ignore-env", &https, &http, &ca, &env);
    assert_eq!((proxy.connects(), proxy.forwards()), (0, 0));
    assert!(proxy.requests().is_empty());
    assert!(refusing.requests().is_empty());
    assert_eq!(https.connections_accepted(), 1);
    assert_eq!(http.connections_accepted(), 1);
}

#[test]
fn no_proxy_variable_excludes_hosts() {
    let ca = TestCa::new();
    let (https, http) = (Server::https(&ca), Server::http());
    let proxy = ProxyServer::start();
    let mut env = proxy_env(&proxy);
    // `localhost` is the HTTPS server's host, `127.0.0.1` the plain one's.
    env.push(("no_proxy", " .localhost , 127.0.0.1".to_string()));
    run_child("use-env", &https, &http, &ca, &env);
    assert_eq!((proxy.connects(), proxy.forwards()), (0, 0));
}

#[test]
fn all_proxy_is_the_fallback_and_upper_case_http_proxy_is_ignored() {
    let ca = TestCa::new();
    let (https, http) = (Server::https(&ca), Server::http());
    let proxy = ProxyServer::start();
    let refusing = ProxyServer::refusing();
    // libcurl ignores HTTP_PROXY (a CGI hazard): plain http goes through all_proxy.
    let env = [("all_proxy", proxy.url()), ("HTTP_PROXY", refusing.url())];
    run_child("use-env", &https, &http, &ca, &env);
    assert_eq!((proxy.connects(), proxy.forwards()), (1, 1));
    assert!(refusing.requests().is_empty());
}

// --- The command line. ---

/// Fetches `arg[1]` and prints the status code and the body.
const FETCH: &str = "local req = http.get(arg[1])\n\
local function h()\n  if req:status() ~= 'running' then\n    local body, code = req:finish()\n    \
io.write(code, ' ', body, '\\n')\n    event.unregister(event.tick, h)\n  end\nend\n\
event.register(event.tick, h)\n";

/// Runs `tpt-http` with `args` and no proxy variables in its environment.
fn tpt_http(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tpt-http"));
    for name in PROXY_VARS {
        cmd.env_remove(name);
    }
    cmd.args(args).output().expect("run tpt-http")
}

#[test]
fn cli_proxy_flag_tunnels_https_and_forwards_http() {
    let ca = TestCa::new();
    let https = Server::https(&ca);
    let http = Server::http();
    let proxy = ProxyServer::start();
    let pem = script("proxy-ca.pem", &ca.cert_pem());
    let s = script("proxy-fetch.lua", FETCH);
    let (s, pem) = (s.to_str().unwrap(), pem.to_str().unwrap());
    let url = format!("{}/status/203", https.base_url());
    let out = tpt_http(&[
        "run",
        "--fps",
        "0",
        "--proxy",
        &proxy.url(),
        "--ca-file",
        pem,
        s,
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "203 status 203\n", "{}", text(&out.stderr));
    assert_eq!((proxy.connects(), proxy.forwards()), (1, 0));

    let url = format!("{}/status/202", http.base_url());
    let out = tpt_http(&[
        "run",
        "--fps",
        "0",
        "--allow-http",
        "--proxy",
        &proxy.url(),
        s,
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "202 status 202\n", "{}", text(&out.stderr));
    assert_eq!((proxy.connects(), proxy.forwards()), (1, 1));
    assert_eq!(
        proxy.requests(),
        vec![
            format!("CONNECT localhost:{} HTTP/1.1", https.port()),
            format!("GET {url} HTTP/1.1"),
        ]
    );
}

#[test]
fn cli_proxy_flag_failures() {
    let s = script("proxy-fail.lua", FETCH);
    let s = s.to_str().unwrap();
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let out = tpt_http(&["run", "--fps", "0", "--proxy", &closed, s, "https://localhost:1/"]);
    assert_eq!(text(&out.stdout), "607 \n", "{}", text(&out.stderr));
    let refusing = ProxyServer::refusing();
    let out = tpt_http(&[
        "run",
        "--fps",
        "0",
        "--proxy",
        &refusing.url(),
        s,
        "https://localhost:1/",
    ]);
    assert_eq!(text(&out.stdout), "600 \n", "{}", text(&out.stderr));
    assert_eq!(
        refusing.requests(),
        vec!["CONNECT localhost:1 HTTP/1.1".to_string()]
    );
    let out = tpt_http(&[
        "run",
        "--proxy",
        "socks5://127.0.0.1:1",
        s,
        "https://localhost:1/",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn cli_uses_the_proxy_environment_without_the_flag() {
    let ca = TestCa::new();
    let https = Server::https(&ca);
    let proxy = ProxyServer::start();
    let pem = script("proxy-env-ca.pem", &ca.cert_pem());
    let s = script("proxy-env.lua", FETCH);
    let url = format!("{}/status/200", https.base_url());
    let out = Command::new(env!("CARGO_BIN_EXE_tpt-http"))
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .env("https_proxy", proxy.url())
        .args([
            "run",
            "--fps",
            "0",
            "--ca-file",
            pem.to_str().unwrap(),
            s.to_str().unwrap(),
            &url,
        ])
        .output()
        .expect("run tpt-http");
    assert_eq!(text(&out.stdout), "200 status 200\n", "{}", text(&out.stderr));
    assert_eq!(proxy.connects(), 1);
}
