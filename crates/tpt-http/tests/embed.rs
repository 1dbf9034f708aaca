//! The `http` API in a plain host: an mlua state with `tpt_http::install` and no runner, so no
//! ticks (status is live, spec section 2) and no batched starts unless a test turns them on.
//! Covers what a Lua script cannot observe itself: garbage collection, dropping the state, connections on the server side, and
//! response headers exactly as a raw server wrote them.

use std::time::{Duration, Instant};
use tpt_http::mlua::{FromLuaMulti, Lua};
use tpt_http::{Config, Http};
use tpt_http_testserver::{RawServer, Server, TestCa};

/// Plain http allowed, everything else as in an official build.
fn config() -> Config {
    Config {
        enforce_https: false,
        ..Config::default()
    }
}

fn config_with_ca(ca: &TestCa) -> Config {
    Config {
        extra_ca_pem: Some(ca.cert_pem().into_bytes()),
        ..config()
    }
}

fn host(config: Config) -> (Lua, Http) {
    let lua = Lua::new();
    let http = tpt_http::install(&lua, config).expect("install the http table");
    (lua, http)
}

fn eval<R: FromLuaMulti>(lua: &Lua, code: &str) -> R {
    lua.load(code)
        .eval()
        .unwrap_or_else(|e| panic!("lua error in {code:?}: {e}"))
}

fn exec(lua: &Lua, code: &str) {
    lua.load(code)
        .exec()
        .unwrap_or_else(|e| panic!("lua error in {code:?}: {e}"));
}

/// Poll `cond` until it holds; panics after `limit`. Between polls it waits for news of a
/// finished request (at most 5 ms), so it never spins hard and never sleeps blindly.
fn wait_until(http: &Http, what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not reached within {limit:?}");
        http.news().wait(Some(Duration::from_millis(5)));
    }
}

/// Wait (live status, no ticks) until the global request `name` is no longer running.
fn wait_done(lua: &Lua, http: &Http, name: &str) -> String {
    let code = format!("return {name}:status()");
    let mut status = String::new();
    wait_until(http, &format!("{name} finished"), Duration::from_secs(10), || {
        status = eval(lua, &code);
        status != "running"
    });
    status
}

/// The test server's `/bytes` pattern.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// `finish()` of global request `name` as (body, code, headers).
fn finish(lua: &Lua, name: &str) -> (Vec<u8>, i64, Vec<(String, String)>) {
    let (body, code, headers): (tpt_http::mlua::LuaString, i64, tpt_http::mlua::Table) =
        eval(lua, &format!("return {name}:finish()"));
    let headers = headers
        .sequence_values::<tpt_http::mlua::Table>()
        .map(|h| {
            let h = h.expect("header entry is a table");
            assert_eq!(h.raw_len(), 2, "header entry length");
            (
                h.get::<String>(1).expect("name"),
                h.get::<String>(2).expect("value"),
            )
        })
        .collect();
    (body.as_bytes().to_vec(), code, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The value of request header `name` in an `/echo` report.
fn echo_header(report: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(report);
    let prefix = format!("header {name}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

#[test]
fn status_is_live_without_ticks() {
    let server = Server::http();
    let (lua, http) = host(config());
    exec(
        &lua,
        &format!("req = http.get('{}/bytes/1000')", server.base_url()),
    );
    // Never calling http.tick(): the request must still become "done".
    assert_eq!(wait_done(&lua, &http, "req"), "done");
    let (body, code, _) = finish(&lua, "req");
    assert_eq!(code, 200);
    assert_eq!(body, pattern(1000));
    let after: String = eval(&lua, "return req:status()");
    assert_eq!(after, "dead", "status after finish");

    // Inside one chunk, a loop can wait for the live status (no tick gating in a plain host).
    let (status, code, n): (String, i64, i64) = eval(
        &lua,
        &format!(
            "local r = http.get('{}/bytes/10')
             local t0 = os.time()
             while r:status() == 'running' do
               if os.time() - t0 > 10 then error('still running after 10 s') end
             end
             local s = r:status()
             local body, code = r:finish()
             return s, code, #body",
            server.base_url()
        ),
    );
    assert_eq!((status.as_str(), code, n), ("done", 200, 10));
}

#[test]
fn status_is_live_for_immediate_failures_and_cancel() {
    let (lua, _http) = host(Config {
        network_enabled: false,
        ..config()
    });
    let (status, code): (String, i64) = eval(
        &lua,
        "local r = http.get('https://example.com/')
         local s = r:status()
         local _, code = r:finish()
         return s, code",
    );
    assert_eq!(status, "done", "a 604 request is done at once without ticks");
    assert_eq!(code, 604);

    let server = Server::http();
    let (lua, _http) = host(config());
    let (status, progress_count, finish_count): (String, i64, i64) = eval(
        &lua,
        &format!(
            "local r = http.get('{}/hang')
             r:cancel()
             return r:status(), select('#', r:progress()), select('#', r:finish())",
            server.base_url()
        ),
    );
    assert_eq!(status, "dead", "cancel without ticks is dead at once");
    assert_eq!(progress_count, 0, "progress() results when dead");
    assert_eq!(finish_count, 0, "finish() results when dead");
}

#[test]
fn gc_cancels_a_request_in_flight() {
    let server = Server::http();
    let (lua, http) = host(config());
    exec(&lua, &format!("req = http.get('{}/hang')", server.base_url()));
    wait_until(
        &http,
        "the server accepted the connection",
        Duration::from_secs(5),
        || server.connections_accepted() == 1,
    );
    assert_eq!(http.in_flight(), 1, "the /hang request is in flight");
    exec(&lua, "req = nil; collectgarbage(); collectgarbage()");
    wait_until(
        &http,
        "in_flight back to 0 after GC",
        Duration::from_secs(5),
        || http.in_flight() == 0,
    );

    // Many at once, from a table that becomes garbage.
    exec(
        &lua,
        &format!(
            "local t = {{}} for i = 1, 20 do t[i] = http.get('{}/hang') end",
            server.base_url()
        ),
    );
    assert_eq!(http.in_flight(), 20, "20 requests in flight");
    exec(&lua, "collectgarbage(); collectgarbage()");
    wait_until(
        &http,
        "in_flight back to 0 after GC of 20",
        Duration::from_secs(5),
        || http.in_flight() == 0,
    );

    // A request that is referenced stays alive through a collection.
    exec(
        &lua,
        &format!("keep = http.get('{}/bytes/10')", server.base_url()),
    );
    exec(&lua, "collectgarbage(); collectgarbage()");
    assert_eq!(wait_done(&lua, &http, "keep"), "done");
    assert_eq!(finish(&lua, "keep").1, 200);
}

#[test]
fn dropping_the_state_with_requests_in_flight() {
    let server = Server::http();
    let (lua, http) = host(config());
    exec(
        &lua,
        &format!(
            "held = {{}}
             for i = 1, 5 do held[#held + 1] = http.get('{0}/hang') end
             for i = 1, 5 do held[#held + 1] = http.get('{0}/slow/1000000?ms=50') end",
            server.base_url()
        ),
    );
    assert_eq!(http.in_flight(), 10);
    let t0 = Instant::now();
    drop(lua);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "dropping the state took {:?}",
        t0.elapsed()
    );
    wait_until(
        &http,
        "in_flight back to 0 after closing the state",
        Duration::from_secs(5),
        || http.in_flight() == 0,
    );
    drop(http);

    // Requests from a new state (and the shared engine) still work.
    let (lua, http) = host(config());
    exec(
        &lua,
        &format!("req = http.get('{}/bytes/100')", server.base_url()),
    );
    assert_eq!(wait_done(&lua, &http, "req"), "done");
    let (body, code, _) = finish(&lua, "req");
    assert_eq!(code, 200);
    assert_eq!(body, pattern(100));

    // Dropping the host handle first, then the state, is as prompt.
    exec(&lua, &format!("h = http.get('{}/hang')", server.base_url()));
    drop(http);
    let t0 = Instant::now();
    drop(lua);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "dropping the state took {:?}",
        t0.elapsed()
    );
    let (lua, http) = host(config());
    exec(&lua, &format!("req = http.get('{}/bytes/5')", server.base_url()));
    assert_eq!(wait_done(&lua, &http, "req"), "done");
    assert_eq!(finish(&lua, "req").1, 200);
}

/// Start `n` requests to `url_of(i)` at once, wait for all, return (body, code) of each.
fn burst(lua: &Lua, http: &Http, n: usize, url_of: impl Fn(usize) -> String) -> Vec<(Vec<u8>, i64)> {
    exec(lua, "burst = {}");
    for i in 1..=n {
        exec(lua, &format!("burst[{i}] = http.get('{}')", url_of(i)));
    }
    assert!(http.in_flight() <= n);
    (1..=n)
        .map(|i| {
            let name = format!("burst[{i}]");
            assert_eq!(wait_done(lua, http, &name), "done", "{name}");
            let (body, code, _) = finish(lua, &name);
            (body, code)
        })
        .collect()
}

#[test]
fn one_connection_per_host_carries_concurrent_requests() {
    let ca = TestCa::new();
    let servers = [Server::http(), Server::https(&ca), Server::https_h1_only(&ca)];
    for server in &servers {
        let (lua, http) = host(Config {
            max_host_connections: 1,
            ..config_with_ca(&ca)
        });
        let base = server.base_url();
        let results = burst(&lua, &http, 10, |i| format!("{base}/bytes/{}", 1000 + i));
        for (i, (body, code)) in results.iter().enumerate() {
            assert_eq!(*code, 200, "{base}: code of request {}", i + 1);
            assert_eq!(*body, pattern(1001 + i), "{base}: body of request {}", i + 1);
        }
        assert_eq!(server.connections_accepted(), 1, "{base}: connections accepted");
    }
}

#[test]
fn sequential_requests_reuse_one_connection() {
    let ca = TestCa::new();
    let servers = [Server::http(), Server::https(&ca), Server::https_h1_only(&ca)];
    for server in &servers {
        let (lua, http) = host(config_with_ca(&ca));
        let base = server.base_url();
        for (i, path) in [
            "/bytes/10",
            "/echo",
            "/status/404",
            "/redirect/2",
            "/bytes/100000",
            "/chunked/5000",
        ]
        .iter()
        .enumerate()
        {
            exec(&lua, &format!("req = http.get('{base}{path}')"));
            assert_eq!(wait_done(&lua, &http, "req"), "done", "{base}{path}");
            let (_, code, _) = finish(&lua, "req");
            assert_eq!(
                code,
                if *path == "/status/404" { 404 } else { 200 },
                "{base}{path}"
            );
            assert_eq!(
                server.connections_accepted(),
                1,
                "{base}: connections after request {}",
                i + 1
            );
        }
        exec(&lua, &format!("req = http.post('{base}/echo', 'data')"));
        assert_eq!(wait_done(&lua, &http, "req"), "done");
        assert_eq!(finish(&lua, "req").1, 200);
        assert_eq!(
            server.connections_accepted(),
            1,
            "{base}: connections after a post"
        );
    }
}

#[test]
fn user_agent_default_is_sent() {
    let ca = TestCa::new();
    for server in [Server::http(), Server::https(&ca)] {
        let (lua, http) = host(config_with_ca(&ca));
        exec(&lua, &format!("req = http.get('{}/echo')", server.base_url()));
        assert_eq!(wait_done(&lua, &http, "req"), "done");
        let (body, code, _) = finish(&lua, "req");
        assert_eq!(code, 200);
        assert_eq!(
            echo_header(&body, "user-agent").as_deref(),
            Some(Config::default().user_agent.as_str()),
            "user-agent sent to {}",
            server.base_url()
        );
    }
}

/// Spec section 4: `PowderToy/<major>.<minor> (<platform>; NO; M<mod id>; P<package mode>;
/// <ARCH-PLATFORM-LIBC>) TPTPP/<...>`.
#[test]
fn user_agent_has_the_tpt_shape() {
    let ua = Config::default().user_agent;
    let rest = ua
        .strip_prefix("PowderToy/")
        .unwrap_or_else(|| panic!("{ua:?}: prefix"));
    let (version, rest) = rest.split_once(" (").unwrap_or_else(|| panic!("{ua:?}: version"));
    let (major, minor) = version
        .split_once('.')
        .unwrap_or_else(|| panic!("{ua:?}: major.minor"));
    assert!(
        !major.is_empty()
            && !minor.is_empty()
            && (major.to_owned() + minor).bytes().all(|b| b.is_ascii_digit()),
        "{ua:?}: version {version:?}"
    );
    let (inner, trailer) = rest
        .split_once(") ")
        .unwrap_or_else(|| panic!("{ua:?}: parenthesis"));
    let fields: Vec<&str> = inner.split("; ").collect();
    assert_eq!(fields.len(), 5, "{ua:?}: fields in parentheses");
    assert!(!fields[0].is_empty(), "{ua:?}: platform");
    assert_eq!(fields[1], "NO", "{ua:?}: second field");
    assert!(
        fields[2].len() > 1
            && fields[2].starts_with('M')
            && fields[2][1..].bytes().all(|b| b.is_ascii_digit()),
        "{ua:?}: mod id"
    );
    assert!(
        fields[3].len() > 1 && fields[3].starts_with('P'),
        "{ua:?}: package mode"
    );
    assert_eq!(fields[4].split('-').count(), 3, "{ua:?}: ARCH-PLATFORM-LIBC");
    assert_eq!(
        fields[4],
        fields[4].to_uppercase(),
        "{ua:?}: ARCH-PLATFORM-LIBC is upper case"
    );
    assert!(
        trailer.starts_with("TPTPP/") && trailer.len() > "TPTPP/".len(),
        "{ua:?}: trailer {trailer:?} should be TPTPP/<...>"
    );
}

fn raw_fetch(response: &[u8]) -> (Vec<u8>, i64, Vec<(String, String)>) {
    let server = RawServer::start(response.to_vec(), false);
    let (lua, http) = host(config());
    exec(&lua, &format!("req = http.get('{}/')", server.base_url()));
    assert_eq!(wait_done(&lua, &http, "req"), "done");
    finish(&lua, "req")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

#[test]
fn response_headers_names_lowercased_values_trimmed() {
    let (body, code, headers) = raw_fetch(
        b"HTTP/1.1 201 Created\r\nX-MiXed-Case: v\r\nX-Pad: \t  padded \t value \t\r\nX-Colon: a: b:c\r\nX-Empty:\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(code, 201);
    assert_eq!(body, b"ok");
    assert_eq!(
        headers,
        pairs(&[
            ("x-mixed-case", "v"),
            ("x-pad", "padded \t value"),
            ("x-colon", "a: b:c"),
            ("x-empty", ""),
            ("content-length", "2"),
        ])
    );
}

/// Spec section 2: duplicates and order kept, as on the wire.
#[test]
fn response_headers_keep_duplicates_in_wire_order() {
    let (body, code, headers) =
        raw_fetch(b"HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(code, 200);
    assert_eq!(body, b"ok");
    assert_eq!(
        headers,
        pairs(&[("x-a", "1"), ("x-b", "2"), ("x-a", "3"), ("content-length", "2")])
    );
}

/// Spec section 2: the header table holds the final response only, not 1xx responses.
#[test]
fn informational_response_headers_are_dropped() {
    let (body, code, headers) = raw_fetch(
        b"HTTP/1.1 100 Continue\r\nX-Early: 100\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(code, 200);
    assert_eq!(body, b"ok");
    assert_eq!(headers, pairs(&[("x-final", "1"), ("content-length", "2")]));
    assert_eq!(header(&headers, "link"), None);
}

/// Batched starts: a flush starts what was queued before it, and a request's first method call
/// starts it only if no flush has yet. (A request already flushed once started every request
/// queued after it on its first `status()`, a wake-up of the engine per request.)
#[test]
fn a_flushed_request_does_not_start_requests_queued_after_it() {
    use tpt_http_testserver::{ScriptedServer, Step};
    let server = ScriptedServer::start(vec![Step::Hold]);
    let (lua, http) = host(config());
    http.set_batch_starts(true);
    let url = format!("{}/", server.base_url());
    exec(&lua, &format!("a = http.get('{url}')"));
    http.flush();
    exec(&lua, &format!("b = http.get('{url}')"));
    wait_until(&http, "a connected", Duration::from_secs(5), || {
        server.connections() == 1
    });
    assert_eq!(http.queued(), 1, "b waits for a flush");
    assert_eq!(eval::<String>(&lua, "return a:status()"), "running");
    assert_eq!(http.queued(), 1, "a:status() started b");
    assert_eq!(eval::<String>(&lua, "return b:status()"), "running");
    assert_eq!(http.queued(), 0, "b's own call starts it");
    wait_until(&http, "b connected", Duration::from_secs(5), || {
        server.connections() == 2
    });
}

/// TPT v100 refuses the `http` API outside interface events; a host marks such callbacks with
/// `Http::set_outside_interface_event` and scripts get TPT's exact error (with the caller's
/// position), from every function and method but `__gc`.
#[test]
fn outside_an_interface_event_every_call_raises_tpts_error() {
    let (lua, http) = host(Config {
        network_enabled: false,
        ..config()
    });
    exec(&lua, "req = http.get('http://127.0.0.1:9/')");
    http.set_outside_interface_event(true);
    let calls = [
        "http.get('http://127.0.0.1:9/')",
        "http.post('http://127.0.0.1:9/', 'x')",
        "http.getAuthToken('aud')",
        "req:status()",
        "req:progress()",
        "req:cancel()",
        "req:finish()",
        "req:read()",
        "req:error()",
    ];
    for call in calls {
        let err: String = eval(
            &lua,
            &format!("local ok, e = pcall(function()\n{call}\nend) return tostring(e)"),
        );
        assert!(
            err.ends_with(":2: this functionality is restricted to interface events"),
            "{call}: {err}"
        );
    }
    // Argument errors come first for the http functions, as in TPT (arguments are read before
    // the check).
    let err: String = eval(&lua, "local ok, e = pcall(http.get) return e");
    assert!(err.contains("bad argument #1 to '"), "{err}");
    // __gc is exempt.
    let gc: bool = eval(&lua, "return (pcall(getmetatable(req).__gc, req))");
    assert!(gc, "__gc must not be restricted");
    http.set_outside_interface_event(false);
    let status: String = eval(&lua, "return http.get('http://127.0.0.1:9/'):status()");
    assert_eq!(status, "done");
}
