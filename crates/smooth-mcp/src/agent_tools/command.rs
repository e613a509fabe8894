//! `command = ["program", "arg", …]`: the input JSON on stdin, the output JSON on stdout.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use smooth_api::watch::ToolAnswer;

use super::{OperatorToolsError, tail_text};

/// A tool answers in JSON; more than this is not an answer an agent can use.
const MAX_STDOUT: usize = 1 << 20;
/// How much of stderr the agent sees when the program fails.
const STDERR_TAIL: usize = 2048;

pub(super) struct CommandTool {
    argv: Vec<String>,
    /// The listed variables, read at start-up: the program gets these and nothing else.
    env: Vec<(String, SecretString)>,
}

enum Failure {
    Io(std::io::Error),
    TooLarge,
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl CommandTool {
    pub(super) fn new(
        tool: &str,
        argv: &[String],
        names: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, OperatorToolsError> {
        let env = names
            .iter()
            .map(|var| {
                env(var)
                    .map(|value| (var.clone(), SecretString::from(value)))
                    .ok_or_else(|| OperatorToolsError::EnvUnset {
                        tool: tool.into(),
                        var: var.clone(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            argv: argv.to_vec(),
            env,
        })
    }

    pub(super) async fn run(&self, name: &str, timeout: Duration, input: &Value) -> ToolAnswer {
        let Some((program, args)) = self.argv.split_first() else {
            return ToolAnswer::error(format!("tool {name} has no program"));
        };
        let mut child = match Command::new(program)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v.expose_secret())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return ToolAnswer::error(format!("tool {name} could not start: {e}")),
        };
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return ToolAnswer::error(format!("tool {name} could not start: no pipes"));
        };
        let body = input.to_string();
        let run = async {
            let (_, out, err) = tokio::try_join!(
                feed(stdin, body.as_bytes()),
                read_capped(stdout),
                read_tail(stderr)
            )?;
            let status = child.wait().await?;
            Ok::<_, Failure>((status, out, err))
        };
        let outcome = tokio::time::timeout(timeout, run).await;
        match outcome {
            Err(_) => {
                // `kill_on_drop` would do it too; killing now frees the process at once.
                let _ = child.kill().await;
                ToolAnswer::error(format!(
                    "tool {name} timed out after {} s",
                    timeout.as_secs_f64()
                ))
            }
            Ok(Err(Failure::TooLarge)) => {
                let _ = child.kill().await;
                ToolAnswer::error(format!(
                    "tool {name} printed more than {} MiB",
                    MAX_STDOUT >> 20
                ))
            }
            Ok(Err(Failure::Io(e))) => {
                let _ = child.kill().await;
                ToolAnswer::error(format!("tool {name} failed: {e}"))
            }
            Ok(Ok((status, out, err))) => answer(name, status, &out, &err),
        }
    }
}

fn answer(name: &str, status: ExitStatus, out: &[u8], err: &[u8]) -> ToolAnswer {
    if !status.success() {
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".into(),
        };
        let stderr = tail_text(err, STDERR_TAIL);
        return ToolAnswer::error(if stderr.is_empty() {
            format!("tool {name} {how}")
        } else {
            format!("tool {name} {how}: {stderr}")
        });
    }
    match serde_json::from_slice(out) {
        Ok(value) => ToolAnswer::ok(value),
        Err(_) => ToolAnswer::error(format!("tool {name} did not print JSON")),
    }
}

/// Writes the input and closes stdin. A program that exits without reading it is fine.
async fn feed(mut stdin: tokio::process::ChildStdin, body: &[u8]) -> Result<(), Failure> {
    match stdin.write_all(body).await {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(()),
    }
}

async fn read_capped(stdout: impl AsyncRead + Unpin) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    let limit = u64::try_from(MAX_STDOUT + 1).unwrap_or(u64::MAX);
    stdout.take(limit).read_to_end(&mut out).await?;
    if out.len() > MAX_STDOUT {
        return Err(Failure::TooLarge);
    }
    Ok(out)
}

/// Reads stderr to the end (a full pipe would block the program), keeping only the tail.
async fn read_tail(mut stderr: impl AsyncRead + Unpin) -> Result<Vec<u8>, Failure> {
    let mut tail = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stderr.read(&mut chunk).await?;
        if n == 0 {
            return Ok(tail);
        }
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > 2 * STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sh(script: &str, names: &[&str]) -> CommandTool {
        let argv = ["sh", "-c", script].map(String::from);
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let env = |var: &str| match var {
            "SHOP_TOKEN" => Some("tok-1234".to_string()),
            "PATH" => std::env::var("PATH").ok(),
            _ => None,
        };
        CommandTool::new("t", &argv, &names, &env).unwrap()
    }

    const SECOND: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn stdin_json_in_stdout_json_out() {
        let tool = sh("cat", &[]);
        let answer = tool.run("t", SECOND, &json!({"order": "A-1"})).await;
        assert_eq!(answer, ToolAnswer::ok(json!({"order": "A-1"})));
    }

    #[tokio::test]
    async fn a_failing_program_shows_its_stderr_tail() {
        let tool = sh(
            "echo starting >&2; head -c 5000 /dev/zero | tr '\\0' x >&2; echo ' order not found' >&2; exit 3",
            &[],
        );
        let answer = tool.run("t", SECOND, &json!({})).await;
        assert_eq!(answer.code, 400);
        let text = answer.output.as_str().unwrap();
        assert!(text.starts_with("tool t exited with status 3: "), "{text}");
        assert!(text.ends_with("x order not found"), "{text}");
        assert!(!text.contains("starting"), "the head of stderr is dropped");
        assert!(text.len() <= 2048 + 40, "{}", text.len());
    }

    #[tokio::test]
    async fn a_slow_program_is_killed_at_the_timeout() {
        let tool = sh("sleep 5", &[]);
        let answer = tool.run("t", Duration::from_secs(1), &json!({})).await;
        assert_eq!(answer, ToolAnswer::error("tool t timed out after 1 s"));
    }

    #[tokio::test]
    async fn output_that_is_not_json_is_an_error() {
        let tool = sh("echo hi", &[]);
        let answer = tool.run("t", SECOND, &json!({})).await;
        assert_eq!(answer, ToolAnswer::error("tool t did not print JSON"));
    }

    #[tokio::test]
    async fn the_environment_is_cleared_except_listed_names() {
        // HOME is set for the test process; the program must not see it.
        let script = r#"printf '{"home":"%s","token":"%s"}' "${HOME-unset}" "${SHOP_TOKEN-unset}""#;
        let cleared = sh(script, &[]).run("t", SECOND, &json!({})).await;
        assert_eq!(
            cleared,
            ToolAnswer::ok(json!({"home": "unset", "token": "unset"}))
        );
        let listed = sh(script, &["SHOP_TOKEN"])
            .run("t", SECOND, &json!({}))
            .await;
        assert_eq!(
            listed,
            ToolAnswer::ok(json!({"home": "unset", "token": "tok-1234"}))
        );
    }

    #[tokio::test]
    async fn output_past_one_mib_is_refused() {
        let tool = sh("head -c 2000000 /dev/zero", &[]);
        let answer = tool.run("t", SECOND, &json!({})).await;
        assert_eq!(answer, ToolAnswer::error("tool t printed more than 1 MiB"));
    }

    #[tokio::test]
    async fn a_missing_program_is_an_answer_not_a_crash() {
        let argv = vec!["/nonexistent/tool".to_string()];
        let tool = CommandTool::new("t", &argv, &[], &|_| None).unwrap();
        let answer = tool.run("t", SECOND, &json!({})).await;
        assert_eq!(answer.code, 400);
        assert!(
            answer
                .output
                .as_str()
                .unwrap()
                .starts_with("tool t could not start")
        );
    }

    #[test]
    fn unset_listed_variables_stop_the_start() {
        let argv = vec!["true".to_string()];
        let err = CommandTool::new("t", &argv, &["NOPE".into()], &|_| None)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "tool t: environment variable NOPE is not set (or not UTF-8)"
        );
    }
}
