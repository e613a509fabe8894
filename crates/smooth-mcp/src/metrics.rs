//! The counters behind `GET /metrics` (Prometheus text format, `prometheus-client`).
//!
//! Labels are chosen from closed sets only: tool names the router knows (anything else is
//! `unknown`), outcomes, task statuses, upstream path templates (`/task/{id}`), HTTP status
//! codes and rejection reasons. No label ever holds a key, a token, a URL query, an id or a
//! task's text. `smooth-api` reports through its [`Observer`] trait and knows nothing of this.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use smooth_api::TaskStatus;
use smooth_api::observe::{Exchange, Observer};

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the label values, as Prometheus users write them
pub enum Outcome {
    /// A result (`isError: false`).
    ok,
    /// A tool error the model reads (`isError: true`).
    tool_error,
    /// A JSON-RPC error (unknown tool, bad arguments).
    protocol_error,
    /// Answered with an MCP task or an input request; the work goes on.
    deferred,
}

/// Why the HTTP transport turned a request away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Rejection {
    auth,
    origin,
    host,
    size,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    tool: String,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    method: String,
    endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamLabels {
    method: String,
    endpoint: String,
    /// The HTTP status, or `none` when no answer came.
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: Rejection,
}

/// Every metric of the process; one per [`crate::mcp::AppState`].
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_seconds: Family<ToolLabel, Histogram>,
    started: Family<KindLabel, Counter>,
    finished: Family<StatusLabel, Counter>,
    credits: Counter<f64, AtomicU64>,
    pollers: Gauge,
    sessions: Gauge,
    upstream: Family<UpstreamLabels, Counter>,
    upstream_seconds: Family<EndpointLabels, Histogram>,
    retries: Family<EndpointLabels, Counter>,
    rejected: Family<ReasonLabel, Counter>,
}

/// Tool calls wait up to minutes for a task: 50 ms … ~14 min.
fn call_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 15))
}

/// One HTTP exchange with Smooth: 10 ms … ~80 s.
fn upstream_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("smooth_mcp");
        let calls = Family::<CallLabels, Counter>::default();
        let call_seconds =
            Family::<ToolLabel, Histogram>::new_with_constructor(call_buckets as fn() -> Histogram);
        let started = Family::<KindLabel, Counter>::default();
        let finished = Family::<StatusLabel, Counter>::default();
        let credits = Counter::<f64, AtomicU64>::default();
        let pollers = Gauge::default();
        let sessions = Gauge::default();
        let upstream = Family::<UpstreamLabels, Counter>::default();
        let upstream_seconds = Family::<EndpointLabels, Histogram>::new_with_constructor(
            upstream_buckets as fn() -> Histogram,
        );
        let retries = Family::<EndpointLabels, Counter>::default();
        let rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "tool_calls",
            "MCP tool calls by tool and outcome",
            calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "How long tool calls took to answer",
            call_seconds.clone(),
        );
        registry.register(
            "tasks_started",
            "Tasks and sessions this process created (kind: task or session)",
            started.clone(),
        );
        registry.register(
            "tasks_finished",
            "Watched tasks and sessions seen ending, by final status",
            finished.clone(),
        );
        registry.register(
            "credits_used",
            "Smooth credits reported by tasks and sessions seen ending",
            credits.clone(),
        );
        registry.register(
            "active_pollers",
            "Tasks being polled for news now",
            pollers.clone(),
        );
        registry.register(
            "open_sessions",
            "Browser sessions this process has open",
            sessions.clone(),
        );
        registry.register(
            "upstream_requests",
            "HTTP exchanges with the Smooth API by endpoint template and status (none: no answer)",
            upstream.clone(),
        );
        registry.register(
            "upstream_request_duration_seconds",
            "How long one exchange with the Smooth API took",
            upstream_seconds.clone(),
        );
        registry.register(
            "upstream_retries",
            "Smooth API requests retried after a failed attempt",
            retries.clone(),
        );
        registry.register(
            "rejected_requests",
            "HTTP requests turned away before MCP (auth, origin, host, size)",
            rejected.clone(),
        );
        Self {
            registry,
            calls,
            call_seconds,
            started,
            finished,
            credits,
            pollers,
            sessions,
            upstream,
            upstream_seconds,
            retries,
            rejected,
        }
    }
}

impl Metrics {
    /// A finished tool call. `tool` must be a routed tool's name (or `unknown`).
    pub fn call(&self, tool: &str, outcome: Outcome, took: Duration) {
        self.calls
            .get_or_create(&CallLabels {
                tool: tool.to_owned(),
                outcome,
            })
            .inc();
        self.call_seconds
            .get_or_create(&ToolLabel {
                tool: tool.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn rejected(&self, reason: Rejection) {
        self.rejected.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// The text exposition, with the gauges set to `pollers` and `sessions` now.
    pub fn render(&self, pollers: usize, sessions: usize) -> String {
        self.pollers.set(i64::try_from(pollers).unwrap_or(i64::MAX));
        self.sessions
            .set(i64::try_from(sessions).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Observer for Metrics {
    fn exchange(&self, exchange: &Exchange<'_>) {
        self.upstream
            .get_or_create(&UpstreamLabels {
                method: exchange.method.to_owned(),
                endpoint: exchange.endpoint.to_owned(),
                status: exchange
                    .status
                    .map_or_else(|| "none".to_owned(), |s| s.to_string()),
            })
            .inc();
        self.upstream_seconds
            .get_or_create(&EndpointLabels {
                method: exchange.method.to_owned(),
                endpoint: exchange.endpoint.to_owned(),
            })
            .observe(exchange.elapsed.as_secs_f64());
    }

    fn retry(&self, method: &str, endpoint: &str) {
        self.retries
            .get_or_create(&EndpointLabels {
                method: method.to_owned(),
                endpoint: endpoint.to_owned(),
            })
            .inc();
    }

    fn created(&self, session: bool) {
        let kind = if session { "session" } else { "task" };
        self.started.get_or_create(&KindLabel { kind }).inc();
    }

    fn ended(&self, status: TaskStatus, credits_used: Option<f64>) {
        self.finished
            .get_or_create(&StatusLabel {
                status: status.as_str(),
            })
            .inc();
        if let Some(credits) = credits_used.filter(|c| c.is_finite() && *c > 0.0) {
            self.credits.inc_by(credits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_labels() {
        let m = Metrics::default();
        m.call("get_task", Outcome::ok, Duration::from_millis(20));
        m.exchange(&Exchange {
            method: "GET",
            endpoint: "/task/{id}",
            status: Some(202),
            elapsed: Duration::from_millis(5),
        });
        m.ended(TaskStatus::Done, Some(1.5));
        m.rejected(Rejection::auth);
        let text = m.render(2, 1);
        for line in [
            "smooth_mcp_tool_calls_total{tool=\"get_task\",outcome=\"ok\"} 1",
            "smooth_mcp_upstream_requests_total{method=\"GET\",endpoint=\"/task/{id}\",status=\"202\"} 1",
            "smooth_mcp_tasks_finished_total{status=\"done\"} 1",
            "smooth_mcp_credits_used_total 1.5",
            "smooth_mcp_active_pollers 2",
            "smooth_mcp_open_sessions 1",
            "smooth_mcp_rejected_requests_total{reason=\"auth\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
