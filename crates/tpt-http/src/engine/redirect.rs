//! The redirect rules, as libcurl 8.10.1 applies them under TPT's options, in one pure function:
//! [`next_hop`] takes a response's status and `Location`, the hop it answered and the policy,
//! and says whether to follow, where, and what the next request keeps. No I/O: the transfer
//! loop drains the body, applies the [`Hop`] and sends the next request.

use super::target::CurlUrl;
use crate::failure::{Failure, FailureKind};
use crate::spec;
use url::Url;

/// The policy's part in redirects.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// Redirects followed before the request fails with 611.
    pub(crate) max_redirects: u32,
    /// Only `https://` may be followed.
    pub(crate) enforce_https: bool,
}

/// The request a response answered, as far as redirects care.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answered<'a> {
    /// Its URL as libcurl holds it (Locations resolve against it).
    pub(crate) url: &'a CurlUrl,
    /// Redirects followed so far.
    pub(crate) hops: u32,
    /// Its method is POST (the one TPT's `http.post` makes, not a script's verb).
    pub(crate) post: bool,
    /// Its method is the script's own verb (`http.get(url, headers, "PUT")`).
    pub(crate) custom: bool,
}

/// Where and how to go next.
#[derive(Debug)]
pub(crate) struct Hop {
    /// The next URL, as libcurl resolved it, and as the `url` crate reads it (for its origin).
    pub(crate) curl: CurlUrl,
    pub(crate) url: Url,
    /// The next request is a GET (a POST answered by 301, 302 or 303).
    pub(crate) to_get: bool,
    /// The next request has no body (the same answers, for a POST or a script's verb).
    pub(crate) drop_body: bool,
}

/// Why a redirect is not followed.
#[derive(Debug)]
pub(crate) enum Refused {
    /// libcurl refuses the hop itself (611, or a Location it cannot resolve): the failure is
    /// reported with the hop's headers and announced length.
    Hop(Failure),
    /// The policy refuses the Location's scheme: reported without headers.
    Scheme(Failure),
}

impl Refused {
    /// The 6xx code of the refusal.
    #[cfg(test)]
    fn code(&self) -> u16 {
        match self {
            Refused::Hop(f) | Refused::Scheme(f) => f.code(),
        }
    }
}

/// libcurl follows a Location on any 3xx, 304 included.
pub(crate) fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

/// The next hop for a response with `status` and `location` to the request `answered`: `None`
/// when the response is final.
///
/// # Errors
/// - [`Refused::Hop`]: 611 (`TooManyRedirects`) past `rules.max_redirects`, or the failure
///   libcurl gives a Location it cannot resolve (`MalformedUrl`, or an unsupported scheme);
/// - [`Refused::Scheme`]: 601 for a Location to a scheme the policy does not allow.
pub(crate) fn next_hop(
    status: u16,
    location: Option<&[u8]>,
    answered: Answered<'_>,
    rules: Rules,
) -> Result<Option<Hop>, Refused> {
    // libcurl follows a Location that is not empty once trimmed.
    let location = location.map(spec::trim).filter(|l| !l.is_empty());
    let (true, Some(location)) = (is_redirect(status), location) else {
        return Ok(None);
    };
    if answered.hops >= rules.max_redirects {
        return Err(Refused::Hop(Failure::new(
            FailureKind::TooManyRedirects,
            format!("more than {} redirects", rules.max_redirects),
        )));
    }
    let curl = answered.url.resolve(location).map_err(|kind| {
        Refused::Hop(Failure::new(
            kind,
            "bad redirect location: refused as libcurl refuses it",
        ))
    })?;
    let url = Url::parse(&curl.text()).map_err(|e| {
        Refused::Hop(Failure::new(
            FailureKind::MalformedUrl,
            format!("bad redirect location: {e}"),
        ))
    })?;
    spec::check_scheme(&url, rules.enforce_https).map_err(Refused::Scheme)?;
    // libcurl re-sends a POST answered by 301/302/303 as a GET without body; a script's own
    // verb is kept, its body is not.
    let rewrite = matches!(status, 301..=303) && (answered.post || answered.custom);
    Ok(Some(Hop {
        curl,
        url,
        to_get: rewrite && !answered.custom,
        drop_body: rewrite,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        max_redirects: 10,
        enforce_https: false,
    };

    fn from(url: &str) -> CurlUrl {
        CurlUrl::parse(url.as_bytes()).expect("a url")
    }

    /// (status, location, post, custom, hops) -> (next url, to_get, drop_body) or the 6xx code.
    #[test]
    fn table() {
        type Row = (
            u16,
            Option<&'static str>,
            bool,
            bool,
            u32,
            Result<Option<(&'static str, bool, bool)>, u16>,
        );
        let base = "http://a.test/dir/page?q=1";
        let rows: &[Row] = &[
            // Not a redirect, or no Location worth following: final.
            (200, Some("/x"), false, false, 0, Ok(None)),
            (302, None, false, false, 0, Ok(None)),
            (302, Some("  "), false, false, 0, Ok(None)),
            (400, Some("/x"), false, false, 0, Ok(None)),
            // Every 3xx is followed, 304 included (libcurl).
            (
                300,
                Some("/x"),
                false,
                false,
                0,
                Ok(Some(("http://a.test/x", false, false))),
            ),
            (
                304,
                Some("/x"),
                false,
                false,
                0,
                Ok(Some(("http://a.test/x", false, false))),
            ),
            (
                399,
                Some("/x"),
                false,
                false,
                0,
                Ok(Some(("http://a.test/x", false, false))),
            ),
            // Relative forms resolve RFC 3986 style; blanks around the Location are trimmed.
            (
                302,
                Some(" other "),
                false,
                false,
                0,
                Ok(Some(("http://a.test/dir/other", false, false))),
            ),
            (
                302,
                Some("?z"),
                false,
                false,
                0,
                Ok(Some(("http://a.test/dir/page?z", false, false))),
            ),
            (
                302,
                Some("//b.test/y"),
                false,
                false,
                0,
                Ok(Some(("http://b.test/y", false, false))),
            ),
            (
                302,
                Some("https://c.test/"),
                false,
                false,
                0,
                Ok(Some(("https://c.test/", false, false))),
            ),
            // A POST becomes a GET without body on 301/302/303, keeps both on 307/308.
            (
                301,
                Some("/p"),
                true,
                false,
                0,
                Ok(Some(("http://a.test/p", true, true))),
            ),
            (
                302,
                Some("/p"),
                true,
                false,
                0,
                Ok(Some(("http://a.test/p", true, true))),
            ),
            (
                303,
                Some("/p"),
                true,
                false,
                0,
                Ok(Some(("http://a.test/p", true, true))),
            ),
            (
                307,
                Some("/p"),
                true,
                false,
                0,
                Ok(Some(("http://a.test/p", false, false))),
            ),
            (
                308,
                Some("/p"),
                true,
                false,
                0,
                Ok(Some(("http://a.test/p", false, false))),
            ),
            // A script's verb is kept, its body dropped on 301/302/303.
            (
                302,
                Some("/p"),
                false,
                true,
                0,
                Ok(Some(("http://a.test/p", false, true))),
            ),
            (
                307,
                Some("/p"),
                false,
                true,
                0,
                Ok(Some(("http://a.test/p", false, false))),
            ),
            // The tenth redirect is followed, the eleventh fails with 611.
            (
                302,
                Some("/x"),
                false,
                false,
                9,
                Ok(Some(("http://a.test/x", false, false))),
            ),
            (302, Some("/x"), false, false, 10, Err(611)),
            // A scheme libcurl does not follow.
            (302, Some("ftp://a.test/f"), false, false, 0, Err(601)),
        ];
        for (status, location, post, custom, hops, want) in rows {
            let url = from(base);
            let answered = Answered {
                url: &url,
                hops: *hops,
                post: *post,
                custom: *custom,
            };
            let got = next_hop(*status, location.map(str::as_bytes), answered, RULES)
                .map(|h| h.map(|h| (h.curl.text(), h.to_get, h.drop_body)))
                .map_err(|r| r.code());
            let want = want.map(|h| h.map(|(u, g, d)| (u.to_string(), g, d)));
            assert_eq!(
                got, want,
                "{status} {location:?} post={post} custom={custom} hops={hops}"
            );
        }
    }

    #[test]
    fn https_enforced_refuses_a_plain_http_location() {
        let url = from("https://a.test/");
        let answered = Answered {
            url: &url,
            hops: 0,
            post: false,
            custom: false,
        };
        let rules = Rules {
            enforce_https: true,
            ..RULES
        };
        let got = next_hop(302, Some(b"http://a.test/x"), answered, rules);
        assert!(
            matches!(&got, Err(Refused::Scheme(f)) if f.code() == 601),
            "{got:?}"
        );
        let ok = next_hop(302, Some(b"/x"), answered, rules).map_err(|r| r.code());
        assert_eq!(
            ok.map(|h| h.map(|h| h.curl.text())),
            Ok(Some("https://a.test/x".to_string()))
        );
    }
}
