//! [`SmoothClient::fetch_archive`]: the presigned download, without the API key.

use backon::{ConstantBuilder, Retryable};
use reqwest::{StatusCode, Url};

use super::{Archive, ArchiveLimits, DownloadError};
use crate::SmoothClient;
use crate::error::error_chain;

impl SmoothClient {
    /// GETs a presigned URL (`downloads_url`) WITHOUT the `apikey` header: a presigned URL
    /// carries its own authorization, S3 refuses a request with two, and the key must never
    /// go to a third host. Refuses at once an archive whose `Content-Length` is over
    /// [`ArchiveLimits::max_archive_bytes`], and stops reading as soon as the body passes
    /// it. Retried once after a connection failure or a 5xx. Uses this client's timeouts
    /// and User-Agent; works without an API key.
    pub async fn fetch_archive(
        &self,
        url: &str,
        limits: &ArchiveLimits,
    ) -> Result<Archive, DownloadError> {
        let url = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or(DownloadError::InvalidUrl)?;
        let location = location(&url);
        tracing::debug!(%location, "fetching the downloads archive");
        let once = || self.download_once(&url, &location, limits.max_archive_bytes);
        let bytes = once
            .retry(
                ConstantBuilder::default()
                    .with_delay(self.retry.min_delay)
                    .with_max_times(1),
            )
            .when(|failed: &Failed| failed.retry)
            .notify(|failed: &Failed, _| {
                tracing::debug!(%location, error = %failed.error, "retrying the downloads archive");
            })
            .await
            .map_err(|failed| failed.error)?;
        Archive::from_bytes(bytes, limits)
    }

    async fn download_once(&self, url: &Url, location: &str, max: u64) -> Result<Vec<u8>, Failed> {
        let fetch = |reason: String, retry: bool| Failed {
            retry,
            error: DownloadError::Fetch {
                location: location.to_owned(),
                reason,
            },
        };
        let mut resp = self.http.get(url.clone()).send().await.map_err(|e| {
            let retry = e.is_connect();
            fetch(reqwest_reason(e), retry)
        })?;
        let status = resp.status();
        if !status.is_success() {
            // The body is never shown: S3's error documents can echo the signed request.
            return Err(fetch(status_reason(status), status.is_server_error()));
        }
        let too_large = || Failed {
            retry: false,
            error: DownloadError::TooLarge { limit: max },
        };
        let declared = resp.content_length();
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(0));
        let mut bytes = Vec::with_capacity(capacity);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| fetch(reqwest_reason(e), false))?
        {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// One failed download attempt.
struct Failed {
    error: DownloadError,
    /// A connection failure or a 5xx: worth one more try.
    retry: bool,
}

/// `https://host:port/path`: what may be shown of a presigned link.
fn location(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

fn reqwest_reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out (the client's request timeout covers the whole download)".to_owned()
    } else {
        // Without the URL: it carries the signature (and so may a redirect's).
        error_chain(&e.without_url())
    }
}

fn status_reason(status: StatusCode) -> String {
    match status {
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST => format!(
            "the link was refused (HTTP {status}); download links expire: get the task again for a fresh one"
        ),
        StatusCode::NOT_FOUND => format!(
            "no archive at the link (HTTP {status}); it may have expired: get the task again for a fresh one"
        ),
        _ => format!("HTTP {status}"),
    }
}
