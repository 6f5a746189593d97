"""Where gigstack-mcp's start-up time goes, in one fresh process: prints JSON with the milliseconds of
each phase up to a built server (the stdio loop and the first `tools/list` come after). Run by
benchmarks/run.py; by hand: `python benchmarks/startup_phases.py`."""

import json
import time

t0 = time.perf_counter()
import mcp.server  # noqa: E402,F401  (the SDK; the hello-world server pays this too)

t1 = time.perf_counter()
from gigstack_mcp.cli import build_parser, settings_from  # noqa: E402

settings = settings_from(build_parser().parse_args([]))
t2 = time.perf_counter()
from gigstack_mcp import server  # noqa: E402

t3 = time.perf_counter()
from gigstack_mcp.toolinfo import load_tools  # noqa: E402

tools = load_tools(settings)
t4 = time.perf_counter()
server.build_server(settings)  # selects tools again (from the cache): subtract that
t5 = time.perf_counter()

print(
    json.dumps(
        {
            "import mcp.server (SDK)": (t1 - t0) * 1000,
            "CLI and settings": (t2 - t1) * 1000,
            "import gigstack_mcp.server (context, models base)": (t3 - t2) * 1000,
            f"select the tools: registry + {len(tools)} tools from the start-up cache": (t4 - t3) * 1000,
            "MCPServer, catalog resources and prompts": max(0.0, (t5 - t4) - (t4 - t3)) * 1000,
        }
    )
)
