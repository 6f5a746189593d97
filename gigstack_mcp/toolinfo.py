"""What the tools cost and look like: `gigstack-mcp tools` (each tool's toolset, kind and schema size),
`python -m gigstack_mcp.toolinfo --markdown` (the README's tool table), and the start-up tool cache.

The start-up cache: building every tool (pydantic models and JSON schemas for ~50 tools, plus importing
their modules) costs more than the SDK's own start-up. So the first start after any change to the
package builds the tools and writes what `tools/list` sends to a small JSON file; later starts list the
tools from that file and build each one for real on its first call. The file records what the tools
were built from (every package module loaded then, the catalog data, their folders: size and mtime)
and is per checkout and per Python/pydantic/mcp install, so a stale entry is never used.
`GIGSTACK_TOOL_CACHE=off` disables it; `GIGSTACK_TOOL_CACHE=<dir>` moves it (default
`$XDG_CACHE_HOME/gigstack-mcp`, i.e. `~/.cache/gigstack-mcp`).

A process builds each tool once (`built`), whatever the number of servers it makes (the test suite
makes hundreds): a built tool depends on its spec alone; settings and state reach it through the call."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools import Tool

    from .registry import ToolSpec
    from .settings import Settings

CACHE_FORMAT = 2
log = logging.getLogger("gigstack_mcp.toolinfo")
PACKAGE = Path(__file__).parent
# When this process loaded the package (server.py imports this module at start-up). A source file
# changed after that may differ from what this process has in memory: then the cache is neither used
# nor written by this process (a long test session while someone edits, say), only by a fresh one.
LOADED_AT = time.time_ns()


def wire(tool: Tool) -> dict[str, Any]:
    """Exactly what `tools/list` sends for this tool."""
    from mcp.types import Tool as MCPTool

    return MCPTool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.parameters,
        output_schema=tool.output_schema,
        annotations=tool.annotations,
        icons=tool.icons,
        _meta=tool.meta,
    ).model_dump(mode="json", by_alias=True, exclude_none=True)


def sent_chars(tools: list[dict[str, Any]]) -> int:
    """Characters of a `tools/list` answer's tools as the server sends them: `{"tools":[...]}` with each
    tool in the SDK's own JSON (compact, UTF-8 text), as the stdio and HTTP transports write it
    (model_dump_json); the era-specific fields around it (ttlMs, cacheScope…) are not counted. Until
    issue 13 the budget counted `json.dumps` defaults, with spaces and `\u00e9` escapes: ~8% more."""
    return len('{"tools":[]}') + sum(_sent_tool_chars(t) for t in tools) + max(len(tools) - 1, 0)


def tool_sizes(toolsets: str = "all") -> list[dict]:
    from .registry import build_tool
    from .tools import select

    rows = []
    for spec in select(toolsets):
        rows.append(
            {
                "name": spec.name,
                "toolset": spec.toolset,
                "kind": spec.kind.value,
                "chars": _sent_tool_chars(wire(build_tool(spec))),
            }
        )
    return rows


def _sent_tool_chars(tool: dict[str, Any]) -> int:
    """One tool's characters as sent inside `tools/list` (see sent_chars)."""
    from mcp.types import Tool as MCPTool

    return len(MCPTool.model_validate(tool).model_dump_json(by_alias=True, exclude_none=True))


def print_tools(toolsets: str = "all", as_json: bool = False, before: str | None = None) -> None:
    """Each tool's size; with `before` (an earlier `--json` output), its size then too, and the change."""
    rows = tool_sizes(toolsets)
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    then = {r["name"]: r["chars"] for r in json.loads(Path(before).read_text("utf-8"))} if before else None
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        line = f"{r['name']:<{width}}  {r['toolset']:<9} {r['kind']:<11} {r['chars']:>6} chars"
        if then is not None:
            old = then.get(r["name"])
            line += f"  (before {old:>6}, {r['chars'] - old:+d})" if old is not None else "  (new)"
        print(line)
    total = sum(r["chars"] for r in rows)
    summary = f"{len(rows)} tools, {total} chars of schema"
    if then is not None:
        summary += f" (before: {len(then)} tools, {sum(then.values())} chars)"
    print(summary)


def markdown() -> str:
    """The README's tool table: every toolset (marked when on by default) and its tools."""
    from .registry import DEFAULT_TOOLSETS
    from .tools import all_toolsets

    out = []
    for ts in all_toolsets().values():
        default = " (default)" if ts.name in DEFAULT_TOOLSETS else ""
        out += [f"**{ts.name}**{default}: {ts.description}", "", "| Tool | Kind | Title |", "|---|---|---|"]
        out += [f"| `{s.name}` | {s.kind.value} | {s.title} |" for s in ts.specs]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# -- the start-up tool cache ------------------------------------------------------------------------


def _cache_dir() -> Path | None:
    where = os.environ.get("GIGSTACK_TOOL_CACHE", "").strip()
    if where.lower() in {"0", "off", "false", "no"}:
        return None
    if where:
        return Path(where)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gigstack-mcp"


def _cache_path(folder: Path) -> Path:
    """One file per checkout and per Python/pydantic/mcp install."""
    import mcp
    import mcp_types
    import pydantic
    import pydantic_core

    key = [CACHE_FORMAT, sys.version, pydantic.VERSION, pydantic_core.__version__, str(PACKAGE.resolve())]
    for mod in (mcp, mcp_types):
        st = os.stat(mod.__file__ or "")
        key += [mod.__file__, st.st_size, st.st_mtime_ns]
    return folder / f"tools-{hashlib.sha256(repr(key).encode()).hexdigest()[:16]}.json"


def _deps() -> dict[str, list[int]]:
    """What the tool schemas were built from: every gigstack_mcp module loaded now, every catalog data
    file, and the folders they sit in (a folder's mtime changes when a file is added or removed)."""
    files = {
        Path(m.__file__)
        for name, m in list(sys.modules.items())
        if (name == "gigstack_mcp" or name.startswith("gigstack_mcp.")) and getattr(m, "__file__", None)
    }
    files |= set((PACKAGE / "catalogs").rglob("*.json"))
    paths = files | {f.parent for f in files}
    out = {}
    for path in sorted(paths):
        st = os.stat(path)
        out[str(path.relative_to(PACKAGE))] = [st.st_size if path.is_file() else 0, st.st_mtime_ns]
    return out


def _fresh(deps: dict[str, list[int]]) -> bool:
    """Every file is as recorded, and older than this process's copy of the package."""
    try:
        for rel, (size, mtime) in deps.items():
            st = os.stat(PACKAGE / rel)
            if st.st_mtime_ns != mtime or (size and st.st_size != size) or mtime >= LOADED_AT:
                return False
    except OSError:
        return False
    return True


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not _fresh(data.get("deps", {})):
        return None
    return data


def _write_cache(path: Path, specs: list[ToolSpec], tools: list[Tool]) -> None:
    from .tools import all_toolsets

    deps = _deps()
    if not _fresh(deps):
        return  # a source changed since this process loaded it: leave the cache to a fresh process
    data = {
        "format": CACHE_FORMAT,
        "deps": deps,
        "toolsets": list(all_toolsets()),
        "tools": [
            {"name": s.name, "toolset": s.toolset, "kind": s.kind.value, "wire": wire(t)}
            for s, t in zip(specs, tools, strict=True)
        ],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: just build every time


class _Row:
    __slots__ = ("kind", "name", "toolset", "wire")

    def __init__(self, entry: dict[str, Any]) -> None:
        self.name, self.toolset, self.kind, self.wire = (
            entry["name"],
            entry["toolset"],
            entry["kind"],
            entry["wire"],
        )


def _cached_tool(row: _Row) -> Tool:
    from mcp.types import ToolAnnotations

    w = row.wire
    tool = _lazy_tool_class().model_construct(
        fn=_not_built,
        name=w["name"],
        title=w.get("title"),
        description=w.get("description", ""),
        parameters=w["inputSchema"],
        annotations=ToolAnnotations.model_validate(w["annotations"]) if "annotations" in w else None,
        is_async=True,
        context_kwarg=None,
    )
    tool.__dict__["output_schema"] = w.get("outputSchema")
    return tool


async def _not_built(**kwargs: Any) -> Any:  # never called: CachedTool.run builds the real tool
    raise RuntimeError("cached tool called without being built")


_LAZY: Any = None


def _lazy_tool_class() -> Any:
    global _LAZY
    if _LAZY is None:
        from mcp.server.mcpserver.exceptions import ToolError
        from mcp.server.mcpserver.tools import Tool
        from pydantic import PrivateAttr

        class CachedTool(Tool):
            """Listed from the start-up cache; built for real (registry.build_tool) on first use."""

            _real: Any = PrivateAttr(None)

            def real(self) -> Tool:
                if self._real is None:
                    from .tools import all_toolsets

                    spec = next(
                        (s for t in all_toolsets().values() for s in t.specs if s.name == self.name), None
                    )
                    if spec is None:
                        raise ToolError(f"Unknown tool: {self.name}")
                    self._real = built(spec)
                return self._real

            async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
                return await self.real().run(arguments, context, convert_result=convert_result)

            def __getattr__(self, item: str) -> Any:  # fields only the built tool has (fn_metadata, ...)
                if item.startswith("_"):
                    return super().__getattr__(item)  # type: ignore[misc]
                return getattr(self.real(), item)

        _LAZY = CachedTool
    return _LAZY


def load_tools(settings: Settings) -> list[Tool]:
    """The selected tools for a server: from the start-up cache when it is fresh, else built (and the
    cache written). Bad --toolsets/--tools/--exclude-tools raise registry.ConfigError either way."""
    from .registry import choose

    how = (settings.toolsets, settings.tools, settings.exclude_tools, settings.read_only)
    folder = _cache_dir()
    if folder is not None:
        path = _cache_path(folder)
        data = _read_cache(path)
        if data is not None:
            rows = [_Row(e) for e in data["tools"]]
            return [_cached_tool(r) for r in choose(rows, data["toolsets"], *how)]
    from .tools import select

    chosen = select(*how)  # raises ConfigError before anything is built
    tools = [built(s) for s in chosen]
    if folder is not None:
        try:
            specs = select("all")
            every = [built(s) for s in specs]
        except Exception:  # a tool outside this selection does not build: just skip the cache
            log.debug("tool cache not written", exc_info=True)
        else:
            _write_cache(path, specs, every)
    return tools


_BUILT: dict[str, tuple[ToolSpec, Tool]] = {}


def built(spec: ToolSpec) -> Tool:
    """`registry.build_tool(spec)`, once per process and spec."""
    hit = _BUILT.get(spec.name)
    if hit is None or hit[0] is not spec:  # `is`: a re-imported module makes new specs
        from .registry import build_tool

        hit = _BUILT[spec.name] = (spec, build_tool(spec))
    return hit[1]


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m gigstack_mcp.toolinfo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--markdown", action="store_true", help="the README's tool table, by toolset")
    parser.add_argument("--json", action="store_true", help="sizes as JSON")
    parser.add_argument("--toolsets", default="all")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
    else:
        print_tools(args.toolsets, as_json=args.json)


if __name__ == "__main__":
    main()
