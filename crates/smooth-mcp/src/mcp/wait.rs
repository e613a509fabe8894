//! The one bounded wait every long tool uses: until a condition holds, the budget runs out,
//! the request is cancelled, or the task is gone, reporting progress on the way.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::channel::Offer;
use super::progress::Reporter;
use crate::secrets::Redactor;
use smooth_api::SmoothError;
use smooth_api::watch::{TaskState, TaskWatch};

pub enum Waited {
    Done,
    /// The agent waits for an answer to a tool call: the caller returns at once so the
    /// assistant can answer (waiting out the budget would only delay the agent).
    NeedsAnswer,
    Budget,
    Cancelled,
    Gone(Arc<SmoothError>),
}

pub struct Wait<'a> {
    pub deadline: Instant,
    pub ct: &'a CancellationToken,
    pub reporter: &'a mut Reporter,
    pub heartbeat: Duration,
    /// What is being waited for, as the user would name it ("task", "agent task").
    pub label: &'a str,
    /// Every message passes it: progress and MCP task status never show a secret value.
    pub redactor: &'a Redactor,
}

impl Wait<'_> {
    pub async fn until(self, watch: &Arc<TaskWatch>, done: impl Fn(&TaskState) -> bool) -> Waited {
        let started = Instant::now();
        let mut interest = watch.interest();
        let mut reported: Option<(Option<String>, Option<String>, Option<String>)> = None;
        // The first report waits (one heartbeat at most) for the live view link, so the user
        // can watch from the first notification on.
        let mut next_beat = started + self.heartbeat;
        loop {
            let (finished, gone, status, live_url, pending) = {
                let st = watch.state();
                (
                    done(&st),
                    st.fatal.clone(),
                    st.task.as_ref().map(|t| t.status.to_string()),
                    st.task.as_ref().and_then(|t| t.live_url.clone()),
                    st.pending_tool_calls(),
                )
            };
            if finished {
                return Waited::Done;
            }
            if let Some(e) = gone {
                return Waited::Gone(e);
            }
            // The channel asks the user about the calls it can; the others end the wait.
            if let Offer::NeedsAnswer = self.reporter.channel.offer(&watch.id, &pending)
                && let Some(call) = pending.first()
            {
                let mut msg = progress_message(
                    self.label,
                    &watch.id,
                    status.as_deref(),
                    live_url.as_deref(),
                    started.elapsed(),
                );
                msg.push_str(&format!(
                    " · waiting for an answer to {} (call_id {})",
                    call.tool, call.call_id
                ));
                self.reporter
                    .report(self.redactor.redact(&msg).into_owned())
                    .await;
                return Waited::NeedsAnswer;
            }
            // Calls being asked here (the user, or an MCP task's client, answers).
            let asking = pending.first().map(|c| {
                format!(
                    " · waiting for an answer to {} (call_id {}){}",
                    c.tool,
                    c.call_id,
                    self.reporter.channel.how()
                )
            });
            let now = Instant::now();
            let seen = (status.clone(), live_url.clone(), asking.clone());
            let changed = reported.as_ref() != Some(&seen);
            let worth_it = reported.is_some() || live_url.is_some();
            if (changed && worth_it) || now >= next_beat {
                let mut msg = progress_message(
                    self.label,
                    &watch.id,
                    status.as_deref(),
                    live_url.as_deref(),
                    started.elapsed(),
                );
                msg.push_str(asking.as_deref().unwrap_or_default());
                self.reporter
                    .report(self.redactor.redact(&msg).into_owned())
                    .await;
                reported = Some(seen);
                next_beat = Instant::now() + self.heartbeat;
            }
            // A user answering a question here is not cut off by the budget.
            let asking_user = self.reporter.channel.asking_user();
            if Instant::now() >= self.deadline && !asking_user {
                return Waited::Budget;
            }
            let wake = if asking_user {
                next_beat
            } else {
                next_beat.min(self.deadline)
            };
            tokio::select! {
                _ = self.ct.cancelled() => return Waited::Cancelled,
                _ = interest.changed(wake) => {}
                asked = self.reporter.channel.next_answer() => {
                    let Some((call_id, answer)) = asked else { continue };
                    match watch.answer(&call_id, answer).await {
                        Ok(()) => tracing::info!(task = %watch.id, call_id, "answered by the user"),
                        // Answered some other way meanwhile: the first answer counts.
                        Err(e) => tracing::info!(task = %watch.id, call_id, error = %e, "the user's answer was not sent"),
                    }
                }
            }
        }
    }
}

fn progress_message(
    label: &str,
    id: &str,
    status: Option<&str>,
    live_url: Option<&str>,
    elapsed: Duration,
) -> String {
    let mut msg = format!(
        "{label} {id} {} · {}s",
        status.unwrap_or("starting"),
        elapsed.as_secs()
    );
    if let Some(url) = live_url {
        msg.push_str(" · watch live: ");
        msg.push_str(url);
    }
    msg
}
