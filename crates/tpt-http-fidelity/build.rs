//! Compiles the reference client (reference/tpt_reference.c) against the libcurl 8.10.1 that
//! curl-sys builds from its bundled source, and links it statically.

fn main() {
    let include = std::env::var("DEP_CURL_INCLUDE").expect("curl-sys gives its include directory");
    println!("cargo:rerun-if-changed=reference/tpt_reference.c");
    cc::Build::new()
        .file("reference/tpt_reference.c")
        .include(include)
        .define("CURL_STATICLIB", None)
        .warnings(true)
        .compile("tpt_reference");
}
