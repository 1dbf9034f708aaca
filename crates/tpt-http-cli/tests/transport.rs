//! The Lua behaviour suite for spec sections 2 to 4 (the request object, tick gating, status
//! codes, redirects and transport settings): each `tests/lua/NAME.lua` runs through the real
//! runner against loopback servers, one test per script.

mod common;
use common::{run, run_with};
use std::time::Duration;

#[test]
fn gating() {
    run("gating");
}

/// Spec section 1, "the request starts at once": a transfer progresses (and may finish) within
/// the tick that created it, which still reports "running".
#[test]
fn gating_start() {
    run("gating_start");
}

#[test]
fn gating_offline() {
    run_with("gating_offline", |c| c.network_enabled = false);
}

#[test]
fn object_lifecycle() {
    run("object_lifecycle");
}

#[test]
fn object_progress() {
    run("object_progress");
}

#[test]
fn object_headers() {
    run("object_headers");
}

#[test]
fn codes() {
    run("codes");
}

#[test]
fn codes_noca() {
    run_with("codes_noca", |c| {
        c.extra_ca_pem = None;
        c.system_roots = false;
    });
}

#[test]
fn codes_enforced() {
    run_with("codes_enforced", |c| c.enforce_https = true);
}

#[test]
fn codes_status() {
    run("codes_status");
}

#[test]
fn redirects() {
    run("redirects");
}

#[test]
fn transport() {
    run("transport");
}

#[test]
fn transport_timeout() {
    run_with("transport_timeout", |c| {
        c.connect_timeout = Duration::from_millis(300)
    });
}
