//! The Lua behaviour suite for spec section 1 (the `http` functions' arguments): each
//! `tests/lua/NAME.lua` runs through the real runner against loopback servers, one test per script.

mod common;
use common::run;

#[test]
fn basics() {
    run("basics");
}

#[test]
fn args_uri() {
    run("args_uri");
}

#[test]
fn args_order() {
    run("args_order");
}

#[test]
fn args_surface() {
    run("args_surface");
}

#[test]
fn post_body() {
    run("post_body");
}

#[test]
fn post_form() {
    run("post_form");
}

#[test]
fn post_dict() {
    run("post_dict");
}

#[test]
fn headers_list() {
    run("headers_list");
}

#[test]
fn headers_defaults() {
    run("headers_defaults");
}

#[test]
fn headers_wire() {
    run("headers_wire");
}

#[test]
fn verbs() {
    run("verbs");
}
