"""The npm packages: the launcher and this platform's binary package, installed from their
tarballs into an empty prefix (offline) and run with npx, as `npx -y smooth-mcp` runs them."""

import json
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import DEFAULT_TOOLS, initialize_and_list, only
from helpers import minimal_env

# npm must take everything from the tarballs: a registry lookup would fail the install.
NPM_ENV = {"npm_config_offline": "true", "npm_config_audit": "false", "npm_config_fund": "false",
           "npm_config_update_notifier": "false"}
HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize",
     "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "ping"},
]


def npm_install(prefix: Path, *tarballs: Path, omit_optional=False) -> None:
    prefix.mkdir()
    args = ["npm", "install", "--prefix", str(prefix), *map(str, tarballs)]
    if omit_optional:
        args.append("--omit=optional")
    subprocess.run(args, check=True, env=minimal_env(**NPM_ENV), capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def prefix(dist, tmp_path_factory) -> Path:
    """An empty prefix with both tarballs installed, as `npx -y smooth-mcp` leaves its cache."""
    path = tmp_path_factory.mktemp("npm") / "prefix"
    npm_install(path, only(dist, "smooth-mcp-linux-x64-*.tgz"), only(dist, "smooth-mcp-[0-9]*.tgz"))
    return path


def test_launcher_manifest(dist, version):
    with tarfile.open(only(dist, "smooth-mcp-[0-9]*.tgz")) as tar:
        manifest = json.load(tar.extractfile("package/package.json"))
        names = sorted(tar.getnames())
    assert manifest["mcpName"] == "io.github.smooth-mcp/smooth-mcp"
    assert manifest["bin"] == {"smooth-mcp": "bin/smooth-mcp.js"}
    # No install script: nothing runs, nothing is downloaded at install time.
    assert not {"preinstall", "install", "postinstall"} & set(manifest.get("scripts", {}))
    assert set(manifest["optionalDependencies"].values()) == {version}
    assert names == ["package/README.md", "package/bin/smooth-mcp.js", "package/package.json"]


def test_platform_package_manifest(dist):
    with tarfile.open(only(dist, "smooth-mcp-linux-x64-*.tgz")) as tar:
        manifest = json.load(tar.extractfile("package/package.json"))
        binary = tar.getmember("package/bin/smooth-mcp")
    assert (manifest["name"], manifest["os"], manifest["cpu"]) == ("@smooth-mcp/linux-x64", ["linux"], ["x64"])
    assert "bin" not in manifest
    assert binary.mode & 0o111


async def test_npx_runs_the_installed_server(prefix, version):
    info, tools = await initialize_and_list("npx", ["-y", "smooth-mcp", "--mock"], minimal_env(**NPM_ENV), cwd=prefix)
    assert (info.name, info.version) == ("smooth-mcp", version)
    assert tools == DEFAULT_TOOLS


def test_arguments_and_exit_code_pass_through(prefix, version):
    launcher = prefix / "node_modules" / ".bin" / "smooth-mcp"
    done = subprocess.run([launcher, "--version"], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout.strip()) == (0, f"smooth-mcp {version}")
    done = subprocess.run([launcher, "--no-such-flag"], capture_output=True, text=True, timeout=30)
    # clap's usage error, exactly as the binary gives it.
    assert done.returncode == 2 and "--no-such-flag" in done.stderr


def running_server(prefix: Path) -> tuple[subprocess.Popen, int]:
    """The launcher with a live server behind it (it answered initialize and ping), and the
    server's pid."""
    proc = subprocess.Popen(
        [prefix / "node_modules" / ".bin" / "smooth-mcp", "--mock"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=minimal_env(),
    )
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in HANDSHAKE))
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["result"]["serverInfo"]["name"] == "smooth-mcp"
    assert json.loads(proc.stdout.readline()) == {"jsonrpc": "2.0", "id": 2, "result": {}}
    (child,) = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return proc, int(child)


def gone(pid: int) -> bool:
    """True once the process has exited and been reaped (or is a zombie nobody waits for)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_sigterm_reaches_the_server(prefix):
    proc, child = running_server(prefix)
    proc.send_signal(signal.SIGTERM)
    # The launcher ends as the server did: with its code after a graceful shutdown, or by the
    # same signal if it came before the server handles SIGTERM (it does once the MCP handshake
    # is over, which this client cannot observe). Either way the server got the signal and is
    # gone: without forwarding, it would live on, its stdin still open.
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    assert gone(child)


def test_a_server_killed_by_a_signal_kills_the_launcher_the_same_way(prefix):
    proc, child = running_server(prefix)
    subprocess.run(["kill", "-KILL", str(child)], check=True)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def test_missing_platform_package_is_a_clear_error(dist, tmp_path):
    prefix = tmp_path / "prefix"
    npm_install(prefix, only(dist, "smooth-mcp-[0-9]*.tgz"), omit_optional=True)
    done = subprocess.run([prefix / "node_modules" / ".bin" / "smooth-mcp", "--mock"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "@smooth-mcp/linux-x64" in done.stderr and "--omit=optional" in done.stderr
    assert done.stdout == ""


def test_unsupported_platform_is_a_clear_error(prefix, tmp_path):
    # Node on a machine no package is built for, simulated by changing process.arch first.
    preload = tmp_path / "mips.cjs"
    preload.write_text('Object.defineProperty(process, "arch", { value: "mips" });\n')
    launcher = prefix / "node_modules" / "smooth-mcp" / "bin" / "smooth-mcp.js"
    done = subprocess.run(["node", "--require", preload, launcher], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "no prebuilt binary for linux-mips" in done.stderr and "cargo install --git" in done.stderr
    # The platforms it names are the launcher's optionalDependencies.
    assert "linux-x64, linux-arm64, darwin-arm64, darwin-x64, win32-x64" in done.stderr


def test_setup_through_npx_writes_an_npx_entry(dist, tmp_path):
    """`npx smooth-mcp setup …` runs the binary from npx's cache: the entry must start npx,
    not that path, which npm may clear."""
    home = tmp_path / "home"
    home.mkdir()
    env = minimal_env(**NPM_ENV, HOME=str(home), npm_config_cache=str(tmp_path / "npm-cache"))
    run = subprocess.run(
        ["npx", "--yes", f"--package={only(dist, 'smooth-mcp-linux-x64-*.tgz')}",
         f"--package={only(dist, 'smooth-mcp-[0-9]*.tgz')}", "smooth-mcp", "setup", "cursor", "--mock"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "you ran setup through npx" in run.stdout
    entry = json.loads((home / ".cursor" / "mcp.json").read_text())["mcpServers"]["smooth"]
    assert entry["command"] == "npx"
    assert entry["args"] == ["-y", "smooth-mcp", "--mock"]
