"""The wheel: installed with pip into a fresh venv, and run with uvx, as its users would."""

import json
import shutil
import subprocess
import sys
import zipfile

from conftest import DEFAULT_TOOLS, initialize_and_list, only
from helpers import minimal_env


def test_wheel_metadata_names_the_server_for_the_registry(dist, version):
    wheel = only(dist, "smooth_mcp-*.whl")
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(f"smooth_mcp-{version}.dist-info/METADATA").decode()
        scripts = [n for n in z.namelist() if ".data/scripts/" in n]
    assert f"Version: {version}" in metadata.splitlines()
    # The MCP registry accepts the PyPI package only if its README carries this line.
    assert "mcp-name: io.github.smooth-mcp/smooth-mcp" in metadata.splitlines()
    assert scripts == [f"smooth_mcp-{version}.data/scripts/smooth-mcp"]


async def test_pip_install_into_a_fresh_venv(dist, version, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    # pip from this venv installs into the fresh one; nothing comes from an index.
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
         "--no-index", "--disable-pip-version-check", only(dist, "smooth_mcp-*.whl")],
        check=True,
    )
    info, tools = await initialize_and_list(str(venv / "bin" / "smooth-mcp"), ["--mock"], minimal_env())
    assert (info.name, info.version) == ("smooth-mcp", version)
    assert tools == DEFAULT_TOOLS


async def test_uvx_runs_the_wheel(dist, version, tmp_path):
    uvx = shutil.which("uvx")
    assert uvx, "uvx is installed by tests/packaging/requirements.txt"
    env = minimal_env(UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_OFFLINE="1", UV_NO_CONFIG="1")
    wheel = only(dist, "smooth_mcp-*.whl")
    info, tools = await initialize_and_list(uvx, ["--from", str(wheel), "smooth-mcp", "--mock"], env)
    assert info.version == version
    assert tools == DEFAULT_TOOLS


def test_setup_through_uvx_writes_a_uvx_entry(dist, tmp_path):
    """Run through uvx, the binary sits in uv's cache: the entry must start uvx, not that path."""
    home = tmp_path / "home"
    home.mkdir()
    env = minimal_env(HOME=str(home), UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_OFFLINE="1",
                      UV_NO_CONFIG="1")
    wheel = only(dist, "smooth_mcp-*.whl")
    run = subprocess.run(
        [shutil.which("uvx"), "--from", str(wheel), "smooth-mcp", "setup", "cursor", "--mock"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "you ran setup through uvx" in run.stdout
    entry = json.loads((home / ".cursor" / "mcp.json").read_text())["mcpServers"]["smooth"]
    assert entry["command"] == "uvx"
    assert entry["args"] == ["smooth-mcp", "--mock"]
