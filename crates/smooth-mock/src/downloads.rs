//! The downloads host. Smooth's `downloads_url` is a presigned S3-style link (often on
//! another host); the mock serves its own at `/_downloads/{task id}.zip`, with S3's manners:
//! the signature in the query is the only credential, a request that also carries an
//! `apikey` is refused (S3 allows one auth mechanism, and it lets tests prove a client never
//! sends its Smooth key to the download host), errors are S3 XML.

// Checks return `Result<_, Response>`: the error side is the answer to send.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::Inner;
use super::archive;

/// The route serving downloads archives (outside `/api/v1`: no `apikey` there).
pub(crate) const ROUTE: &str = "/_downloads/{file}";

/// How long a link is valid, as the real links say (the mock does not expire them).
const EXPIRES_SECS: u32 = 86_400;

/// Everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `http://{host}/_downloads/{id}.zip?X-Amz-Expires=86400&X-Amz-Signature={signature}`.
pub(crate) fn link(host: &str, task_id: &str, signature: &str) -> String {
    format!(
        "http://{host}/_downloads/{}.zip?X-Amz-Expires={EXPIRES_SECS}&X-Amz-Signature={signature}",
        utf8_percent_encode(task_id, SEGMENT)
    )
}

/// The `host[:port]` a client reached the mock at (its `Host` header), so links work through
/// whatever address the client used; the listener's address when the header is missing or
/// is not a plain host (it goes into a URL).
pub(crate) fn request_host(headers: &HeaderMap, listener: SocketAddr) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map_or_else(|| listener.to_string(), str::to_string)
}

/// `GET /_downloads/{id}.zip?X-Amz-Signature=...`
pub(crate) async fn serve(
    State(inner): State<Arc<Inner>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    match archive_for(&inner, &file, &headers, query) {
        Ok(contents) => {
            // The first download of a kind builds it (up to a second): not on the runtime.
            match tokio::task::spawn_blocking(move || archive::zip_bytes(contents)).await {
                Ok(Ok(zip)) => (
                    [
                        (header::CONTENT_TYPE, "application/zip".to_string()),
                        (header::CONTENT_LENGTH, zip.len().to_string()),
                    ],
                    Bytes::from_static(zip),
                )
                    .into_response(),
                Ok(Err(e)) => s3_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e),
                Err(e) => s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    &e.to_string(),
                ),
            }
        }
        Err(response) => response,
    }
}

/// Checks the request the way S3 would (auth mechanism, key, signature) and finds what the
/// archive holds.
fn archive_for(
    inner: &Inner,
    file: &str,
    headers: &HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<archive::Contents, Response> {
    if headers.contains_key("apikey") {
        return Err(s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Signature query parameter \
             should be specified (this request also carries an apikey header)",
        ));
    }
    let no_such_key = || {
        s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    };
    let id = file.strip_suffix(".zip").ok_or_else(no_such_key)?;
    let now = Instant::now();
    let env = inner.env();
    let mut world = inner.world();
    let task = world.advance_task(id, now, &env).ok_or_else(no_such_key)?;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    match query.get("X-Amz-Signature") {
        None => {
            return Err(s3_error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Query-string authentication requires the X-Amz-Signature parameter",
            ));
        }
        Some(sig) if sig != task.download_signature() => {
            return Err(s3_error(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ));
        }
        Some(_) => {}
    }
    task.downloads(now, &inner.cfg).ok_or_else(no_such_key)
}

/// An S3 error document.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Error><Code>{code}</Code><Message>{}</Message></Error>\n",
        xml_escape(message)
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
