"""The Claude Desktop bundle: validated and unpacked with the official mcpb CLI, then started
the way Claude Desktop starts an installed bundle, with a user's settings applied."""

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import only
from helpers import minimal_env, mock_api

USER_CONFIG = {"api_key": "cmzr-bundle-key", "toolsets": "core,files"}


@pytest.fixture(scope="module")
def unpacked(dist, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mcpb") / "smooth-mcp"
    subprocess.run(["mcpb", "unpack", only(dist, "*.mcpb"), path], check=True, capture_output=True)
    return path


def server_config(manifest: dict, bundle_dir: Path, user_config: dict) -> dict:
    """The command, args and env Claude Desktop derives from an installed bundle: the
    platform's override, then `${__dirname}` and `${user_config.KEY}` (the user's value, else
    the manifest's default, as text) substituted. (List-valued settings, which expand into
    several arguments, are left out: the manifest has none.)"""
    config = dict(manifest["server"]["mcp_config"])
    config.update(config.pop("platform_overrides", {}).get(sys.platform, {}))
    values = {"__dirname": str(bundle_dir)}
    for key, option in manifest.get("user_config", {}).items():
        value = user_config.get(key, option.get("default"))
        if option.get("required"):
            assert value not in (None, ""), f"Claude Desktop would not start it without {key}"
        if value is not None:
            assert not isinstance(value, (list, bool)), f"{key}: substitution not modelled here"
            values[f"user_config.{key}"] = str(value)

    def substitute(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

    return {
        "command": substitute(config["command"]),
        "args": [substitute(a) for a in config.get("args", [])],
        "env": {k: substitute(v) for k, v in config.get("env", {}).items()},
    }


def test_manifest_validates(unpacked):
    done = subprocess.run(["mcpb", "validate", unpacked / "manifest.json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bundle_holds_the_binary_for_this_platform(unpacked, version):
    manifest = json.loads((unpacked / "manifest.json").read_text())
    assert manifest["version"] == version
    assert manifest["server"]["type"] == "binary"
    assert manifest["compatibility"]["platforms"] == ["linux"]
    assert manifest["user_config"]["api_key"]["sensitive"] is True
    entry = unpacked / manifest["server"]["entry_point"]
    assert entry.is_file() and entry.stat().st_mode & 0o111


async def test_started_as_claude_desktop_starts_it(unpacked, tmp_path, version):
    manifest = json.loads((unpacked / "manifest.json").read_text())
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "invoice.txt").write_text("total: 42\n")
    (tmp_path / "elsewhere.txt").write_text("not for the agent\n")
    config = server_config(manifest, unpacked, {**USER_CONFIG, "upload_directory": str(uploads)})
    assert config["env"]["SMOOTH_MCP_MAX_STEPS_CAP"] == "128"  # the manifest's default

    with mock_api(config["command"]) as base_url:
        # What Claude Desktop passes, plus only the mock's address in place of Smooth's.
        env = minimal_env(**config["env"], SMOOTH_BASE_URL=base_url)
        params = StdioServerParameters(command=config["command"], args=config["args"], env=env)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.server_info.version == version
                tools = {t.name for t in (await session.list_tools()).tools}
                # toolsets = "core,files": no profile tools.
                assert "upload_file" in tools and "create_profile" not in tools
                ok = await session.call_tool("upload_file", {"path": str(uploads / "invoice.txt")})
                assert not ok.is_error, ok.content
                refused = await session.call_tool("upload_file", {"path": str(tmp_path / "elsewhere.txt")})
                assert refused.is_error
        requests = json.load(urllib.request.urlopen(base_url.replace("/api/v1", "/_mock/requests")))
    # The key the user typed into Claude Desktop is the one Smooth received.
    assert {r["apikey"] for r in requests} == {USER_CONFIG["api_key"]}
