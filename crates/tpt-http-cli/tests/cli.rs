//! The `tpt-http` binary as a user runs it: exit codes, error output, flags, `--trace`, the demo.

mod common;

use common::{script, text};
use std::process::{Command, Output};
use tpt_http_testserver::Server;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tpt-http"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run tpt-http")
}

#[test]
fn os_exit_code_and_args_reach_the_script() {
    let s = script("exit.lua", "print(arg[0] ~= nil, arg[1], arg[2]) os.exit(7)");
    let out = run(&["run", s.to_str().unwrap(), "one", "--two"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stdout), "true\tone\t--two\n");
}

#[test]
fn lua_error_prints_message_and_traceback_and_exits_1() {
    let s = script("boom.lua", "local function f()\n  error('kaboom')\nend\nf()\n");
    let out = run(&["run", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("tpt-http: lua error: "), "{err}");
    assert!(err.contains("boom.lua:2: kaboom"), "{err}");
    assert!(err.contains("stack traceback"), "{err}");
}

#[test]
fn error_in_a_tick_handler_stops_the_run() {
    let s = script(
        "tickboom.lua",
        "local n = 0\nevent.register(event.tick, function()\n  n = n + 1\n  if n == 3 then error('third tick') end\nend)\n",
    );
    let out = run(&["run", "--fps", "0", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("tickboom.lua:4: third tick"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn runner_exits_when_no_handler_and_no_request_remain() {
    let s = script(
        "ticks.lua",
        "local n = 0\nlocal function h() n = n + 1 if n == 5 then event.unregister(event.tick, h) print('ticked', n) end end\nevent.register(event.tick, h)\n",
    );
    let out = run(&["run", "--fps", "200", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ticked\t5\n");
}

#[test]
fn legacy_step_functions_and_gettime() {
    let s = script(
        "step.lua",
        "local t0 = socket.gettime()\nassert(type(t0) == 'number' and t0 > 1.6e9)\nlocal n = 0\nlocal function s() n = n + 1 if n == 2 then tpt.unregister_step(s) print('steps', n) end end\ntpt.register_step(s)\n",
    );
    let out = run(&["run", "--fps", "0", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "steps\t2\n");
}

const FETCH: &str = "local req = http.get(arg[1], {{'X-Secret', 'hunter2'}})\n\
local function h()\n  if req:status() ~= 'running' then\n    local body, code = req:finish()\n    print(code, #body)\n    event.unregister(event.tick, h)\n  end\nend\nevent.register(event.tick, h)\n";

#[test]
fn https_is_enforced_unless_allow_http() {
    let server = Server::http();
    let url = format!("{}/bytes/10", server.base_url());
    let s = script("fetch.lua", FETCH);
    let out = run(&["run", "--fps", "0", s.to_str().unwrap(), &url]);
    assert_eq!(text(&out.stdout), "601\t0\n", "{}", text(&out.stderr));
    let out = run(&["run", "--fps", "0", "--allow-http", s.to_str().unwrap(), &url]);
    assert_eq!(text(&out.stdout), "200\t10\n", "{}", text(&out.stderr));
}

#[test]
fn no_network_gives_604() {
    let s = script("fetch604.lua", FETCH);
    let out = run(&[
        "run",
        "--fps",
        "0",
        "--no-network",
        s.to_str().unwrap(),
        "https://localhost/",
    ]);
    assert_eq!(text(&out.stdout), "604\t0\n");
}

#[test]
fn trace_prints_one_line_per_request_without_header_values() {
    let server = Server::http();
    let url = format!("{}/bytes/10", server.base_url());
    let s = script("trace.lua", FETCH);
    let out = run(&[
        "run",
        "--fps",
        "0",
        "--allow-http",
        "--trace",
        s.to_str().unwrap(),
        &url,
    ]);
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with(&format!("tpt-http: GET {url} -> 200 h1 10 bytes ")),
        "{err}"
    );
    assert!(lines[0].ends_with(" ms"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn ca_file_is_trusted() {
    let ca = tpt_http_testserver::TestCa::new();
    let server = Server::https(&ca);
    let pem = script("ca.pem", &ca.cert_pem());
    let url = format!("{}/bytes/10", server.base_url());
    let s = script("fetchca.lua", FETCH);
    let out = run(&["run", "--fps", "0", s.to_str().unwrap(), &url]);
    assert_eq!(text(&out.stdout), "600\t0\n", "unknown CA must fail verification");
    let out = run(&[
        "run",
        "--fps",
        "0",
        "--ca-file",
        pem.to_str().unwrap(),
        s.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(text(&out.stdout), "200\t10\n", "{}", text(&out.stderr));
}

#[test]
fn bad_flags_are_setup_errors() {
    let s = script("nothing.lua", "");
    let out = run(&["run", "--ca-file", "/nonexistent.pem", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("tpt-http: cannot read --ca-file /nonexistent.pem"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["run", "--max-host-connections", "0", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["run", "--auth-server", "not a url", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "tpt-http: --auth-server must be an http:// or https:// URL (got \"not a url\")\n"
    );
    let out = run(&["run", "--allow-host", "bad host!", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bad host rule \"bad host!\""),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["run", "/nonexistent/script.lua"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("tpt-http: cannot read script /nonexistent/script.lua: "),
        "{}",
        text(&out.stderr)
    );
}

/// A CA file that holds no certificate is named in the message, and is a setup error.
#[test]
fn ca_file_without_a_certificate_is_named() {
    let s = script("nothing.lua", "");
    let not_pem = script("hello.txt", "hello\n");
    let out = run(&["run", "--ca-file", not_pem.to_str().unwrap(), s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "tpt-http: --ca-file {}: extra CA file holds no certificate\n",
            not_pem.display()
        )
    );
}

/// As with `lua script.lua args`: options before SCRIPT are the runner's, everything after it
/// is the script's, options included.
#[test]
fn arguments_after_the_script_are_the_scripts() {
    let s = script("args.lua", "print(#arg, table.concat(arg, ' '))");
    let out = run(&[
        "run",
        "--fps",
        "0",
        s.to_str().unwrap(),
        "--fps",
        "5",
        "a",
        "--trace",
        "--",
        "-x",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "6\t--fps 5 a --trace -- -x\n");
    assert_eq!(text(&out.stderr), "", "--trace after SCRIPT is not the runner's");
    // Before SCRIPT, an unknown option is an error, not a script name.
    let out = run(&["run", "--bogus", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--bogus"), "{}", text(&out.stderr));
    let out = run(&["run", "--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("options before SCRIPT are the runner's, and everything after SCRIPT is the script's"),
        "{help}"
    );
}

/// Every request gets one trace line, failures with their reason: refused by --no-network
/// (decided before any transfer starts), refused connections, and cancelled requests.
#[test]
fn trace_says_why_a_request_failed() {
    let port = tpt_http_testserver::closed_port();
    let closed = format!("http://127.0.0.1:{port}/x");
    let s = script("trace-fail.lua", FETCH);
    let out = run(&[
        "run",
        "--fps",
        "0",
        "--allow-http",
        "--trace",
        s.to_str().unwrap(),
        &closed,
    ]);
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with(&format!("tpt-http: GET {closed} -> 607 - 0 bytes ")),
        "{err}"
    );
    assert!(
        lines[0].contains(&format!(" ms: could not connect to 127.0.0.1 port {port}: ")),
        "{err}"
    );

    let out = run(&[
        "run",
        "--fps",
        "0",
        "--no-network",
        "--trace",
        s.to_str().unwrap(),
        "https://localhost/",
    ]);
    assert_eq!(text(&out.stdout), "604\t0\n");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("tpt-http: GET https://localhost/ -> 604 - 0 bytes "),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with(" ms: networking is disabled by the host"),
        "{err}"
    );

    let server = Server::http();
    let hang = format!("{}/hang", server.base_url());
    let cancel = script(
        "trace-cancel.lua",
        "local req = http.get(arg[1])\nlocal n = 0\nlocal function h()\n  n = n + 1\n  if n == 3 then req:cancel() event.unregister(event.tick, h) end\nend\nevent.register(event.tick, h)\n",
    );
    let out = run(&[
        "run",
        "--fps",
        "100",
        "--allow-http",
        "--trace",
        cancel.to_str().unwrap(),
        &hang,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("tpt-http: GET {hang} -> cancelled after ")),
        "{err}"
    );
}

/// A request cancelled while it waits for its turn (`--max-in-flight`) is traced too.
#[test]
fn trace_reports_requests_cancelled_in_the_queue() {
    let server = Server::http();
    let hang = format!("{}/hang", server.base_url());
    let s = script(
        "trace-queue.lua",
        "local a, b = http.get(arg[1]), http.get(arg[1] .. '?second')\nlocal n = 0\nlocal function h()\n  n = n + 1\n  if n == 3 then b:cancel() a:cancel() event.unregister(event.tick, h) end\nend\nevent.register(event.tick, h)\n",
    );
    let out = run(&[
        "run",
        "--fps",
        "100",
        "--allow-http",
        "--max-in-flight",
        "1",
        "--trace",
        s.to_str().unwrap(),
        &hang,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let mut lines: Vec<&str> = err.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!("tpt-http: GET {hang} -> cancelled after ")),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("tpt-http: GET {hang}?second -> cancelled after ")),
        "{err}"
    );
}

/// The trace names the protocol: h2 over TLS with ALPN.
#[test]
fn trace_names_the_protocol() {
    let ca = tpt_http_testserver::TestCa::new();
    let server = Server::https(&ca);
    let pem = script("proto-ca.pem", &ca.cert_pem());
    let url = format!("{}/bytes/10", server.base_url());
    let s = script("proto.lua", FETCH);
    let out = run(&[
        "run",
        "--fps",
        "0",
        "--trace",
        "--ca-file",
        pem.to_str().unwrap(),
        s.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(text(&out.stdout), "200\t10\n", "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!("tpt-http: GET {url} -> 200 h2 10 bytes ")),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn demo_runs_offline_and_summarises() {
    let out = run(&["demo", "--fps", "120"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in [
        "readme.txt   200       45 bytes",
        "save.cps     200  1500000 bytes",
        "slow stream  200   262144 bytes",
        "chunked      200   300000 bytes",
        "upload       200  multipart form with a file",
        "cancelled    dead  after cancel()",
        "header x-demo: yes",
        "auth token   200  token for DemoUser",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn auth_flags_and_session_key_from_the_environment() {
    let ca = tpt_http_testserver::TestCa::new();
    let server = Server::https(&ca);
    server.add_user("7", "env-key", "bob");
    let pem = script("auth-ca.pem", &ca.cert_pem());
    let s = script(
        "auth.lua",
        "local r, e = http.getAuthToken('svc')\nif not r then print(e) return end\n\
local function h()\n  if r:status() ~= 'running' then\n    local tok, code = r:finish()\n    print(code, select(2, tok:gsub('%.', '')))\n    event.unregister(event.tick, h)\n  end\nend\nevent.register(event.tick, h)\n",
    );
    let base = server.base_url();
    let common = [
        "run",
        "--fps",
        "0",
        "--trace",
        "--ca-file",
        pem.to_str().unwrap(),
        "--auth-server",
        &base,
    ];
    let out = bin().args(common).arg(s.to_str().unwrap()).output().expect("run");
    assert_eq!(text(&out.stdout), "not authenticated\n");
    let out = bin()
        .args(common)
        .args(["--user-id", "7", s.to_str().unwrap()])
        .env("TPT_HTTP_SESSION_KEY", "env-key")
        .output()
        .expect("run");
    assert_eq!(
        text(&out.stdout),
        "200\t2\n",
        "a JWT has two dots; stderr: {}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("env-key"), "{}", text(&out.stderr));
    let out = bin()
        .args(common)
        .args(["--session-key", "k", s.to_str().unwrap()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--session-key needs --user-id"),
        "{}",
        text(&out.stderr)
    );
}

/// Issue 12: one 16 MiB Lua string posted 100 times (the runner's peak RSS was 1.96 GB). With
/// `--max-request-bytes 4194304` each post finishes at once with 600 and says why, holding no
/// copy of the body; a post within the limit is sent. The script reads its own peak RSS.
#[test]
fn max_request_bytes_refuses_large_posts_at_once() {
    let server = Server::http();
    let url = format!("{}/echo", server.base_url());
    let s = script(
        "bigpost.lua",
        "local big = string.rep('x', 16 * 1024 * 1024)\n\
         local reqs = {}\n\
         for i = 1, 100 do reqs[i] = http.post(arg[1], big) end\n\
         local small = http.post(arg[1], 'hello')\n\
         local function h()\n\
           if small:status() == 'running' then return end\n\
           for i = 1, 100 do if reqs[i]:status() == 'running' then return end end\n\
           local codes = {}\n\
           for i = 1, 100 do\n\
             local body, code = reqs[i]:finish()\n\
             codes[code .. ' ' .. #body .. ' ' .. reqs[i]:error()] = true\n\
           end\n\
           for k in pairs(codes) do print(k) end\n\
           local body, code = small:finish()\n\
           print(code, body:find('hello', 1, true) ~= nil)\n\
           local status = io.open('/proc/self/status'):read('*a')\n\
           print('peak', tonumber(status:match('VmHWM:%s*(%d+)')))\n\
           event.unregister(event.tick, h)\n\
         end\n\
         event.register(event.tick, h)\n",
    );
    let out = run(&[
        "run",
        "--fps",
        "0",
        "--allow-http",
        "--max-request-bytes",
        "4194304",
        s.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..2],
        ["600 0 request larger than 4194304 bytes", "200\ttrue"],
        "{stdout}"
    );
    let peak_kib: u64 = lines[2]
        .strip_prefix("peak\t")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(peak_kib < 200 * 1024, "peak RSS {peak_kib} KiB: {stdout}");
}
