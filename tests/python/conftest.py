"""Shared fixtures: the smooth-mcp binary, and a mock Smooth API on a free port."""

from pathlib import Path

import pytest
from helpers import BIN, mock_api


@pytest.fixture(scope="session")
def bin_path() -> str:
    if not Path(BIN).exists():
        pytest.fail(f"{BIN} does not exist: run `cargo build` first or set SMOOTH_MCP_BIN")
    return BIN


@pytest.fixture()
def mock_url(bin_path):
    """`smooth-mcp mock` on a free port; yields its API base URL."""
    with mock_api(bin_path) as url:
        yield url
