//! The editor annotations (`types/tpt_http.lua`, LuaCATS) describe exactly the functions and
//! methods the library installs: the `http` table's functions, TPT's request methods and the
//! extensions. (The native module's `configure` and `tick` are checked by
//! `module/spec/docs_spec.lua`, where the module is loaded.)

use std::collections::BTreeSet;
use std::path::Path;
use tpt_http::Config;
use tpt_http::mlua::{Lua, Table};

fn annotations() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../types/tpt_http.lua");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The names `NAME` of every `function PREFIXNAME(` in `source` (`HTTP.`, `HTTPRequest:`).
fn declared(source: &str, prefix: &str) -> BTreeSet<String> {
    source
        .lines()
        .filter_map(|l| l.strip_prefix("function ")?.strip_prefix(prefix))
        .map(|rest| rest.split('(').next().unwrap_or_default().to_string())
        .collect()
}

fn keys(t: &Table) -> BTreeSet<String> {
    t.pairs::<String, tpt_http::mlua::Value>()
        .map(|p| p.expect("string key").0)
        .collect()
}

/// What the library installs: the `http` table's keys, TPT's request methods (the `__index`
/// table), and the extensions (behind that table's own metatable).
fn installed() -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let lua = Lua::new();
    let config = Config {
        network_enabled: false,
        ..Config::default()
    };
    let _http = tpt_http::install(&lua, config).expect("install");
    let (functions, methods, extensions): (Table, Table, Table) = lua
        .load(
            r#"
            local req = http.get("https://localhost/")
            local index = getmetatable(req).__index
            return http, index, getmetatable(index).__index
            "#,
        )
        .eval()
        .expect("inspect the installed tables");
    (keys(&functions), keys(&methods), keys(&extensions))
}

#[test]
fn annotations_match_what_the_library_installs() {
    let source = annotations();
    let (functions, methods, extensions) = installed();
    assert_eq!(declared(&source, "HTTP."), functions, "http functions");
    let all_methods: BTreeSet<String> = methods.union(&extensions).cloned().collect();
    assert_eq!(declared(&source, "HTTPRequest:"), all_methods, "request methods");
    // TPT's four, and the extensions marked as such.
    assert_eq!(
        methods,
        ["cancel", "finish", "progress", "status"]
            .map(String::from)
            .into(),
    );
    for ext in &extensions {
        let doc = source
            .split(&format!("function HTTPRequest:{ext}("))
            .next()
            .and_then(|before| before.rsplit("\n\n").next())
            .unwrap_or_default();
        assert!(
            doc.contains("Beyond TPT"),
            "the annotation of {ext} does not say it is an extension"
        );
    }
}

#[test]
fn declared_parses_functions_and_methods() {
    let src = "function HTTP.get(uri) end\nfunction HTTPRequest:read() end\n-- function HTTP.no() end\n";
    assert_eq!(declared(src, "HTTP."), ["get".to_string()].into());
    assert_eq!(declared(src, "HTTPRequest:"), ["read".to_string()].into());
}
