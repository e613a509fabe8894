"""server.json for the MCP registry, and the release workflow that publishes everything."""

import hashlib
import json
import shutil
import subprocess
import tarfile
from importlib.resources import files

import jsonschema
import pytest

from conftest import ROOT, only

NAME = "io.github.smooth-mcp/smooth-mcp"


@pytest.fixture()
def lint_dir(dist, tmp_path):
    """server.json beside the package.json npm will publish, as skillsaw expects them."""
    shutil.copy(dist / "server.json", tmp_path / "server.json")
    with tarfile.open(only(dist, "smooth-mcp-[0-9]*.tgz")) as tar:
        (tmp_path / "package.json").write_bytes(tar.extractfile("package/package.json").read())
    return tmp_path


def skillsaw(path):
    return subprocess.run(["skillsaw", "lint", "--type", "mcp-registry", "--no-progress", path],
                          capture_output=True, text=True, timeout=120)


def test_server_json_passes_skillsaw(lint_dir):
    done = skillsaw(lint_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Errors:   0" in done.stdout and "Warnings: 0" in done.stdout


def test_skillsaw_rejects_a_broken_entry(lint_dir):
    # The same files with the npm package's mcpName off by one character, and a package without
    # its transport: what the registry itself would refuse.
    manifest = json.loads((lint_dir / "package.json").read_text())
    manifest["mcpName"] = NAME + "x"
    (lint_dir / "package.json").write_text(json.dumps(manifest))
    server = json.loads((lint_dir / "server.json").read_text())
    del server["packages"][1]["transport"]
    (lint_dir / "server.json").write_text(json.dumps(server))
    done = skillsaw(lint_dir)
    assert done.returncode != 0
    assert "mcp-registry-npm-name-match" in done.stdout
    assert "'transport' is a required property" in done.stdout


def test_server_json_matches_the_registry_schema_and_the_packages(dist, version):
    server = json.loads((dist / "server.json").read_text())
    assert server["$schema"] == "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
    # The schema skillsaw bundles (copied from the registry's static site).
    schema = json.loads(files("skillsaw.schemas.mcp_registry.v2025_12_11").joinpath("server.schema.json").read_text())
    jsonschema.validate(server, schema)
    assert server["name"] == NAME
    packages = {p["registryType"]: p for p in server["packages"]}
    assert set(packages) == {"npm", "pypi", "mcpb"}
    assert packages["npm"]["identifier"] == packages["pypi"]["identifier"] == "smooth-mcp"
    bundle = only(dist, "*.mcpb")
    assert packages["mcpb"]["identifier"] == (
        f"https://github.com/smooth-mcp/smooth-mcp/releases/download/v{version}/{bundle.name}")
    assert packages["mcpb"]["fileSha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
    for package in server["packages"]:
        key = next(v for v in package["environmentVariables"] if v["name"] == "SMOOTH_API_KEY")
        assert key["isSecret"] and key["isRequired"]


def test_release_workflow_passes_zizmor():
    done = subprocess.run(
        ["zizmor", "--offline", "--persona", "pedantic", ROOT / ".github" / "workflows" / "release.yml"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
