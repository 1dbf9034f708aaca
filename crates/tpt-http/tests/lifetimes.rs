//! Issue 10: no crash reachable from Lua through the binding's lifetimes. Lua runs finalizers
//! in reverse order of marking (at close, and in any collection), a finalizer may call anything
//! it can reach, and Lua 5.1 and 5.4 do not finalize objects a finalizer makes during
//! `lua_close`. Each case runs in a child process (this test binary run again with
//! `TPT_HTTP_LIFETIME_CASE` set), so a crash is reported as a failed test, not a dead suite.
//!
//! Every case prints `RESULT ok <facts>`; the parent checks the exit status and the
//! facts. Built for LuaJIT by default; CI runs it again under Lua 5.4 and 5.1 builds.

use std::process::Command;
use std::time::{Duration, Instant};
use tpt_http::mlua::Lua;
use tpt_http::{Config, Http};
use tpt_http_testserver::Server;

const CASE_VAR: &str = "TPT_HTTP_LIFETIME_CASE";

/// Lua that makes an object with a finalizer in any Lua version: `gc_object(f)`.
const PRELUDE: &str = include_str!("lua/gc_object.lua");

/// The test server's `/hang`, which never answers: a transfer to it runs until something ends
/// it. The server lives as long as the returned handle.
fn silent_server() -> (Server, String) {
    let server = Server::http();
    let url = format!("{}/hang", server.base_url());
    (server, url)
}

/// A logged-in user, so `getAuthToken` makes a request.
struct Someone;

impl tpt_http::IdentityProvider for Someone {
    fn current_user(&self) -> Option<tpt_http::AuthUser> {
        Some(tpt_http::AuthUser {
            user_id: "1".into(),
            session_key: "key".into(),
        })
    }
}

fn config() -> Config {
    Config {
        enforce_https: false,
        ..Config::default()
    }
}

/// Wait until every transfer of `http` ended; returns how many still run after 10 s.
fn settle(http: &Http) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while http.in_flight() > 0 && Instant::now() < deadline {
        http.news().wait(Some(Duration::from_millis(10)));
    }
    http.in_flight()
}

/// Run `before` (Lua), install the API as global `http`, run `after`, collect garbage, close the
/// state, and report what is left running.
fn run_case(before: &str, after: &str) {
    let (_server, url) = silent_server();
    // SAFETY: the debug library is what the by-hand cases need; nothing here loads C code.
    let lua = unsafe { Lua::unsafe_new() };
    lua.globals().set("URL", url).expect("set URL");
    lua.load(PRELUDE).exec().expect("prelude");
    lua.load(before).exec().expect("code before install");
    let http = tpt_http::install(&lua, config()).expect("install");
    http.set_identity(Some(std::sync::Arc::new(Someone)));
    lua.load(after).exec().expect("code after install");
    lua.gc_collect().expect("collect");
    lua.gc_collect().expect("collect again");
    let facts: String = lua
        .load("return table.concat(FACTS or {}, ' ')")
        .eval()
        .expect("facts");
    drop(lua);
    let left = settle(&http);
    println!("\nRESULT ok left={left} {facts}");
}

/// The child's side: run the case named by the environment, if any.
#[test]
fn child() {
    let Ok(case) = std::env::var(CASE_VAR) else { return };
    let (before, after) = case_code(&case);
    run_case(before, after);
}

/// The Lua of each case: (before install, after install).
fn case_code(case: &str) -> (&'static str, &'static str) {
    match case {
        // The review's six lines: a finalizer older than the context calls http.get at close.
        "old_get_at_close" => (
            "holder = {} keep = gc_object(function() \
               FACTS_AT_CLOSE = pcall(function() return holder.http.get(URL) end) end)",
            "holder.http = http",
        ),
        "old_post_at_close" => (
            "holder = {} keep = gc_object(function() \
               local r = holder.http.post(URL, 'x') \
               r:status() r:progress() r:cancel() r:finish() end)",
            "holder.http = http",
        ),
        "old_auth_at_close" => (
            "holder = {} keep = gc_object(function() \
               local r = holder.http.getAuthToken('aud') r:status() r:finish() end)",
            "holder.http = http",
        ),
        // A finalizer older than the context uses a request made while the state was open.
        "old_methods_at_close" => (
            "holder = {} keep = gc_object(function() \
               local r = holder.req \
               r:status() r:progress() r:read() r:error() r:cancel() r:finish() \
               getmetatable(r).__gc(r) r:status() end)",
            "holder.req = http.get(URL)",
        ),
        // The same in a plain collection, the state staying open: the finalizer is the last
        // holder of http.get, and both become garbage in the same cycle.
        "old_get_in_collection" => (
            "FACTS = {} local h = {} holder = h \
             holder.keep = gc_object(function() \
               local r = h.get(URL) \
               FACTS[#FACTS + 1] = 'made=' .. r:status() \
               made = r end)",
            "holder.get = http.get http = nil holder.keep = nil holder = nil \
             collectgarbage() collectgarbage() \
             FACTS[#FACTS + 1] = 'after=' .. tostring(made and made:status())",
        ),
        // Finalizers newer than the context make requests during close (Lua 5.1 and 5.4 never
        // finalize those): closing must end their transfers all the same.
        "new_get_at_close" => (
            "",
            "keep = gc_object(function() made = http.get(URL) made:status() end) \
             keep2 = gc_object(function() made2 = http.post(URL, 'x') end)",
        ),
        // Requests alive at close, one held only by the registry of a finalizer's closure.
        "live_requests_at_close" => (
            "",
            "a = http.get(URL) b = http.get(URL) \
             keep = gc_object(function() a:cancel() end)",
        ),
        // Calling the context's finalizer by hand (a script with the debug library).
        "ctx_gc_by_hand" => (
            "",
            "r = http.get(URL) \
             local _, box = debug.getupvalue(http.get, 1) \
             if box == nil then FACTS = { 'unreachable' } return end \
             local mt = debug.getmetatable(box) \
             FACTS = {} \
             FACTS[1] = 'gc_ok=' .. tostring(pcall(mt.__gc, box)) \
             FACTS[2] = 'again_ok=' .. tostring(pcall(mt.__gc, box)) \
             FACTS[3] = 'old=' .. r:status() \
             local r2 = http.get(URL) \
             FACTS[4] = 'new=' .. r2:status() \
             FACTS[5] = 'wrong_type=' .. tostring((pcall(mt.__gc, {})))",
        ),
        // A request's finalizer called by hand, then the object used and collected.
        "req_gc_by_hand" => (
            "",
            "local r = http.get(URL) getmetatable(r).__gc(r) getmetatable(r).__gc(r) \
             FACTS = { 'after=' .. r:status(), 'finish=' .. select('#', r:finish()) }",
        ),
        other => panic!("unknown case {other}"),
    }
}

/// Run `case` in a child process; its last output line, after checking it ended cleanly.
fn in_child(case: &str) -> String {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CASE_VAR, case)
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "case {case} did not end cleanly: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("case {case}: no result line\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    line.to_string()
}

#[test]
fn old_finalizer_calls_get_at_close() {
    assert_eq!(in_child("old_get_at_close"), "ok left=0 ");
}

#[test]
fn old_finalizer_calls_post_and_methods_at_close() {
    assert_eq!(in_child("old_post_at_close"), "ok left=0 ");
}

#[test]
fn old_finalizer_calls_get_auth_token_at_close() {
    assert_eq!(in_child("old_auth_at_close"), "ok left=0 ");
}

#[test]
fn old_finalizer_calls_request_methods_at_close() {
    assert_eq!(in_child("old_methods_at_close"), "ok left=0 ");
}

#[test]
fn old_finalizer_holding_the_last_get_in_a_collection() {
    // The request made by the finalizer is a real one: it is still running against the silent
    // server when the script looks, and closing the state ends it.
    assert_eq!(
        in_child("old_get_in_collection"),
        "ok left=0 made=running after=running"
    );
}

#[test]
fn requests_made_by_finalizers_during_close_are_ended() {
    assert_eq!(in_child("new_get_at_close"), "ok left=0 ");
}

#[test]
fn closing_ends_every_live_transfer() {
    assert_eq!(in_child("live_requests_at_close"), "ok left=0 ");
}

#[test]
fn context_finalizer_called_by_hand() {
    // Closing by hand ends the requests made so far (they read as dead) and makes later ones
    // dead at once; a second call and a call with the wrong type are harmless.
    // Lua 5.1's debug.getupvalue does not give C functions' upvalues: no script reaches it.
    let expected = if cfg!(feature = "lua51") {
        "ok left=0 unreachable"
    } else {
        "ok left=0 gc_ok=true again_ok=true old=dead new=dead wrong_type=false"
    };
    assert_eq!(in_child("ctx_gc_by_hand"), expected);
}

#[test]
fn request_finalizer_called_by_hand() {
    assert_eq!(in_child("req_gc_by_hand"), "ok left=0 after=dead finish=0");
}

/// The silent server really holds a transfer open: without closing the state, a request to it
/// is still running (so `left=0` above is closing's doing, not the server's).
#[test]
fn silent_server_holds_a_transfer() {
    let (_server, url) = silent_server();
    let lua = Lua::new();
    let http = tpt_http::install(&lua, config()).expect("install");
    lua.globals().set("URL", url).expect("url");
    lua.load("r = http.get(URL)").exec().expect("get");
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        http.news().wait(Some(Duration::from_millis(20)));
    }
    let status: String = lua.load("return r:status()").eval().expect("status");
    assert_eq!((status.as_str(), http.in_flight()), ("running", 1));
}
