"""Shared fixtures: the smooth-mcp binary, and a mock Smooth API on a free port."""

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bin_path() -> str:
    path = os.environ.get("SMOOTH_MCP_BIN", str(ROOT / "target" / "debug" / "smooth-mcp"))
    if not Path(path).exists():
        pytest.fail(f"{path} does not exist: run `cargo build` first or set SMOOTH_MCP_BIN")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def mock_url(bin_path):
    """`smooth-mcp mock` on a free port; yields its API base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [bin_path, "mock", "--listen", f"127.0.0.1:{port}", "--run-seconds", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{base}/_mock/requests", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"mock did not start: {proc.stderr.read()!r}")
            time.sleep(0.05)
    yield f"{base}/api/v1"
    proc.terminate()
    proc.wait(timeout=10)
