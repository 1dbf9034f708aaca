//! Interop with servers nobody here wrote: nginx (HTTP/1.1 and HTTPS with HTTP/2) and httpbin
//! (under gunicorn), both from Debian, started on loopback ports for the test. When `CI` is set a
//! missing server fails the test; elsewhere the test says it skipped and passes.

mod common;

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tpt_http::Config;
use tpt_http_testserver::TestCa;

/// A child process stopped when dropped: SIGTERM first, so a master process (nginx, gunicorn)
/// stops its workers too, then SIGKILL if it is still there after a few seconds.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The tool at one of `candidates`, or `None` (a test failure under CI).
fn require(what: &str, candidates: &[&str]) -> Option<PathBuf> {
    let found = find(candidates);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is required when CI is set (looked in {candidates:?}); .ci/run installs it"
        );
        eprintln!("skipping: {what} not installed (looked in {candidates:?})");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The port a gunicorn child logs (`Listening at: http://127.0.0.1:PORT`) on its stderr, which
/// is drained in the background from then on.
fn listening_port(child: &mut Child, what: &str) -> u16 {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(rest) = line.split("Listening at: http://127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                sent = tx.send(port.parse::<u16>().ok()).is_ok();
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Some(port)) => port,
        other => {
            let status = child.try_wait();
            panic!("{what} did not report its port within 20 s ({other:?}, exit {status:?})")
        }
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn start_nginx(nginx: &Path, dir: &Path, ca: &TestCa) -> (Daemon, u16, u16) {
    let (cert, key) = ca.issue_pem(&["localhost", "127.0.0.1"]);
    std::fs::create_dir_all(dir.join("www")).expect("www dir");
    std::fs::write(dir.join("cert.pem"), cert).expect("cert");
    std::fs::write(dir.join("key.pem"), key).expect("key");
    std::fs::write(dir.join("www/small.txt"), b"hello from nginx\n").expect("small");
    std::fs::write(dir.join("www/pattern.bin"), pattern(300_000)).expect("pattern");
    let (http, https) = (free_port(), free_port());
    let root_user = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let d = dir.display();
    let conf = format!(
        "{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
events {{ worker_connections 256; }}\n\
http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
  default_type application/octet-stream;\n\
  server {{\n    listen 127.0.0.1:{http};\n    listen 127.0.0.1:{https} ssl http2;\n\
    ssl_certificate {d}/cert.pem;\n    ssl_certificate_key {d}/key.pem;\n    root {d}/www;\n\
    location = /moved {{ return 301 /small.txt; }}\n    location = /loop {{ return 302 /loop; }}\n\
    location = /teapot {{ return 418 \"short and stout\"; }}\n  }}\n}}\n",
        user = if root_user { "user root;\n" } else { "" },
    );
    std::fs::create_dir_all(dir.join("tmp")).expect("tmp dir");
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx");
    wait_for_port(http, &mut child, "nginx");
    wait_for_port(https, &mut child, "nginx");
    (Daemon(child), http, https)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tpt-http-{tag}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn nginx_http1_and_https_http2() {
    let Some(nginx) = require("nginx", &["/usr/sbin/nginx", "/usr/bin/nginx"]) else {
        return;
    };
    let ca = TestCa::new();
    let dir = temp_dir("nginx");
    let (_nginx, http, https) = start_nginx(&nginx, &dir, &ca);
    let config = Config {
        enforce_https: false,
        extra_ca_pem: Some(ca.cert_pem().into_bytes()),
        ..Config::default()
    };
    let args = [
        format!("HTTP=http://127.0.0.1:{http}"),
        format!("HTTPS=https://localhost:{https}"),
    ];
    let code = common::run_plain("interop_nginx", &args, config);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "interop_nginx.lua failed");
}

#[test]
fn httpbin_under_gunicorn() {
    let Some(gunicorn) = require("gunicorn (with python3-httpbin)", &["/usr/bin/gunicorn"]) else {
        return;
    };
    // Port 0: gunicorn binds a port of its own and logs it, so no other process can take a port
    // picked for it in the meantime.
    let mut child = Command::new(gunicorn)
        .args(["--workers", "1", "--bind", "127.0.0.1:0", "httpbin:app"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gunicorn");
    let port = listening_port(&mut child, "gunicorn httpbin");
    let _daemon = Daemon(child);
    let config = Config {
        enforce_https: false,
        ..Config::default()
    };
    let code = common::run_plain(
        "interop_httpbin",
        &[format!("HTTPBIN=http://127.0.0.1:{port}")],
        config,
    );
    assert_eq!(code, 0, "interop_httpbin.lua failed");
}
