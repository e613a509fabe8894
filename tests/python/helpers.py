"""Process helpers shared by the interop tests: free ports, waiting for a server, stopping it."""

import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("SMOOTH_MCP_BIN", str(ROOT / "target" / "debug" / "smooth-mcp"))
STARTUP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def minimal_env(**extra: str) -> dict[str, str]:
    """What a stdio host passes: a minimal environment plus the configured variables."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        # A task's files go to the temporary directory, never into the checkout.
        "SMOOTH_MCP_DOWNLOADS_DIR": os.path.join(tempfile.gettempdir(), "smooth-mcp-test-downloads"),
    }
    env.update(extra)
    return env


def wait_http(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serving(args: list[str], ready_url: str, env: dict[str, str] | None = None, stderr=subprocess.DEVNULL):
    """Runs a server process until the block ends, once `ready_url` answers 200."""
    proc = subprocess.Popen(args, env=env or minimal_env(), stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_http(ready_url, proc)
        yield proc
    finally:
        stop(proc)


@contextmanager
def mock_api(bin_path: str):
    """`smooth-mcp mock` on a free port; yields its API base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving([bin_path, "mock", "--listen", f"127.0.0.1:{port}", "--run-seconds", "1"], f"{base}/_mock/requests"):
        yield f"{base}/api/v1"
