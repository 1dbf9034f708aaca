//! Every Lua snippet of README.md, module/README.md and docs/reference.md runs: those written
//! for the runner (`tpt-http run`) here, against a loopback HTTPS server; those that `require("tpt_http")` under
//! the native module's specs (`module/spec/docs_spec.lua`). The Rust snippets are doctests
//! (`cargo test -p tpt-http-cli --doc`, see `src/lib.rs`).
//!
//! The snippets use `https://example.com/...` URLs, rewritten to the test server's routes here.

mod common;

use common::{script, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tpt_http_testserver::{Server, TestCa};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The ```lua blocks of a Markdown file, in order.
fn lua_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_start() == "```lua" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(current.is_none(), "a ```lua block is not closed");
    blocks
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The example URLs of the docs and the test server's routes that stand in for them (the same
/// table is in module/spec/docs_spec.lua). Longest first.
const ROUTES: [(&str, &str); 3] = [
    ("https://example.com/data.json", "/bytes/27"),
    ("https://example.com/stream", "/slow/4096?ms=5&chunk=512"),
    ("https://example.com/", "/bytes/1000"),
];

fn rewrite(snippet: &str, base: &str) -> String {
    let mut out = snippet.to_string();
    for (from, to) in ROUTES {
        out = out.replace(from, &format!("{base}{to}"));
    }
    assert!(
        !out.contains("example.com"),
        "a snippet uses a URL the test does not map:\n{snippet}"
    );
    out
}

struct Env {
    _ca: TestCa,
    server: Server,
    ca_file: PathBuf,
}

fn env() -> Env {
    let ca = TestCa::new();
    let server = Server::https(&ca);
    let ca_file = script("readme-ca.pem", &ca.cert_pem());
    Env {
        _ca: ca,
        server,
        ca_file,
    }
}

/// Run `snippet` with `tpt-http run --fps 0 --ca-file CA [extra flags]`, HTTPS enforced.
fn run_snippet(env: &Env, snippet: &str, extra: &[&str], session_key: Option<&str>) -> Output {
    let path = script("snippet.lua", &rewrite(snippet, &env.server.base_url()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tpt-http"));
    cmd.args(["run", "--fps", "0", "--no-proxy-env", "--ca-file"])
        .arg(&env.ca_file)
        .args(extra)
        .arg(&path)
        .env_remove("TPT_HTTP_SESSION_KEY");
    if let Some(key) = session_key {
        cmd.env("TPT_HTTP_SESSION_KEY", key);
    }
    cmd.output().expect("run tpt-http")
}

fn for_the_runner(block: &str) -> bool {
    !block.contains("require(\"tpt_http\")")
}

/// What a snippet must print: exactly this, or a line starting with this.
enum Want {
    Exact(&'static str),
    Prefix(&'static str),
}

/// Run every Lua snippet for the runner in `file`; `expected` holds what each prints, in order
/// (a new snippet needs its entry).
fn snippets_run(file: &str, expected: &[Want]) {
    let env = env();
    let snippets: Vec<String> = lua_blocks(&read(file))
        .into_iter()
        .filter(|b| for_the_runner(b))
        .collect();
    assert_eq!(
        snippets.len(),
        expected.len(),
        "{file} has {} Lua snippets for the runner; give each its expected output here",
        snippets.len()
    );
    for (snippet, want) in snippets.iter().zip(expected) {
        let out = run_snippet(&env, snippet, &[], None);
        let stdout = text(&out.stdout);
        let ok = match want {
            Want::Exact(w) => stdout == *w,
            Want::Prefix(w) => stdout.starts_with(w) && stdout.lines().count() == 1,
        };
        assert!(
            ok && out.status.code() == Some(0),
            "{file} snippet:\n{snippet}\nexit {:?}, stdout: {stdout:?}\nstderr: {}",
            out.status.code(),
            text(&out.stderr)
        );
    }
}

#[test]
fn readme_lua_snippets_run_in_the_runner() {
    snippets_run(
        "README.md",
        &[
            Want::Exact("200\t27\n"),
            Want::Exact("not authenticated\n"),
            Want::Exact("200\t4096 bytes\n"),
            Want::Exact("done\t200\t27\n"),
        ],
    );
}

#[test]
fn reference_lua_snippets_run_in_the_runner() {
    snippets_run(
        "docs/reference.md",
        &[
            Want::Prefix("200\t27\t"),
            Want::Prefix("failed (607): could not connect to 127.0.0.1 port 1: "),
            Want::Exact("200\t27\n"),
            Want::Exact("200\t27\n"),
        ],
    );
}

#[test]
fn readme_auth_snippet_gets_a_token_for_a_logged_in_user() {
    let env = env();
    env.server.add_user("42", "the-key", "alice");
    let snippet = lua_blocks(&read("README.md"))
        .into_iter()
        .find(|b| b.contains("getAuthToken"))
        .expect("README.md has a getAuthToken snippet");
    let base = env.server.base_url();
    let out = run_snippet(
        &env,
        &snippet,
        &["--auth-server", &base, "--user-id", "42"],
        Some("the-key"),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.starts_with("got a token of "), "{stdout}");
}

/// The module's snippets are run by module/spec/docs_spec.lua; make sure that is where they go
/// (module/README.md has no snippet for the runner).
#[test]
fn module_readme_snippets_are_all_for_the_module() {
    let blocks = lua_blocks(&read("module/README.md"));
    assert!(!blocks.is_empty());
    for b in &blocks {
        assert!(
            !for_the_runner(b),
            "module/README.md snippet without require(\"tpt_http\"):\n{b}"
        );
    }
}

#[test]
fn lua_blocks_are_extracted() {
    let md = "text\n```lua\nprint(1)\n```\n```sh\nls\n```\n  ```lua\nprint(2)\nprint(3)\n  ```\n";
    assert_eq!(lua_blocks(md), ["print(1)\n", "print(2)\nprint(3)\n"]);
}

/// The relative links of the Markdown documents point at files of the repository (a clone has
/// nothing outside it).
#[test]
fn relative_links_stay_in_the_repository() {
    let root = root().canonicalize().expect("repository root");
    let docs = [
        "README.md",
        "ARCHITECTURE.md",
        "DESIGN.md",
        "RELIABILITY.md",
        "BENCHMARKS.md",
        "module/README.md",
        "docs/reference.md",
        "bench/README.md",
    ];
    let mut checked = 0;
    for doc in docs {
        let text = read(doc);
        let dir = root.join(doc).parent().expect("a folder").to_path_buf();
        for piece in text.split("](").skip(1) {
            let target = piece.split(')').next().unwrap_or_default();
            let path = target.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            let resolved = dir.join(path).canonicalize();
            assert!(
                resolved.as_ref().is_ok_and(|p| p.starts_with(&root)),
                "{doc} links to {target}, which is not a file of the repository"
            );
            checked += 1;
        }
    }
    assert!(checked > 5, "only {checked} relative links found");
}

/// The Lua script inside the README's Rust quick start (compiled by the doctests) does its job
/// when driven as that program drives it: one `http.tick()` and one `frame()` call per frame.
#[test]
fn readme_rust_quick_start_script_runs() {
    use std::sync::{Arc, Mutex};
    use tpt_http::mlua::{Function, Lua, Variadic};

    let readme = read("README.md");
    let script = readme
        .split("const SCRIPT: &str = r#\"")
        .nth(1)
        .and_then(|rest| rest.split("\"#;").next())
        .expect("README's Rust quick start has const SCRIPT");
    let env = env();
    let lua = Lua::new();
    let config = tpt_http::Config {
        tick_gating: true,
        extra_ca_pem: Some(std::fs::read(&env.ca_file).expect("CA")),
        no_proxy_env: true,
        ..tpt_http::Config::default()
    };
    let http = tpt_http::install(&lua, config).expect("install");
    let printed = Arc::new(Mutex::new(Vec::new()));
    let sink = printed.clone();
    let print = lua
        .create_function(move |_, args: Variadic<String>| {
            sink.lock().unwrap().push(args.join("\t"));
            Ok(())
        })
        .expect("print");
    lua.globals().set("print", print).expect("set print");
    lua.load(rewrite(script, &env.server.base_url()))
        .set_name("script.lua")
        .exec()
        .expect("the script loads");
    let frame: Function = lua.globals().get("frame").expect("frame()");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        http.tick();
        if frame.call::<bool>(()).expect("frame()") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the script never finished");
        http.news().wait(Some(std::time::Duration::from_millis(50)));
    }
    assert_eq!(*printed.lock().unwrap(), ["200\t1000 bytes\t"]);
}
