//! OpenTelemetry traces (the `otel` feature, `--otlp-endpoint`): the `tool_call` spans of
//! [`crate::mcp`], the `http_request` spans of the HTTP transport and the `smooth_request`
//! spans of `smooth_api`, exported over OTLP/HTTP.
//!
//! Only those three spans are exported, and no log event: their attributes are closed sets
//! (tool name, request and task ids, HTTP method, route, path, status code), so nothing a
//! log line might hold (a typed secret at `trace` level) can reach the collector.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

/// The spans that are exported.
const EXPORTED: [&str; 3] = ["tool_call", "http_request", "smooth_request"];

/// Flushes the spans still queued when dropped (at exit).
pub struct Flush(SdkTracerProvider);

impl Drop for Flush {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!(error = %e, "flushing OpenTelemetry spans");
        }
    }
}

/// The layer sending spans to `endpoint` (a full OTLP/HTTP traces URL), in batches from a
/// thread of its own.
pub fn layer<S>(
    endpoint: &url::Url,
) -> Result<(impl Layer<S> + use<S>, Flush), opentelemetry_otlp::ExporterBuildError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.as_str())
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(env!("CARGO_PKG_NAME"))
                .build(),
        )
        .build();
    let tracer = provider.tracer(env!("CARGO_PKG_NAME"));
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_filter(filter_fn(|meta| {
            meta.is_span() && EXPORTED.contains(&meta.name())
        }));
    Ok((layer, Flush(provider)))
}
