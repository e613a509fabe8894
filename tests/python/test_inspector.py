"""An independent client: the MCP Inspector CLI (TypeScript SDK), and its `--strict`
tool-schema lint, which flags what strict hosts reject (errors: bare `true` sub-schemas) and
what is less portable (warnings: `type` arrays, schemas with no keyword). We require 0 and 0,
for the default tool set and `--toolsets all`, over stdio and Streamable HTTP.

`.ci/run` installs it under target/node-tests (pinned by tests/node/package-lock.json); the
tests are skipped only when it is not installed and this is not CI (a developer running
pytest by hand without it)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT, free_port, minimal_env, serving

INSPECTOR = Path(
    os.environ.get("SMOOTH_MCP_INSPECTOR", ROOT / "target" / "node-tests" / "node_modules" / ".bin" / "mcp-inspector")
)

pytestmark = pytest.mark.skipif(
    not INSPECTOR.exists() and not os.environ.get("CI"),
    reason="MCP Inspector not installed (see .ci/run)",
)


def inspector(bin_path, *args):
    done = subprocess.run(
        [str(INSPECTOR), "--cli", bin_path, "--mock", "--mcp-tasks", "off", *args, "--format", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_inspector_lists_tools_and_runs_a_task(bin_path):
    code, listed, err = inspector(bin_path, "--method", "tools/list")
    assert code == 0, err
    names = {t["name"] for t in listed["result"]["tools"]}
    assert {"run_browser_task", "get_task", "session_action"} <= names

    code, result, err = inspector(
        bin_path,
        "--method", "tools/call",
        "--tool-name", "run_browser_task",
        "--tool-args-json", json.dumps({"task": "inspected [mock:duration=500ms]", "wait_seconds": 20}),
    )
    assert code == 0, err
    assert result["result"]["structuredContent"]["status"] == "done"


def test_inspector_sees_bad_input_as_a_tool_error(bin_path):
    code, result, err = inspector(
        bin_path,
        "--method", "tools/call",
        "--tool-name", "session_action",
        "--tool-args-json", json.dumps({"session_id": "s", "action": "goto"}),
    )
    # Exit code 5 is the inspector's "tool error".
    assert code == 5, (code, err)
    assert result["result"]["isError"] is True
    assert "needs `url`" in result["result"]["content"][0]["text"]


def _strict_tools_list(target: list[str]) -> tuple[int, list[str], str]:
    """`tools/list --strict` against `target`; returns the exit code, one line per finding, stderr."""
    done = subprocess.run(
        [str(INSPECTOR), "--cli", *target, "--method", "tools/list", "--strict", "--format", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    assert "result" in report, (done.returncode, done.stdout, done.stderr)
    findings = [
        f"{f['severity']} [{f['rule']}] {tool['toolName']} {f['schema']}.{f['path']}: {f['issue'].split('. ')[0]}"
        for tool in report.get("schemaFindings", [])
        for f in tool["findings"]
    ]
    return done.returncode, findings, done.stderr


def _require_no_findings(code: int, findings: list[str], err: str) -> None:
    if findings:
        findings = sorted(findings, key=lambda f: not f.startswith("error"))
        pytest.fail(f"--strict: {len(findings)} finding(s), 0 required:\n" + "\n".join(findings), pytrace=False)
    assert code == 0, err


TOOLSETS = {"default": [], "all": ["--toolsets", "all"]}


@pytest.mark.parametrize("toolsets", TOOLSETS)
def test_strict_lint_over_stdio(bin_path, toolsets):
    code, findings, err = _strict_tools_list([bin_path, "--mock", *TOOLSETS[toolsets]])
    _require_no_findings(code, findings, err)


@pytest.mark.parametrize("toolsets", TOOLSETS)
def test_strict_lint_over_http(bin_path, toolsets):
    port = free_port()
    args = [bin_path, "--mock", "--transport", "http", "--listen", f"127.0.0.1:{port}", *TOOLSETS[toolsets]]
    with serving(args, f"http://127.0.0.1:{port}/healthz", minimal_env()):
        code, findings, err = _strict_tools_list(["--server-url", f"http://127.0.0.1:{port}/mcp"])
    _require_no_findings(code, findings, err)
