"""scripts/dist itself: its bundle-only mode (the release's bundle job), and its check failing
when a manifest drifts from Cargo.toml or from the binary's tools."""

import json
import shutil
import subprocess
import zipfile
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

from conftest import ROOT

# scripts/dist has no .py suffix, so it is loaded by path.
_loader = SourceFileLoader("dist_script", str(ROOT / "scripts" / "dist"))
dist_script = module_from_spec(spec_from_loader("dist_script", _loader))
_loader.exec_module(dist_script)


@pytest.fixture()
def built(dist, tmp_path) -> Path:
    """A copy of the manifests scripts/dist wrote, to spoil."""
    copy = tmp_path / "dist"
    for name in ("npm/smooth-mcp/package.json", "mcpb/manifest.json", "server.json"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dist / name, copy / name)
    return copy


def binary(dist: Path) -> Path:
    return dist / "mcpb" / "server" / "linux" / "smooth-mcp"


def test_check_passes_on_what_dist_built(built, dist, version, capsys):
    dist_script.check(version, built, binary(dist))
    assert "every package names version" in capsys.readouterr().out


def test_check_names_every_manifest_with_another_version(built):
    with pytest.raises(SystemExit) as stop:
        dist_script.check("9.9.9", built, None)
    for where in ("npm/smooth-mcp/package.json", "npm/platform/package.json", "mcpb/manifest.json",
                  "server.json version", "server.json npm package", "server.json mcpb package"):
        assert where in str(stop.value)


def test_check_fails_when_the_bundle_lists_other_tools(built, dist, version):
    manifest = json.loads((built / "mcpb" / "manifest.json").read_text())
    manifest["tools"] = manifest["tools"][1:]
    (built / "mcpb" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SystemExit) as stop:
        dist_script.check(version, built, binary(dist))
    assert "manifest.json tools" in str(stop.value)


def test_bundle_only_mode(dist, tmp_path, version):
    out = tmp_path / "bundle"
    done = subprocess.run(
        [ROOT / "scripts" / "dist", "--out", out, "--bundle-binary", f"linux={binary(dist)}"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "every package names version" in done.stdout
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["server.json", f"smooth-mcp-{version}.mcpb"]
    with zipfile.ZipFile(out / f"smooth-mcp-{version}.mcpb") as bundle:
        assert sorted(bundle.namelist()) == ["manifest.json", "server/linux/smooth-mcp"]
