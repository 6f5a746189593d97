"""server.json (the MCP registry entry) stays publishable and true to the package: the registry's own
limits (its server.schema.json, 2025-09-29: name pattern, description and title at most 100 characters,
a pinned package version) and our facts (the version we ship, settings that exist, their defaults)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from gigstack_mcp import __version__
from gigstack_mcp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ENTRY = json.loads((ROOT / "server.json").read_text("utf-8"))


def test_registry_limits():
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", ENTRY["name"])
    assert 1 <= len(ENTRY["description"]) <= 100 and 1 <= len(ENTRY["title"]) <= 100
    for package in ENTRY["packages"]:
        assert package["registryType"] == "pypi" and package["transport"] == {"type": "stdio"}
        assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"])  # pinned: no ranges, no "latest"
        assert all(e["name"] and e["description"] for e in package.get("environmentVariables", []))


def test_versions_and_settings_match_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert ENTRY["version"] == project["version"] == __version__
    (package,) = ENTRY["packages"]
    assert package["identifier"] == project["name"] and package["version"] == project["version"]
    fields = Settings.model_fields
    for env in package["environmentVariables"]:
        name = env["name"].removeprefix("GIGSTACK_").lower()
        assert name in fields, f"{env['name']} is not a setting"
        if "default" in env:
            default = fields[name].default
            assert env["default"] == (str(default).lower() if isinstance(default, bool) else str(default))
