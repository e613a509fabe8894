"""The client configurations in manifests/ are valid and start the server as written."""

import json
import subprocess

import pytest

from helpers import ROOT

MANIFESTS = ROOT / "manifests"
CONFIGS = {
    "claude_desktop_config.json": "mcpServers",
    "claude_code.mcp.json": "mcpServers",
    "cursor.mcp.json": "mcpServers",
    "vscode.mcp.json": "servers",
}


@pytest.mark.parametrize("name,key", CONFIGS.items())
def test_manifest_starts_the_server(bin_path, name, key):
    config = json.loads((MANIFESTS / name).read_text())
    entry = config[key]["smooth"]
    assert entry["command"] == "smooth-mcp"
    assert "SMOOTH_API_KEY" in entry["env"]
    # The arguments as configured are accepted by the binary.
    done = subprocess.run([bin_path, *entry["args"], "--help"], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    if key == "servers":
        ref = entry["env"]["SMOOTH_API_KEY"]
        ids = {i["id"] for i in config["inputs"]}
        assert ref.startswith("${input:") and ref[len("${input:"):-1] in ids
