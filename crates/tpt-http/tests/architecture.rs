//! ARCHITECTURE.md's layering invariants, checked on the source (issue 14): tokio, hyper and
//! rustls are named only under `src/engine/`; mlua only in the binding (`lua.rs`, `lib.rs`);
//! no module imports another that imports it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (path relative to `src/`, code with comments removed).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read source");
            let rel = p
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            (rel, code_only(&text))
        })
        .collect()
}

/// The text without `//` comments (doc comments included) and without string literals' content
/// on lines that are comments; good enough for names of crates.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Does `code` name crate `krate` as a path (`krate::`) or in a `use`?
fn names(code: &str, krate: &str) -> bool {
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find(krate) {
        let at = from + i;
        let before_ok = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let after = &code[at + krate.len()..];
        if before_ok && (after.starts_with("::") || after.starts_with(';') || after.starts_with(" as ")) {
            return true;
        }
        from = at + krate.len();
    }
    false
}

#[test]
fn only_the_engine_names_tokio_hyper_and_rustls() {
    let mut offenders = Vec::new();
    for (file, code) in sources() {
        if file.starts_with("engine/") {
            continue;
        }
        for krate in ["tokio", "hyper", "hyper_util", "rustls", "tokio_rustls", "h2"] {
            if names(&code, krate) {
                offenders.push(format!("{file} names {krate}"));
            }
        }
    }
    assert!(offenders.is_empty(), "layering broken:\n{}", offenders.join("\n"));
}

#[test]
fn only_the_binding_names_mlua() {
    let mut offenders = Vec::new();
    for (file, code) in sources() {
        if file == "lua.rs" || file == "lib.rs" {
            continue;
        }
        if names(&code, "mlua") {
            offenders.push(format!("{file} names mlua"));
        }
    }
    assert!(offenders.is_empty(), "layering broken:\n{}", offenders.join("\n"));
}

/// The module a `crate::a::b` path names, as a file-level module (`engine/h1`, `spec`).
fn module_of(file: &str) -> String {
    let m = file.trim_end_matches(".rs");
    m.strip_suffix("/mod").unwrap_or(m).to_string()
}

/// The modules `code` (of module `me`) imports: `crate::x::y` and `super::x` paths.
fn imports(me: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let parent = me.rsplit_once('/').map_or("", |(p, _)| p);
    for (prefix, base) in [("crate::", String::new()), ("super::", parent.to_string())] {
        let mut from = 0;
        while let Some(i) = code[from..].find(prefix) {
            let at = from + i + prefix.len();
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            // The longest module prefix of the path is the module it reaches into.
            let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            for n in (1..=parts.len()).rev() {
                let joined = parts[..n].join("/");
                let name = if base.is_empty() {
                    joined
                } else {
                    format!("{base}/{joined}")
                };
                if modules.contains(&name) {
                    if name != me {
                        out.insert(name);
                    }
                    break;
                }
            }
            from = at;
        }
    }
    out
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().map(|(f, _)| module_of(f)).collect();
    let graph: BTreeMap<String, BTreeSet<String>> = sources
        .iter()
        .map(|(f, code)| {
            let me = module_of(f);
            let deps = imports(&me, code, &modules);
            (me, deps)
        })
        .collect();
    let mut circles = Vec::new();
    for (a, deps) in &graph {
        for b in deps {
            // A parent module declaring its children (`mod x;`) is not an import.
            if b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/")) {
                continue;
            }
            if a < b && graph.get(b).is_some_and(|d| d.contains(a)) {
                circles.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}
