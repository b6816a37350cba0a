//! Request ids: accepted from the client (or a proxy) only when well-formed.
//!
//! `SetRequestIdLayer` keeps an incoming `x-request-id` as-is. An id ends up in every log
//! line and in error pages, so one carrying newlines, markup or kilobytes of text is dropped
//! here first, and a fresh UUID is made for that request instead.

use axum::extract::Request;

/// The header that carries a request's id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

const MAX_LEN: usize = 64;

pub fn is_well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub async fn drop_malformed(mut request: Request) -> Request {
    let malformed = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .is_some_and(|v| !v.to_str().is_ok_and(is_well_formed));
    if malformed {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::is_well_formed;

    #[test]
    fn accepts_uuids_and_simple_tokens_only() {
        assert!(is_well_formed("4a02d4cb-4530-4082-bb00-3f72b5be3956"));
        assert!(is_well_formed("lb.req_123"));
        for bad in ["", "a b", "x\ny", "<script>", &"a".repeat(65)] {
            assert!(!is_well_formed(bad), "{bad:?}");
        }
    }
}
