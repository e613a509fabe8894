"""The runnable examples in examples/ keep working."""

import subprocess
import sys

from helpers import ROOT

EXAMPLES = ROOT / "examples"


def test_quickstart_runs_a_task_and_a_session(bin_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), bin_path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "connected to smooth-mcp" in out
    assert "'status': 'done'" in out
    for action in ("evaluate_js:", "extract:", "run_task:", "close:"):
        assert action in out, out
