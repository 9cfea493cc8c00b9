//! Form posts from other sites are refused before any handler runs.
//!
//! Log-in, setup and join forms are posted before there is a session, so they have no session
//! CSRF token; a page elsewhere could otherwise post them and log a visitor's browser into an
//! account the attacker controls. Browsers say where a post comes from (`Sec-Fetch-Site`, and
//! `Origin` on every form post), so one rule over every page route stops it.

use super::admin::PageError;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses (403) a state-changing request that a browser says came from another site.
pub async fn same_origin_posts(req: Request, next: Next) -> Response {
    let safe = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    // HTTP/2 carries the host in the URI's authority rather than a `Host` header.
    let authority = req.uri().authority().map(|a| a.as_str().to_owned());
    if !safe && !is_same_origin(req.headers(), authority.as_deref()) {
        return PageError::Forbidden(
            "This form was sent from another site. Open this site directly and try again.",
        )
        .into_response();
    }
    next.run(req).await
}

/// Whether the browser's own headers place the request on this site. `Sec-Fetch-Site` decides
/// when it is sent (every current browser does); else `Origin` must name this host (`null`, from
/// a sandboxed frame or a page that hides its origin, is not ours). A client that sends neither
/// is not a browser and is let through: the session's CSRF token and `SameSite` cookies still
/// hold for it.
fn is_same_origin(headers: &HeaderMap, authority: Option<&str>) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        return true;
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, text(header::HOST.as_str()).or(authority)) {
        (Some(o), Some(host)) => !o.is_empty() && o.eq_ignore_ascii_case(host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers_of(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_sites_origin_passes() {
        let host = ("host", "shop.example:8080");
        assert!(is_same_origin(&headers_of(&[host]), None));
        assert!(is_same_origin(
            &headers_of(&[host, ("origin", "https://shop.example:8080")]),
            None
        ));
        assert!(is_same_origin(
            &headers_of(&[host, ("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(!is_same_origin(
            &headers_of(&[host, ("origin", "https://evil.example")]),
            None
        ));
        assert!(!is_same_origin(
            &headers_of(&[host, ("origin", "null")]),
            None
        ));
        // Our own pages' posts, whatever `Origin` says, when the browser vouches for them.
        assert!(is_same_origin(
            &headers_of(&[host, ("origin", "null"), ("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(!is_same_origin(
            &headers_of(&[host, ("sec-fetch-site", "cross-site")]),
            None
        ));
        assert!(!is_same_origin(
            &headers_of(&[host, ("sec-fetch-site", "same-site")]),
            None
        ));
        assert!(!is_same_origin(
            &headers_of(&[("origin", "https://shop.example:8080")]),
            None
        ));
    }
}
