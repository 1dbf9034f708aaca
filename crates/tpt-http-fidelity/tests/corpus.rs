//! The corpus: server byte scripts read by TPT's libcurl 8.10.1 and by tpt-http, compared on
//! status, body, header list, progress and the requests the server saw. Any difference not on
//! the allow-list (`tpt_http_fidelity::allow_list`) fails.

use tpt_http_fidelity::{Case, FormPart, Ours, Reply, Request, allow_list, compare_all, libcurl_version};

fn ok(extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn get(name: &str, response: impl AsRef<[u8]>) -> Case {
    Case::get(name, response.as_ref().to_vec())
}

/// A request of `url` (placeholders allowed) answered by `a` replies.
fn request(name: &str, req: Request, a: Vec<Reply>, b: Vec<Reply>) -> Case {
    Case {
        name: name.into(),
        request: req,
        a,
        b,
        literal: false,
    }
}

fn url(u: &str) -> Request {
    Request {
        url: u.as_bytes().to_vec(),
        ..Request::default()
    }
}

fn h(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

pub fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    // Status lines.
    for (name, line) in [
        ("status/plain", "HTTP/1.1 200 OK"),
        ("status/no-reason", "HTTP/1.1 200"),
        ("status/no-reason-space", "HTTP/1.1 200 "),
        ("status/lowercase", "http/1.1 200 OK"),
        ("status/lowercase-404", "http/1.1 404 Not Found"),
        ("status/http20-404", "HTTP/2.0 404 Not Found"),
        ("status/leading-blank", " HTTP/1.1 200 OK"),
        ("status/http10-404", "HTTP/1.0 404 Not Found"),
        ("status/http11-tab-404", "HTTP/1.1\t404 Not Found"),
        ("status/http10", "HTTP/1.0 200 OK"),
        ("status/double-space", "HTTP/1.1  200 OK"),
        ("status/tab", "HTTP/1.1\t200 OK"),
        ("status/code-599", "HTTP/1.1 599 Odd"),
        ("status/code-099", "HTTP/1.1 099 Low"),
        ("status/code-1000", "HTTP/1.1 1000 High"),
        ("status/two-digits", "HTTP/1.1 20 OK"),
        ("status/letters", "HTTP/1.1 2x0 OK"),
        ("status/http2-text", "HTTP/2 200"),
        ("status/http20", "HTTP/2.0 200 OK"),
        ("status/http12", "HTTP/1.2 200 OK"),
        ("status/junk", "HELLO"),
        ("status/icy", "ICY 200 OK"),
        ("status/reason-utf8", "HTTP/1.1 200 Ça va"),
        ("status/reason-ctl", "HTTP/1.1 200 O\x01K"),
        ("status/600", "HTTP/1.1 600 Custom"),
        ("status/999", "HTTP/1.1 999 Custom"),
    ] {
        cases.push(get(name, format!("{line}\r\nContent-Length: 2\r\n\r\nhi")));
    }
    // Header spellings.
    for (name, lines) in [
        ("header/plain", "X-A: 1\r\n"),
        ("header/no-space", "X-A:1\r\n"),
        ("header/blanks", "X-A: \t 1 \t \r\n"),
        ("header/empty-value", "X-A:\r\n"),
        ("header/case", "X-MiXeD: V\r\n"),
        ("header/duplicates", "X-A: 1\r\nX-B: 2\r\nX-A: 3\r\n"),
        ("header/space-in-name", "Bad Name: v\r\n"),
        ("header/space-before-colon", "X-A : v\r\n"),
        ("header/empty-name", ": v\r\n"),
        ("header/utf8-name", "X-é: v\r\n"),
        ("header/ctl-in-value", "X-A: a\x01b\r\n"),
        ("header/bare-cr-in-value", "X-A: a\rb\r\n"),
        ("header/colon-in-value", "X-A: a:b\r\n"),
        ("header/no-colon", "NoColon\r\n"),
        ("header/folded", "X-A: 1\r\n  folded\r\n"),
        ("header/folded-tab", "X-A: 1\r\n\tfolded: x\r\n"),
        ("header/del-in-name", "X\x7fA: v\r\n"),
        ("header/nul-in-value", "X-A: a\0b\r\n"),
    ] {
        cases.push(get(
            name,
            format!("HTTP/1.1 200 OK\r\n{lines}Content-Length: 2\r\n\r\nhi"),
        ));
    }
    cases.push(get(
        "header/bare-lf-head",
        "HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 2\n\nhi",
    ));
    cases.push(get(
        "header/bare-lf-one-line",
        "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nhi",
    ));
    cases.push(get(
        "header/line-100k",
        format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nhi",
            "a".repeat(100 * 1024)
        ),
    ));
    cases.push(get(
        "header/line-90k",
        format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nhi",
            "a".repeat(90 * 1024)
        ),
    ));
    // Content-Length spellings.
    for (name, cl, body) in [
        ("length/plain", "2", "hi"),
        ("length/plus", "+2", "hi"),
        ("length/repeated-list", "2, 2", "hi"),
        ("length/conflicting-list", "2, 3", "hi"),
        ("length/leading-zero", "002", "hi"),
        ("length/blank", "", "hi"),
        ("length/negative", "-1", "hi"),
        ("length/hex", "0x2", "hi"),
        ("length/trailing-junk", "2abc", "hi"),
        ("length/spaces", " 2 ", "hi"),
        ("length/huge", "99999999999999999999999", "hi"),
        ("length/short-body", "5", "hi"),
        ("length/long-body", "1", "hi"),
        ("length/zero", "0", ""),
    ] {
        cases.push(get(
            name,
            format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n{body}"),
        ));
    }
    cases.push(get(
        "length/two-headers-same",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
    ));
    cases.push(get(
        "length/two-headers-differ",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!",
    ));
    cases.push(get("length/none-close", "HTTP/1.1 200 OK\r\n\r\nuntil close"));
    // Chunked forms and trailers.
    for (name, te, chunks) in [
        ("chunked/plain", "chunked", "2\r\nhi\r\n0\r\n\r\n"),
        ("chunked/upper", "CHUNKED", "2\r\nhi\r\n0\r\n\r\n"),
        ("chunked/ext", "chunked", "2;a=b\r\nhi\r\n0;x\r\n\r\n"),
        ("chunked/trailer", "chunked", "2\r\nhi\r\n0\r\nX-T: t\r\n\r\n"),
        ("chunked/upper-hex", "chunked", "A\r\n0123456789\r\n0\r\n\r\n"),
        ("chunked/leading-zeros", "chunked", "0002\r\nhi\r\n0\r\n\r\n"),
        ("chunked/bad-size", "chunked", "zz\r\nhi\r\n0\r\n\r\n"),
        ("chunked/no-last", "chunked", "2\r\nhi\r\n"),
        ("chunked/no-final-crlf", "chunked", "2\r\nhi\r\n0\r\n"),
        ("chunked/data-too-long", "chunked", "1\r\nhi\r\n0\r\n\r\n"),
        ("chunked/bare-lf", "chunked", "2\nhi\n0\n\n"),
        (
            "chunked/gzip-then-chunked",
            "gzip, chunked",
            "2\r\nhi\r\n0\r\n\r\n",
        ),
        ("chunked/not-last", "chunked, gzip", "2\r\nhi\r\n0\r\n\r\n"),
        ("chunked/identity", "identity", "hi"),
        (
            "chunked/junk-after-size",
            "chunked",
            "2 junk\rZ\r\nhi\r\n0\r\n\r\n",
        ),
        ("chunked/0x-size", "chunked", "0x10\r\n\r\n"),
        ("chunked/crs-after-data", "chunked", "2\r\nhi\r\r\n0\r\n\r\n"),
        (
            "chunked/16-digits",
            "chunked",
            "00000000000000002\r\nhi\r\n0\r\n\r\n",
        ),
        (
            "chunked/huge-size",
            "chunked",
            "8000000000000000\r\nhi\r\n0\r\n\r\n",
        ),
        (
            "chunked/two-trailers",
            "chunked",
            "2\r\nhi\r\n0\r\nX-T: t\r\nX-U: u\r\nNoColon\r\n\r\n",
        ),
        ("chunked/space-before-size", "chunked", " 2\r\nhi\r\n0\r\n\r\n"),
        (
            "chunked/bare-lf-trailers",
            "chunked",
            "2\r\nhi\r\n0\r\nX-T: t\nX-U: u\n\n",
        ),
        (
            "chunked/cr-in-trailer",
            "chunked",
            "2\r\nhi\r\n0\r\nX-T: t\r\nX-U: a\rb\r\n\r\n",
        ),
        (
            "chunked/folded-trailer",
            "chunked",
            "2\r\nhi\r\n0\r\nX-T: t\r\n folded\r\n\r\n",
        ),
        (
            "chunked/ext-on-last",
            "chunked",
            "2\r\nhi\r\n0;name=\"v\"\r\n\r\n",
        ),
        (
            "chunked/uppercase-hex",
            "chunked",
            "2\r\nhi\r\nA\r\n0123456789\r\n0\r\n\r\n",
        ),
    ] {
        cases.push(get(
            name,
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n{chunks}"),
        ));
    }
    cases.push(get(
        "chunked/with-length",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    ));
    // 1xx.
    cases.push(get(
        "interim/100",
        format!("HTTP/1.1 100 Continue\r\n\r\n{}", ok("X-A: 1\r\n", "hi")),
    ));
    cases.push(get(
        "interim/103-headers",
        format!("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n{}", ok("", "hi")),
    ));
    cases.push(get(
        "interim/two",
        format!(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n{}",
            ok("", "hi")
        ),
    ));
    // Statuses without a body.
    for status in [204, 304] {
        cases.push(get(
            &format!("nobody/{status}"),
            format!("HTTP/1.1 {status} X\r\n\r\n"),
        ));
        cases.push(get(
            &format!("nobody/{status}-with-length"),
            format!("HTTP/1.1 {status} X\r\nContent-Length: 5\r\n\r\n"),
        ));
        cases.push(get(
            &format!("nobody/{status}-head-cut"),
            format!("HTTP/1.1 {status} X\r\nX-A: 1\r\n"),
        ));
    }
    cases.push(get(
        "nobody/205",
        "HTTP/1.1 205 Reset\r\nContent-Length: 0\r\n\r\n",
    ));
    // Truncations.
    cases.push(get("cut/nothing", ""));
    cases.push(get("cut/status-line", "HTTP/1.1 200"));
    cases.push(get("cut/head", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"));
    cases.push(get("cut/head-mid-line", "HTTP/1.1 200 OK\r\nContent-Len"));
    cases.push(get(
        "cut/chunk",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhi",
    ));
    cases.push(get("cut/head-no-length", "HTTP/1.1 200 OK\r\nX-A: 1\r\n"));
    cases.push(get(
        "cut/head-chunked",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
    ));
    cases.push(get("cut/interim", "HTTP/1.1 103 Early\r\nLink: </x>\r\n"));
    cases.push(get("cut/after-interim", "HTTP/1.1 100 Continue\r\n\r\n"));
    cases.push(get(
        "cut/not-http-after-interim",
        "HTTP/1.1 100 Continue\r\n\r\nHXTP/1.1 200 OK\r\n\r\n",
    ));
    cases.push(get("cut/not-http-bare-lf", "HT:TP/1.1 200 OK\n\n"));
    cases.push(get(
        "header/cr-in-name",
        "HTTP/1.1 200 OK\r\nX-\rA: 1\r\nContent-Length: 2\r\n\r\nhi",
    ));
    cases.push(get(
        "header/code-099-headers",
        "HTTP/1.1 099 Low\r\nX-A: 1\r\n\r\n",
    ));
    cases.push(get(
        "header/cr-line-ends-head",
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n\rX-B: 2\r\nContent-Length: 2\r\n\r\nhi",
    ));
    cases.push(get("header/cr-cr-lf", "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\r\nhi"));
    cases.push(get(
        "header/bare-lf-blank",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nhi",
    ));
    cases.push(get(
        "interim/cr-line",
        "HTTP/1.1 103 E\r\n\rLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    ));
    cases.push(get("status/lf-inside-version", "HTTP/1.\n1 200 OK\r\n\r\n"));
    cases.push(get(
        "status/bare-lf-after-interim",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\n\r\n",
    ));
    // Found by the random run (seed 12345, 4,000 cases).
    cases.push(get(
        "found/nul-in-end-line",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\rX\0Y\nhi",
    ));
    cases.push(get(
        "found/invalid-length-listed",
        "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length:a 2\r\nX-B: 2\r\n\r\nhi",
    ));
    cases.push(get(
        "found/invalid-then-valid-length",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\nContent-Length: 2\r\n\r\nhi",
    ));
    cases.push(get(
        "found/first-trailer-no-colon",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nNoColon\r\n\r\n",
    ));
    cases.push(get(
        "found/cut-in-trailers",
        "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-T: t\r\n\r",
    ));
    // More shapes.
    for (name, response) in [
        (
            "more/101",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nxyz",
        ),
        (
            "more/status-junk-after-code",
            "HTTP/1.1 200OK\r\nContent-Length: 2\r\n\r\nhi",
        ),
        (
            "more/status-tab-reason",
            "HTTP/1.1 200\tOK\r\nContent-Length: 2\r\n\r\nhi",
        ),
        (
            "more/gzip-not-decoded",
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nhi",
        ),
        (
            "more/length-two-numbers",
            "HTTP/1.1 200 OK\r\nContent-Length: 2 3\r\n\r\nhi!",
        ),
        (
            "more/length-trailing-blanks",
            "HTTP/1.1 200 OK\r\nContent-Length:  2 \t\r\n\r\nhi",
        ),
        (
            "more/extra-after-body",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi and more",
        ),
        ("more/http10-no-length", "HTTP/1.0 200 OK\r\n\r\nuntil close"),
        (
            "more/empty-body-close",
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
        ),
        (
            "more/many-headers",
            &format!(
                "HTTP/1.1 200 OK\r\n{}Content-Length: 2\r\n\r\nhi",
                "X-H: v\r\n".repeat(3000)
            ),
        ),
        (
            "more/te-and-length-not-chunked",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nhi",
        ),
    ] {
        cases.push(get(name, response));
    }
    cases.push(request(
        "more/two-locations",
        url("{A}/"),
        vec![
            Reply::keep(
                "HTTP/1.1 302 Found\r\nLocation: /first\r\nLocation: /second\r\nContent-Length: 0\r\n\r\n",
            ),
            Reply::close(ok("", "done")),
        ],
        vec![],
    ));
    cases.push(request(
        "more/redirect-chunked-body",
        url("{A}/"),
        vec![
            Reply::keep("HTTP/1.1 302 Found\r\nLocation: /n\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
            Reply::close(ok("", "done")),
        ],
        vec![],
    ));
    cases.push(request(
        "more/head-verb-204",
        Request {
            verb: Some(b"HEAD".to_vec()),
            ..url("{A}/")
        },
        vec![Reply::close("HTTP/1.1 204 No Content\r\n\r\n")],
        vec![],
    ));
    cases.push(request(
        "more/get-verb-with-body",
        Request {
            verb: Some(b"GET".to_vec()),
            post: Some(b"x=1".to_vec()),
            ..url("{A}/")
        },
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    // Redirects and Location forms.
    let redirect = |code: u16, location: &str| {
        format!("HTTP/1.1 {code} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
    };
    for code in [301, 302, 303, 307, 308, 300, 304, 305, 306, 399] {
        cases.push(request(
            &format!("redirect/{code}"),
            url("{A}/start"),
            vec![Reply::close(redirect(code, "{B}/next"))],
            vec![Reply::close(ok("X-Final: 1\r\n", "done"))],
        ));
    }
    for (name, location) in [
        ("location/absolute-path", "/next"),
        ("location/relative", "next"),
        ("location/dot-segments", "/a/../b/./c"),
        ("location/query-only", "?q=1"),
        ("location/fragment", "/next#frag"),
        ("location/spaces", "/a b"),
        ("location/braces", "/{x}"),
        ("location/quote", "/\"x\""),
        ("location/utf8", "/é"),
        ("location/percent", "/%7e%2F"),
        ("location/backslash", "/\\x"),
        ("location/blanks-around", "  /next  "),
        ("location/empty", ""),
        ("location/space-in-query", "/a b?c d#e f"),
        ("location/relative-dots", "./a/./b/../c"),
        ("location/query-only-utf8", "?é"),
        ("location/other-scheme", "mailto:a@b"),
        ("location/no-slashes", "x:y"),
        ("location/control", "/a\x01b"),
        ("location/tab", "/a\tb"),
    ] {
        cases.push(request(
            name,
            url("{A}/start/here"),
            vec![Reply::keep(redirect(302, location)), Reply::close(ok("", "done"))],
            vec![],
        ));
    }
    cases.push(request(
        "location/other-origin-credentials",
        Request {
            headers: h(&[("Authorization", "Bearer x"), ("Cookie", "c=1"), ("X-Other", "y")]),
            ..url("{A}/")
        },
        vec![Reply::close(redirect(302, "{B}/next"))],
        vec![Reply::close(ok("", "done"))],
    ));
    cases.push(request(
        "redirect/loop-11",
        url("{A}/"),
        (0..12).map(|_| Reply::keep(redirect(302, "/again"))).collect(),
        vec![],
    ));
    cases.push(request(
        "redirect/10-then-ok",
        url("{A}/"),
        (0..10)
            .map(|_| Reply::keep(redirect(302, "/again")))
            .chain([Reply::close(ok("", "done"))])
            .collect(),
        vec![],
    ));
    cases.push(request(
        "redirect/no-location",
        url("{A}/"),
        vec![Reply::close("HTTP/1.1 302 Moved\r\nContent-Length: 3\r\n\r\nabc")],
        vec![],
    ));
    cases.push(request(
        "redirect/with-body",
        url("{A}/"),
        vec![
            Reply::keep("HTTP/1.1 302 Moved\r\nLocation: /n\r\nContent-Length: 5\r\n\r\nabcde"),
            Reply::close(ok("", "done")),
        ],
        vec![],
    ));
    // POST and verb rules.
    let post = |data: &str| Request {
        post: Some(data.as_bytes().to_vec()),
        ..url("{A}/p")
    };
    cases.push(request(
        "post/data",
        post("a=1"),
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    cases.push(request(
        "post/empty",
        post(""),
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    // Form posts (curl_mime in TPT), boundaries named on both sides.
    let part = |name: &str, value: &[u8], filename: Option<&str>, kind: Option<&str>| FormPart {
        name: name.as_bytes().to_vec(),
        value: value.to_vec(),
        filename: filename.map(|f| f.as_bytes().to_vec()),
        content_type: kind.map(|k| k.as_bytes().to_vec()),
    };
    for (name, form) in [
        ("form/one", vec![part("a", b"1", None, None)]),
        (
            "form/several",
            vec![
                part("a", b"1", None, None),
                part("b", b"two words", None, None),
                part("a", b"", None, None),
            ],
        ),
        (
            "form/file",
            vec![part("f", b"\x00\x01binary\xff", Some("data.bin"), None)],
        ),
        ("form/file-txt", vec![part("f", b"text", Some("notes.txt"), None)]),
        ("form/file-png", vec![part("f", b"png", Some("a.png"), None)]),
        (
            "form/file-typed",
            vec![part("f", b"x", Some("a.bin"), Some("image/gif"))],
        ),
        (
            "form/typed-no-file",
            vec![part("f", b"x", None, Some("text/plain"))],
        ),
        (
            "form/quotes",
            vec![part("we\"ird\\name", b"v", Some("fi\"le\\.txt"), None)],
        ),
        ("form/empty", vec![]),
    ] {
        cases.push(request(
            name,
            Request {
                form: Some(form),
                ..url("{A}/form")
            },
            vec![Reply::close(ok("", "ok"))],
            vec![],
        ));
    }
    // Over 1 MiB libcurl adds `Expect: 100-continue` (and waits up to 1 s for the answer).
    cases.push(request(
        "post/over-1-mib",
        Request {
            post: Some(vec![b'a'; 1024 * 1024 + 1]),
            ..url("{A}/p")
        },
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    cases.push(request(
        "post/over-1-mib-no-expect",
        Request {
            post: Some(vec![b'a'; 1024 * 1024 + 1]),
            headers: h(&[("Expect", "")]),
            ..url("{A}/p")
        },
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    cases.push(request(
        "post/headers-and-type",
        Request {
            headers: h(&[("X-A", "1"), ("Content-Type", "text/plain"), ("X-B", "2")]),
            ..post("a=1")
        },
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    for code in [301, 302, 303, 307, 308] {
        cases.push(request(
            &format!("post/redirect-{code}"),
            post("a=1"),
            vec![Reply::keep(redirect(code, "/next")), Reply::close(ok("", "done"))],
            vec![],
        ));
    }
    for verb in [
        "PUT", "DELETE", "HEAD", "PATCH", "get", "", "G E T", "Mé", "OPTIONS", "TRACE",
    ] {
        cases.push(request(
            &format!("verb/get-{verb}"),
            Request {
                verb: Some(verb.as_bytes().to_vec()),
                ..url("{A}/v")
            },
            vec![Reply::close(ok("", "ok"))],
            vec![],
        ));
        cases.push(request(
            &format!("verb/post-{verb}"),
            Request {
                verb: Some(verb.as_bytes().to_vec()),
                ..post("x")
            },
            vec![Reply::close(ok("", "ok"))],
            vec![],
        ));
    }
    cases.push(request(
        "verb/put-redirect-302",
        Request {
            verb: Some(b"PUT".to_vec()),
            ..post("x")
        },
        vec![Reply::keep(redirect(302, "/next")), Reply::close(ok("", "done"))],
        vec![],
    ));
    for (verb, code) in [
        ("PUT", 301),
        ("PUT", 303),
        ("PUT", 307),
        ("DELETE", 303),
        ("POST", 303),
        ("GET", 303),
    ] {
        cases.push(request(
            &format!("verb/{verb}-post-redirect-{code}"),
            Request {
                verb: Some(verb.as_bytes().to_vec()),
                ..post("x=1")
            },
            vec![Reply::keep(redirect(code, "/next")), Reply::close(ok("", "done"))],
            vec![],
        ));
        cases.push(request(
            &format!("verb/{verb}-get-redirect-{code}"),
            Request {
                verb: Some(verb.as_bytes().to_vec()),
                ..url("{A}/g")
            },
            vec![Reply::keep(redirect(code, "/next")), Reply::close(ok("", "done"))],
            vec![],
        ));
    }
    // Caller headers.
    for (name, headers) in [
        ("request/extra", h(&[("X-A", "1"), ("X-B", "2")])),
        (
            "request/replace-defaults",
            h(&[("X-First", "1"), ("User-Agent", "me"), ("Accept", "text/plain")]),
        ),
        ("request/remove-default", h(&[("Accept", "")])),
        ("request/empty-extra", h(&[("X-Empty", "")])),
        ("request/duplicates", h(&[("X-A", "1"), ("X-A", "2")])),
        ("request/host", h(&[("Host", "example.invalid")])),
        ("request/colon-in-name", h(&[("X-A: 1", "")])),
        ("request/semicolon", h(&[("X-A;", "")])),
    ] {
        cases.push(request(
            name,
            Request {
                headers,
                ..url("{A}/h")
            },
            vec![Reply::close(ok("", "ok"))],
            vec![],
        ));
    }
    // The deviations kept on purpose (each on the allow-list, with its reason).
    cases.push(request(
        "deviation/header-injection",
        Request {
            headers: h(&[("X-A", "1\r\nX-Injected: yes")]),
            ..url("{A}/h")
        },
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    cases.push(request(
        "deviation/verb-injection",
        Request {
            verb: Some(b"GET /x HTTP/1.1\r\nX-Injected: yes\r\nX:".to_vec()),
            ..url("{A}/h")
        },
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    cases.push(request(
        "deviation/caller-framing",
        Request {
            headers: h(&[("Transfer-Encoding", "chunked")]),
            ..post("abc")
        },
        vec![Reply::close(ok("", "ok"))],
        vec![],
    ));
    cases.push(request(
        "deviation/session-key-cross-origin",
        Request {
            headers: h(&[("X-Auth-Session-Key", "secret"), ("X-Other", "y")]),
            ..url("{A}/")
        },
        vec![Reply::close(redirect(302, "{B}/next"))],
        vec![Reply::close(ok("", "done"))],
    ));
    // URLs.
    for (name, u) in [
        ("url/userinfo", "http://user:p%40ss@{HOST}/private"),
        ("url/user-only", "http://user@{HOST}/private"),
        ("url/query-fragment", "{A}/p?q=1#frag"),
        ("url/spaces", "{A}/a b"),
        ("url/braces", "{A}/{x}"),
        ("url/utf8", "{A}/é"),
        ("url/dot-segments", "{A}/a/../b"),
        ("url/no-path", "{A}"),
        ("url/no-scheme", "{HOST}/x"),
        ("url/backslash", "{A}/a\\b"),
        ("url/utf8-query", "{A}/p?é=é"),
        ("url/percent", "{A}/%7e%2F%2e%2e/x"),
        ("url/pipe-caret", "{A}/a|b^c`d"),
    ] {
        cases.push(request(name, url(u), vec![Reply::close(ok("", "ok"))], vec![]));
    }
    cases
}

#[test]
fn corpus_reads_as_libcurl_reads_it() {
    let version = libcurl_version();
    assert!(version.starts_with("libcurl/8.10.1"), "{version}");
    let ours = Ours::new();
    let cases = corpus();
    let mut failures = Vec::new();
    let mut slowest = Vec::new();
    let mut allowed_seen = Vec::new();
    for case in &cases {
        let started = std::time::Instant::now();
        let (reference, mine, diffs, kept) = compare_all(&ours, case);
        if !kept.is_empty() {
            allowed_seen.push(case.name.clone());
        }
        slowest.push((started.elapsed(), case.name.clone()));
        if !diffs.is_empty() {
            failures.push(format!(
                "{}: {diffs:?}\n    libcurl: {} {:?} {}\n    ours:    {} {:?}",
                case.name, reference.status, reference.progress, reference.error, mine.status, mine.progress
            ));
        }
    }
    // Every allow-list entry is still needed: a deviation that went away leaves the list.
    for entry in allow_list() {
        assert!(
            allowed_seen.iter().any(|name| name.starts_with(entry.case)),
            "allow-list entry {} matched no difference: remove it ({})",
            entry.case,
            entry.reason
        );
    }
    println!("{} cases against {version}", cases.len());
    slowest.sort();
    println!("slowest cases: {:?}", &slowest[slowest.len().saturating_sub(5)..]);
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from libcurl {version}:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
