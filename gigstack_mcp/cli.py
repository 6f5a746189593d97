"""`gigstack-mcp` command line: the MCP server (default), `sandbox`, `demo`, `tools`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .settings import Settings


def _server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--api-url", help="gigstack API base URL (env GIGSTACK_API_URL; default https://api.gigstack.io/v2)"
    )
    p.add_argument(
        "--api-key", help="gigstack API key (env GIGSTACK_API_KEY); without one the embedded sandbox is used"
    )
    p.add_argument(
        "--sandbox", action="store_true", default=None, help="use the embedded sandbox even if a key is set"
    )
    p.add_argument(
        "--sandbox-db", metavar="PATH", help="keep the embedded sandbox's state in this SQLite file"
    )
    p.add_argument("--team", help="default gigstack Connect team for every call (env GIGSTACK_TEAM)")
    p.add_argument("--toolsets", help="comma-separated toolsets, 'default' or 'all' (env GIGSTACK_TOOLSETS)")
    p.add_argument("--tools", help="extra single tools, comma-separated")
    p.add_argument("--exclude-tools", help="tools to leave out, comma-separated")
    p.add_argument("--read-only", action="store_true", default=None, help="register only read-only tools")
    p.add_argument(
        "--require-preview", action="store_true", default=None, help="invoices only from a previewed payload"
    )
    g = p.add_argument_group("spend policy and audit trail (docs/policy.md)")
    g.add_argument("--policy", metavar="FILE", help="spend policy (TOML); reloaded on change or SIGHUP")
    g.add_argument(
        "--allow-live-writes", action="store_true", default=None, help="allow writes with a live gigstack key"
    )
    g.add_argument(
        "--audit-log", metavar="PATH", help="audit trail file (JSONL), 'stderr' (default) or 'off'"
    )
    p.add_argument(
        "--transport", choices=["stdio", "http"], default="stdio", help="MCP transport (default stdio)"
    )
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (http transport)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (http transport)")
    h = p.add_argument_group("HTTP transport (docs/http.md)")
    h.add_argument(
        "--auth-token",
        action="append",
        metavar="TOKEN[=API_KEY[:TEAM[|TEAM...]]]",
        help="accepted bearer token, repeatable; replaces GIGSTACK_MCP_AUTH_TOKENS",
    )
    h.add_argument("--auth-tokens-file", metavar="PATH", help="file, one TOKEN[=API_KEY[:TEAMS]] per line")
    h.add_argument("--stateless", action="store_true", default=None, help="no per-session state (replicas)")
    h.add_argument("--redis-url", metavar="URL", help="Redis for spent confirmations, shared by replicas")
    h.add_argument("--allowed-origins", metavar="LIST", help="browser Origins allowed, comma-separated")
    h.add_argument("--allowed-hosts", metavar="LIST", help="Host values allowed behind a proxy (host:*)")
    h.add_argument("--rate-limit", metavar="N/s", help="per-token rate limit, N/s, N/m or off (default 20/s)")
    h.add_argument("--max-body", metavar="SIZE", help="largest request body (default 1MB)")
    h.add_argument(
        "--auth-fail-limit", metavar="N/m", help="failed authentications per client address (default 20/m)"
    )
    h.add_argument(
        "--trusted-proxies", metavar="CIDRS", help="proxies whose X-Forwarded-For is believed (default none)"
    )
    h.add_argument("--max-sessions", type=int, metavar="N", help="open sessions in all (default 10000)")
    h.add_argument(
        "--max-sessions-per-token", type=int, metavar="N", help="open sessions per token (default 500)"
    )
    h.add_argument("--public-url", metavar="URL", help="public URL of /mcp (needed with OAuth)")
    h.add_argument("--oauth-issuer", metavar="URL", help="OAuth authorization server (docs/http.md)")
    h.add_argument("--oauth-introspection-url", metavar="URL", help="its RFC 7662 introspection endpoint")


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, then whatever was given on the command line."""
    overrides = {
        k: v
        for k, v in {
            "api_url": args.api_url,
            "api_key": args.api_key,
            "sandbox": args.sandbox,
            "sandbox_db": args.sandbox_db,
            "team": args.team,
            "toolsets": args.toolsets,
            "tools": args.tools,
            "exclude_tools": args.exclude_tools,
            "read_only": args.read_only,
            "require_preview": args.require_preview,
            "policy": args.policy,
            "allow_live_writes": args.allow_live_writes,
            "audit_log": args.audit_log,
            "mcp_auth_tokens": ",".join(args.auth_token) if args.auth_token else None,
            "mcp_auth_tokens_file": args.auth_tokens_file,
            "mcp_stateless": args.stateless,
            "mcp_redis_url": args.redis_url,
            "mcp_allowed_origins": args.allowed_origins,
            "mcp_allowed_hosts": args.allowed_hosts,
            "mcp_rate_limit": args.rate_limit,
            "mcp_max_body": args.max_body,
            "mcp_auth_fail_limit": args.auth_fail_limit,
            "mcp_trusted_proxies": args.trusted_proxies,
            "mcp_max_sessions": args.max_sessions,
            "mcp_max_sessions_per_token": args.max_sessions_per_token,
            "mcp_public_url": args.public_url,
            "mcp_oauth_issuer": args.oauth_issuer,
            "mcp_oauth_introspection_url": args.oauth_introspection_url,
        }.items()
        if v is not None
    }
    return Settings(**overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gigstack-mcp",
        description="MCP server for CFDI 4.0 invoicing through gigstack. With no API key it runs against an "
        "embedded gigstack sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"gigstack-mcp {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level (default WARNING)")
    _server_args(parser)
    sub = parser.add_subparsers(dest="command")
    sb = sub.add_parser("sandbox", help="serve the gigstack API sandbox standalone")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8765)
    sb.add_argument(
        "--api-key", default="sk_test_sandbox", help="the key clients must send (default sk_test_sandbox)"
    )
    sb.add_argument("--db", help="SQLite file to keep state across restarts")
    sub.add_parser("demo", help="a scripted tour: an MCP client drives the server against the sandbox")
    tl = sub.add_parser("tools", help="list the tools with their schema sizes")
    tl.add_argument("--toolsets", default="all")
    tl.add_argument("--json", action="store_true", help="machine-readable output")
    tl.add_argument("--before", metavar="FILE", help="an earlier `tools --json`: print before and after")
    au = sub.add_parser("audit", help="check or summarise an audit trail (docs/policy.md)")
    au.add_argument("action", choices=["verify", "summary"])
    au.add_argument("files", nargs="+", metavar="FILE", help="the trail, rotated files oldest first")
    return parser


def _audit(action: str, files: list[str]) -> int:
    """`audit verify`: 0 when the chain holds, 1 at the first broken record. `audit summary`: a table."""
    import os

    from . import audit

    key = os.environ.get("GIGSTACK_AUDIT_KEY", "").encode()
    try:
        if action == "summary":
            print(audit.format_summary(audit.summary(files)))
            return 0
        count, broken = audit.verify(files, key)
    except OSError as exc:
        print(f"gigstack-mcp audit: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    if broken is not None:
        print(f"BROKEN after {count} good records: {broken}")
        return 1
    print(f"OK: {count} records, chain intact")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))

    if args.command == "sandbox":
        from .sandbox.server import serve_forever

        print(
            f"gigstack sandbox on http://{args.host}:{args.port}/v2 (API key: {args.api_key})",
            file=sys.stderr,
        )
        serve_forever(args.host, args.port, args.api_key, args.db)
        return
    if args.command == "demo":
        from .demo import run_demo

        if any(o.status == "failed" for o in run_demo()):
            sys.exit(1)
        return
    if args.command == "audit":
        sys.exit(_audit(args.action, args.files))
    if args.command == "tools":
        from .toolinfo import print_tools

        print_tools(args.toolsets, as_json=args.json, before=args.before)
        return

    from .policy import PolicyError
    from .registry import ConfigError

    settings = settings_from(args)
    try:
        from .server import build_server

        if settings.policy:  # refuse a bad policy now, naming the line, not at the first call
            from .policy import install_sighup, load_policy

            load_policy(settings.policy)
            install_sighup()
        server = build_server(settings)
    except (ConfigError, PolicyError) as exc:
        print(f"gigstack-mcp: {exc}", file=sys.stderr)
        sys.exit(2)
    if settings.use_sandbox():
        print("gigstack-mcp: no GIGSTACK_API_KEY set: using the embedded gigstack sandbox", file=sys.stderr)
    if args.transport == "http":
        from .http import serve_http

        serve_http(server, settings, host=args.host, port=args.port)
    else:
        server.run("stdio")
