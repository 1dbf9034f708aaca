//! A script's form, encoded as `multipart/form-data` (`encode_multipart`): never panics, and
//! the body is exactly what an independent encoder makes: for each item the boundary line, a
//! Content-Disposition line whose quoted name and filename hold no raw `"`, CR or LF, an
//! optional Content-Type line without CR or LF, a blank line, the value; then the closing
//! boundary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpt_http::spec::{encode_multipart, guess_content_type, FormItem};

type Item = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

const BOUNDARY: &str = "------------------------fuzzFUZZfuzz0123456";

fuzz_target!(|items: Vec<Item>| {
    let items: Vec<FormItem> = items
        .into_iter()
        .map(|(name, value, filename, content_type)| FormItem {
            name,
            value,
            filename,
            content_type,
        })
        .collect();
    let body = encode_multipart(&items, BOUNDARY);
    assert_eq!(
        body,
        reference(&items),
        "encode_multipart differs from the reference"
    );
});

fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"%22"),
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            _ => out.push(b),
        }
    }
}

fn reference(items: &[FormItem]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        out.extend_from_slice(b"Content-Disposition: form-data; name=\"");
        quoted(&mut out, &item.name);
        out.push(b'"');
        if let Some(f) = &item.filename {
            out.extend_from_slice(b"; filename=\"");
            quoted(&mut out, f);
            out.push(b'"');
        }
        out.extend_from_slice(b"\r\n");
        let ct: Option<Vec<u8>> = match (&item.content_type, &item.filename) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(f)) => guess_content_type(f).map(|t| t.as_bytes().to_vec()),
            (None, None) => None,
        };
        if let Some(t) = ct {
            out.extend_from_slice(b"Content-Type: ");
            out.extend(t.into_iter().filter(|&b| b != b'\r' && b != b'\n'));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&item.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}
