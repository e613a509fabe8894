//! A Rust client for [Smooth](https://smooth.sh), the hosted browser agent: give it a task
//! in plain words and a browser in the cloud carries it out; or open a session and drive
//! the browser yourself, one action at a time.
//!
//! The crate has two layers:
//!
//! * [`SmoothClient`] speaks the REST API: one method per endpoint, typed requests and
//!   answers, errors that never contain the key, and retries of what is safe to repeat
//!   (reads, deletes, events that carry their own id; a new task only if the connection
//!   failed before anything was sent, because a task started twice is paid twice). When the
//!   answer to a sent `POST /task` is lost, the error names the account's tasks created in
//!   that moment instead ([`SmoothError::CreationUnconfirmed`]).
//! * [`watch::Watcher`] follows live tasks: one poller per task, however many callers wait
//!   on it, that reads the task's events, files each action result under the event that
//!   asked for it, and stops when nobody is waiting or the task has ended. It asks again at
//!   once only after news, backs off while Smooth fails, and retries a few unreadable
//!   answers before giving up.
//!
//! # Run a task and wait for its result
//!
//! ```
//! use std::time::Duration;
//!
//! use smooth_api::watch::{AgentTools, Watcher};
//! use smooth_api::{ApiKey, ClientConfig, SmoothClient, TaskRequest};
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = smooth_mock::MockSmooth::start(smooth_mock::MockConfig {
//! #     waiting: Duration::from_millis(10),
//! #     run_time: Duration::from_millis(100),
//! #     ..smooth_mock::MockConfig::default()
//! # })
//! # .await?;
//! let client = SmoothClient::new(ClientConfig {
//!     api_key: ApiKey::new("your-api-key"),
//! #   base_url: mock.base_url(),
//!     ..ClientConfig::default()
//! })?;
//! let watcher = Watcher::new(Duration::from_secs(1), Duration::from_secs(600));
//!
//! let task = watcher
//!     .start(&client, &TaskRequest {
//!         task: Some("Find the title of the top story on news.ycombinator.com".into()),
//!         max_steps: Some(16),
//!         ..TaskRequest::default()
//!     }, AgentTools::default())
//!     .await?;
//! // The poller runs while an `Interest` in the task is alive.
//! let mut interest = task.interest();
//! let ended = interest
//!     .until(Instant::now() + Duration::from_secs(600), |st| {
//!         if let Some(error) = &st.fatal {
//!             return Some(Err(error.clone())); // e.g. the key was refused
//!         }
//!         let task = st.task.as_ref().filter(|t| t.status.is_terminal())?;
//!         Some(Ok(task.clone()))
//!     })
//!     .await;
//! match ended {
//!     Some(Ok(task)) => println!("{}: {:?} ({:?} credits)", task.status, task.output, task.credits_used),
//!     Some(Err(error)) => println!("gave up: {error}"),
//!     None => println!("still running after ten minutes: task {}", task.id),
//! }
//! # assert_eq!(task.state().task.as_ref().map(|t| t.status), Some(smooth_api::TaskStatus::Done));
//! # Ok(())
//! # }
//! ```
//!
//! # Drive a session
//!
//! A session is a task without a task: a browser that waits for actions. Actions are
//! events; their results come back as events with the same id.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use serde_json::{Value, json};
//! use smooth_api::watch::{AgentTools, TaskWatch, Watcher};
//! use smooth_api::{ActionOutcome, ApiKey, ClientConfig, SmoothClient, SmoothError, TaskRequest, TaskStatus};
//! use tokio::time::Instant;
//!
//! /// Sends one action (`browser_action` or `session_action`) and waits for its result.
//! async fn act(session: &Arc<TaskWatch>, kind: &str, action: Value) -> Result<ActionOutcome, SmoothError> {
//!     let mut interest = session.interest();
//!     let id = session.send_action(kind, action).await?;
//!     let deadline = Instant::now() + Duration::from_secs(300);
//!     let outcome = interest.until(deadline, |st| st.action_result(&id).cloned()).await;
//!     outcome.ok_or(SmoothError::Timeout)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = smooth_mock::MockSmooth::start(smooth_mock::MockConfig {
//! #     waiting: Duration::from_millis(10),
//! #     run_time: Duration::from_millis(100),
//! #     ..smooth_mock::MockConfig::default()
//! # })
//! # .await?;
//! let client = SmoothClient::new(ClientConfig {
//!     api_key: ApiKey::new("your-api-key"),
//! #   base_url: mock.base_url(),
//!     ..ClientConfig::default()
//! })?;
//! let watcher = Watcher::new(Duration::from_secs(1), Duration::from_secs(600));
//!
//! // `task: None` opens a session; it costs money until it is closed.
//! let session = watcher.start(&client, &TaskRequest::default(), AgentTools::default()).await?;
//! session
//!     .interest()
//!     .until(Instant::now() + Duration::from_secs(120), |st| {
//!         st.task.as_ref().filter(|t| t.status == TaskStatus::Running).map(|_| ())
//!     })
//!     .await
//!     .ok_or(SmoothError::Timeout)?;
//!
//! act(&session, "browser_action", json!({"name": "goto", "input": {"url": "https://example.com"}})).await?;
//! let title = act(&session, "browser_action", json!({"name": "evaluate_js", "input": {"js": "document.title"}})).await?;
//! println!("title: {}", title.output);
//! let headline = act(&session, "browser_action", json!({"name": "extract", "input": {
//!     "schema": {"type": "object", "properties": {"headline": {"type": "string"}}},
//!     "prompt": "the main headline",
//! }})).await?;
//! println!("extracted: {}", headline.output);
//! let run = act(&session, "session_action", json!({"name": "run_task", "input": {"task": "Follow the first link"}})).await?;
//! println!("agent: {} ({:?} credits)", run.output, run.credits_used);
//! // A graceful close saves the profile, if any; `session.cancel()` forces it.
//! act(&session, "session_action", json!({"name": "close"})).await?;
//! # assert!(title.is_success() && title.output.as_str().is_some_and(|t| t.contains("example.com")));
//! # assert!(run.is_success());
//! # Ok(())
//! # }
//! ```
//!
//! # Modules
//!
//! * [`SmoothClient`], [`ClientConfig`], [`ApiKey`], [`RetryPolicy`]: the REST client
//!   (`client.rs`).
//! * [`TaskRequest`], [`TaskResponse`], [`TaskStatus`], [`TaskEvent`], [`ActionOutcome`],
//!   [`Profile`], [`Extension`], ...: the wire types (`types.rs`).
//! * [`SmoothError`], [`ClientBuildError`]: what can go wrong (`error.rs`).
//! * [`watch`]: the task watcher.
//! * [`observe`]: hooks for metrics ([`SmoothClient::with_observer`]): each exchange (by path
//!   template, never an id), retry, task created and task ended; no metrics library here.
//!   Each attempt is also a `trace`-level `smooth_request` span with OpenTelemetry's HTTP
//!   client attribute names.
//! * [`downloads`]: a finished task's downloads archive, fetched with
//!   [`SmoothClient::fetch_archive`] (without the key), checked as a whole ([`Archive`]),
//!   then read or unpacked with sizes bounded by the bytes really read.
//!
//! With the `schemars` feature, the public answer types derive `schemars::JsonSchema`.

#![warn(missing_docs)]

mod client;
pub mod downloads;
mod error;
pub mod observe;
mod tool_calls;
mod types;
pub mod watch;

pub use client::{
    AccountId, ApiKey, ClientConfig, DEFAULT_BASE_URL, RetryPolicy, SmoothClient,
    normalize_base_url,
};
pub use downloads::{Archive, ArchiveEntry, ArchiveLimits, Cleanup, DownloadError, SavedFile};
pub use error::{ClientBuildError, SmoothError};
pub use types::*;

/// Compiles the README's example with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
