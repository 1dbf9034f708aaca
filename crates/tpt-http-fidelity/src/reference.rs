//! The Rust side of the reference client (`reference/tpt_reference.c`).

use crate::{Observed, Request};
use std::ffi::{CStr, CString, c_char, c_int, c_longlong};

/// `struct tpt_buf` of the C side.
#[repr(C)]
struct Buf {
    data: *mut u8,
    len: usize,
    cap: usize,
}

/// `struct tpt_ref_result` of the C side.
#[repr(C)]
struct RefResult {
    status: std::ffi::c_long,
    body: Buf,
    headers: Buf,
    total: c_longlong,
    done: c_longlong,
    curl_code: c_int,
    error: [c_char; 256],
}

/// `struct tpt_form_part` of the C side.
#[repr(C)]
struct FormPart {
    name: *const c_char,
    value: *const c_char,
    value_len: usize,
    filename: *const c_char,
    kind: *const c_char,
}

unsafe extern "C" {
    fn tpt_ref_request(
        url: *const c_char,
        verb: *const c_char,
        headers: *const *const c_char,
        nheaders: usize,
        post: c_int,
        post_data: *const c_char,
        post_len: usize,
        parts: *const FormPart,
        nparts: usize,
        user_agent: *const c_char,
        res: *mut RefResult,
    ) -> c_int;
    fn tpt_ref_free(res: *mut RefResult);
    fn tpt_ref_url(base: *const c_char, location: *const c_char, out: *mut c_char, out_len: usize) -> c_int;
    fn tpt_ref_version() -> *const c_char;
}

/// A C string of `bytes` up to their first NUL (as TPT's `c_str()` hands them to libcurl).
fn c(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).expect("no NUL before the end")
}

/// The bytes of a C-side buffer.
fn bytes(buf: &Buf) -> &[u8] {
    if buf.data.is_null() || buf.len == 0 {
        return &[];
    }
    // SAFETY: the C side keeps `data` pointing at `len` initialised bytes of its own allocation
    // (buf_put), alive until tpt_ref_free, which is called only after this borrow ends.
    unsafe { std::slice::from_raw_parts(buf.data, buf.len) }
}

/// One request through libcurl as TPT makes it.
pub(crate) fn fetch(req: &Request, user_agent: &str) -> Observed {
    let url = c(&req.url);
    // TPT sets a verb only when the script gave a non-empty one.
    let verb = req.verb.as_deref().filter(|v| !v.is_empty()).map(c);
    let pairs: Vec<CString> = req.headers.iter().flat_map(|(n, v)| [c(n), c(v)]).collect();
    let ptrs: Vec<*const c_char> = pairs.iter().map(|s| s.as_ptr()).collect();
    let agent = c(user_agent.as_bytes());
    let post = req.post.as_deref().unwrap_or_default();
    let form = req.form.as_deref().unwrap_or_default();
    let names: Vec<CString> = form.iter().map(|p| c(&p.name)).collect();
    let files: Vec<Option<CString>> = form.iter().map(|p| p.filename.as_deref().map(c)).collect();
    let kinds: Vec<Option<CString>> = form.iter().map(|p| p.content_type.as_deref().map(c)).collect();
    let parts: Vec<FormPart> = form
        .iter()
        .enumerate()
        .map(|(i, p)| FormPart {
            name: names[i].as_ptr(),
            value: p.value.as_ptr().cast(),
            value_len: p.value.len(),
            filename: files[i].as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
            kind: kinds[i].as_ref().map_or(std::ptr::null(), |k| k.as_ptr()),
        })
        .collect();
    let mut res = RefResult {
        status: 0,
        body: Buf {
            data: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        },
        headers: Buf {
            data: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        },
        total: 0,
        done: 0,
        curl_code: 0,
        error: [0; 256],
    };
    // SAFETY: every pointer passed is valid for the call: the C strings, the pointer array and
    // the form parts (pointing into `names`, `files`, `kinds` and the request's values) live
    // until the end of this function, `post` is `post.len()` readable bytes (libcurl reads it
    // during the call, which returns only when the transfer is over), and
    // `res` is a live, writable RefResult laid out as the C struct (repr(C), same field types).
    let rc = unsafe {
        tpt_ref_request(
            url.as_ptr(),
            verb.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
            ptrs.as_ptr(),
            req.headers.len(),
            c_int::from(req.post.is_some() || req.form.is_some()),
            post.as_ptr().cast(),
            post.len(),
            parts.as_ptr(),
            parts.len(),
            agent.as_ptr(),
            &mut res,
        )
    };
    assert_eq!(rc, 0, "libcurl could not be set up");
    let mut headers = Vec::new();
    let mut rest = bytes(&res.headers);
    let field = |rest: &mut &[u8]| {
        let (len, tail) = rest.split_at(4);
        let len = u32::from_ne_bytes(len.try_into().expect("4 bytes")) as usize;
        let (f, tail) = tail.split_at(len);
        *rest = tail;
        f.to_vec()
    };
    while !rest.is_empty() {
        let name = field(&mut rest);
        let value = field(&mut rest);
        headers.push((name, value));
    }
    let seen = Observed {
        status: i64::from(res.status as i32),
        body: bytes(&res.body).to_vec(),
        headers,
        progress: (res.total, res.done),
        requests: Vec::new(),
        error: {
            // SAFETY: libcurl writes a NUL-terminated message into the error buffer (or
            // nothing, and the buffer starts zeroed); the last byte is never written by it.
            let text = unsafe { CStr::from_ptr(res.error.as_ptr()) };
            format!("CURLcode {}: {}", res.curl_code, text.to_string_lossy())
        },
    };
    // SAFETY: `res` was filled by tpt_ref_request and is freed once; nothing borrows it now.
    unsafe { tpt_ref_free(&mut res) };
    seen
}

/// libcurl's reading of `base` (as CURLOPT_URL), or of `location` followed from it (as a
/// redirect): the URL it would request, or its CURLUcode.
pub fn reference_url(base: &[u8], location: Option<&[u8]>) -> Result<String, i32> {
    let base = c(base);
    let location = location.map(c);
    let mut out = vec![0 as c_char; 8192];
    // SAFETY: the inputs are NUL-terminated strings alive for the call; `out` is `out.len()`
    // writable chars, and the C side writes at most that many, NUL included.
    let rc = unsafe {
        tpt_ref_url(
            base.as_ptr(),
            location.as_ref().map_or(std::ptr::null(), |l| l.as_ptr()),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    if rc != 0 {
        return Err(rc);
    }
    // SAFETY: on success the C side wrote a NUL-terminated string into `out`.
    let text = unsafe { CStr::from_ptr(out.as_ptr()) };
    Ok(text.to_string_lossy().into_owned())
}

/// libcurl's version string, e.g. `libcurl/8.10.1 zlib/1.3.1`.
pub fn libcurl_version() -> String {
    // SAFETY: curl_version returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(tpt_ref_version()) }
        .to_string_lossy()
        .into_owned()
}
