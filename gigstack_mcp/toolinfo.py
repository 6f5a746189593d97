"""`gigstack-mcp tools`: every tool with its toolset, kind and schema size (the context it costs)."""

from __future__ import annotations

import json

from .registry import build_tool, select


def tool_sizes(toolsets: str = "all") -> list[dict]:
    rows = []
    for spec in select(toolsets):
        tool = build_tool(spec)
        wire = {
            "name": tool.name,
            "title": tool.title,
            "description": tool.description,
            "inputSchema": tool.parameters,
            "outputSchema": tool.output_schema,
            "annotations": tool.annotations.model_dump(by_alias=True, exclude_none=True)
            if tool.annotations
            else None,
        }
        rows.append(
            {
                "name": spec.name,
                "toolset": spec.toolset,
                "kind": spec.kind.value,
                "chars": len(json.dumps(wire)),
            }
        )
    return rows


def print_tools(toolsets: str = "all", as_json: bool = False) -> None:
    rows = tool_sizes(toolsets)
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['toolset']:<9} {r['kind']:<11} {r['chars']:>6} chars")
    print(f"{len(rows)} tools, {sum(r['chars'] for r in rows)} chars of schema")
