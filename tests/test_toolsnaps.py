"""Tool snapshots: `tests/__toolsnaps__/<tool>.json` holds exactly what `tools/list` sends for each tool
(name, title, description, inputSchema, outputSchema, annotations), so any change to what a model sees
shows up in review. After an intended change, refresh them:

    UPDATE_TOOLSNAPS=1 python -m pytest tests/test_toolsnaps.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import anyio
from mcp import Client

from gigstack_mcp.server import build_server
from gigstack_mcp.settings import Settings

SNAPS = Path(__file__).parent / "__toolsnaps__"
UPDATE = os.environ.get("UPDATE_TOOLSNAPS", "").lower() in {"1", "true", "yes"}
HOW = "Rerun with UPDATE_TOOLSNAPS=1 to accept the change (then review the diff of tests/__toolsnaps__/)."


def listed_tools() -> dict[str, dict]:
    """Every tool as a real in-memory MCP session lists it (toolsets=all)."""

    async def go() -> dict[str, dict]:
        async with Client(build_server(Settings(sandbox=True, toolsets="all"))) as client:
            result = await client.list_tools()
        return {t.name: t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in result.tools}

    return anyio.run(go)


def render(tool: dict) -> str:
    return json.dumps(tool, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def test_tool_snapshots_match() -> None:
    tools = listed_tools()
    assert tools, "no tools registered"
    if UPDATE:
        SNAPS.mkdir(exist_ok=True)
        for name, tool in tools.items():
            (SNAPS / f"{name}.json").write_text(render(tool), "utf-8")
        for stale in SNAPS.glob("*.json"):
            if stale.stem not in tools:
                stale.unlink()
        return
    problems, missing = [], []
    for name, tool in tools.items():
        snap = SNAPS / f"{name}.json"
        if not snap.exists():
            missing.append(name)
            continue
        if json.loads(snap.read_text("utf-8")) != tool:
            diff = difflib.unified_diff(
                snap.read_text("utf-8").splitlines(),
                render(tool).splitlines(),
                f"{name}.json (snapshot)",
                f"{name} (tools/list now)",
                lineterm="",
                n=1,
            )
            problems.append(f"{name}: differs from its snapshot\n" + "\n".join(list(diff)[:40]))
    if missing:
        problems.append(f"no snapshot in tests/__toolsnaps__/ for: {', '.join(missing)}")
    for snap in sorted(SNAPS.glob("*.json")):
        if snap.stem not in tools:
            problems.append(f"{snap.stem}: snapshot of a tool that no longer exists")
    assert not problems, "\n\n".join(problems) + "\n\n" + HOW
