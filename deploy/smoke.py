"""Smoke test of deploy/compose.yaml without Docker: the same topology as plain processes on 127.0.0.1.

    .venv/bin/python deploy/smoke.py            # needs nginx on PATH (Debian: apt-get install nginx)
    .venv/bin/python deploy/smoke.py --keep     # keep the temporary directory (configs, logs)

It starts the gigstack sandbox, redis-server as compose's `redis` service runs it, three
`gigstack-mcp --transport http --stateless` replicas with the environment compose.yaml gives the `mcp`
service (read from the shipped file; only what cannot exist outside Docker is changed: the sandbox's and
Redis's host names, the secret's path, the bind address and ports) and nginx in the foreground with the shipped nginx.conf (rewritten in code: the upstream servers, the listen
address, writable temp paths). Then, through nginx only, with the MCP SDK's Streamable HTTP client in
both protocol eras (2026-07-28 and the 2025-11-25 handshake): probes, 401/421/413, tools, a destructive
call confirmed on another replica than the one that issued the token, a used confirmation sent again
to the other replicas and refused (the replicas share Redis), requests spread over the three replicas
(their JSON access logs), and a replica stopped without breaking the next calls. Every process
it starts is stopped on exit, also on failure or Ctrl-C. Exit status 0 when everything passed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
ERAS = {"auto": "2026-07-28", "legacy": "2025-11-25"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "smoke", "version": "1"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
CLIENT_ADDRESS = "127.0.0.2"  # a client other than nginx (127.0.0.1): the replicas must log this one
RFC = "GORL850315K29"  # a well-formed persona fisica RFC for the clients the smoke creates and deletes


class SmokeError(Exception):
    """A check failed (the message says which and why)."""


def check(ok: object, message: str) -> None:
    if not ok:
        raise SmokeError(message)


def smoke_error(exc: BaseException) -> SmokeError | None:
    """The SmokeError inside `exc` (the SDK client's task groups wrap what a check raises)."""
    if isinstance(exc, SmokeError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if found := smoke_error(inner):
                return found
    return None


# -- compose.yaml: a reader for the YAML subset the shipped file uses (no PyYAML needed) ---------------


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return json.loads(text)
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(x) for x in inner.split(",")] if inner else []
    return text


def parse_compose(text: str) -> dict[str, Any]:
    """Block mappings, block sequences of scalars, flow sequences, quoted and plain scalars."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(-1, root)]
    open_key: tuple[int, dict[str, Any], str] | None = None  # "key:" whose value comes on the next lines
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if open_key is not None:
            key_indent, owner, key = open_key
            open_key = None
            if indent > key_indent:
                owner[key] = [] if body.startswith("- ") else {}
                stack.append((key_indent, owner[key]))
        while indent <= stack[-1][0]:
            stack.pop()
        container = stack[-1][1]
        if body.startswith("- "):
            if not isinstance(container, list):
                raise SmokeError(f"compose.yaml:{number}: unexpected list item")
            container.append(_scalar(body[2:]))
            continue
        m = re.fullmatch(r"([A-Za-z_][\w.-]*):(?:\s+(.*))?", body)
        if not m or not isinstance(container, dict):
            raise SmokeError(f"compose.yaml:{number}: this reader does not understand {body!r}")
        if m[2] is None:
            container[m[1]] = None
            open_key = (indent, container, m[1])
        else:
            container[m[1]] = _scalar(m[2])
    return root


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$."""

    def one(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        name, op, arg = m[1], m[2], m[3] or ""
        current = env.get(name)
        unset_or_empty = not current if op and op.startswith(":") else current is None
        if op in (":-", "-") and unset_or_empty:
            return arg
        if op in (":?", "?") and unset_or_empty:
            raise SmokeError(f"compose.yaml: {name}: {arg}")
        return current or ""

    return re.sub(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}", one, value)


def _arg(command: list[str], flag: str) -> str:
    check(flag in command, f"compose.yaml: {flag} missing from {command}")
    return command[command.index(flag) + 1]


@dataclass
class Topology:
    """What the smoke takes from the shipped files, already adapted to plain processes on loopback."""

    mcp_command: list[str]  # compose's command for `mcp`, bound to 127.0.0.1
    replica_env: dict[str, str]
    sandbox_argv: list[str]
    redis_argv: list[str]
    nginx_conf: str

    def replica_argv(self, port: int) -> list[str]:
        cmd = list(self.mcp_command)
        cmd[cmd.index("--port") + 1] = str(port)
        return cmd


def load_topology(
    tmp: Path,
    sandbox_port: int,
    replica_ports: list[int],
    lb_port: int,
    secret: str,
    tokens_file: Path,
    redis_port: int,
) -> Topology:
    compose = parse_compose((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    mcp, sandbox, lb, redis = services["mcp"], services["sandbox"], services["lb"], services["redis"]
    replicas = int((mcp.get("deploy") or {}).get("replicas", 1))
    check(
        replicas == len(replica_ports),
        f"compose.yaml runs {replicas} replicas, the smoke {len(replica_ports)}",
    )

    # sandbox: the compose command, on our port
    sb_cmd = list(sandbox["command"])
    sb_compose_port = _arg(sb_cmd, "--port")
    sb_cmd[sb_cmd.index("--host") + 1] = "127.0.0.1"
    sb_cmd[sb_cmd.index("--port") + 1] = str(sandbox_port)

    # redis: the compose command, on our port, loopback only
    redis_cmd = list(redis["command"])
    check(redis_cmd[:1] == ["redis-server"], f"compose redis command: {redis_cmd}")
    redis_compose_port = _arg(redis_cmd, "--port")
    redis_cmd[redis_cmd.index("--port") + 1] = str(redis_port)
    redis_cmd += ["--bind", "127.0.0.1"]

    # replicas: the compose command and environment, as `docker compose up` would expand it when only
    # GIGSTACK_CONFIRM_SECRET is exported (the documented setup)
    cmd = list(mcp["command"])
    mcp_compose_port = _arg(cmd, "--port")
    check("--stateless" in cmd and _arg(cmd, "--transport") == "http", f"compose mcp command: {cmd}")
    env = {k: interpolate(str(v), {"GIGSTACK_CONFIRM_SECRET": secret}) for k, v in mcp["environment"].items()}
    secrets_dir = "/run/secrets/"
    for key, value in env.items():
        if value.startswith(secrets_dir):  # a compose secret: ours is the generated tokens file
            check(value[len(secrets_dir) :] in mcp.get("secrets", []), f"{key}: secret {value} not mounted")
            env[key] = str(tokens_file)
    api_url = env.get("GIGSTACK_API_URL", "")
    docker_sandbox = f"//sandbox:{sb_compose_port}/"
    check(docker_sandbox in api_url, f"GIGSTACK_API_URL={api_url!r} does not point at the sandbox service")
    env["GIGSTACK_API_URL"] = api_url.replace(docker_sandbox, f"//127.0.0.1:{sandbox_port}/")
    redis_url, docker_redis = env.get("GIGSTACK_MCP_REDIS_URL", ""), f"//redis:{redis_compose_port}/"
    check(
        docker_redis in redis_url, f"GIGSTACK_MCP_REDIS_URL={redis_url!r} does not point at the redis service"
    )
    env["GIGSTACK_MCP_REDIS_URL"] = redis_url.replace(docker_redis, f"//127.0.0.1:{redis_port}/")
    check(env.get("GIGSTACK_CONFIRM_SECRET") == secret, "compose.yaml does not pass GIGSTACK_CONFIRM_SECRET")
    # what the image adds (Dockerfile ENV)
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "GIGSTACK_TOOL_CACHE": "off"} | env

    # nginx: the shipped file; upstream, listen and temp paths changed, nothing else
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.compile(r"^([ \t]*)server[ \t]+mcp:(\d+)([^;\n]*);", re.M)
    found = upstream.findall(conf)
    check(len(found) == 1, f"nginx.conf: expected one `server mcp:PORT` upstream line, found {len(found)}")
    check(
        found[0][1] == mcp_compose_port,
        f"nginx.conf proxies to mcp:{found[0][1]} but compose runs the replicas on --port {mcp_compose_port}",
    )
    conf = upstream.sub(
        lambda m: "\n".join(f"{m[1]}server 127.0.0.1:{p}{m[3]};" for p in replica_ports), conf, count=1
    )
    listen = re.compile(r"^([ \t]*)listen[ \t]+(\d+)[ \t]*;", re.M)
    found = listen.findall(conf)
    check(len(found) == 1, f"nginx.conf: expected one `listen PORT;` line, found {len(found)}")
    published = [str(p).rsplit(":", 1)[-1] for p in lb.get("ports", [])]
    check(found[0][1] in published, f"nginx listens on {found[0][1]}, compose publishes {published}")
    conf = listen.sub(lambda m: f"{m[1]}listen 127.0.0.1:{lb_port};", conf, count=1)
    http = re.compile(r"^http[ \t]*\{[ \t]*\n", re.M)
    check(len(http.findall(conf)) == 1, "nginx.conf: expected one `http {` block")
    temp = "".join(
        f"    {kind}_temp_path {tmp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = http.sub(
        lambda m: m[0] + "    # smoke.py: writable temp paths outside the image\n" + temp, conf, count=1
    )

    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    return Topology(
        mcp_command=cmd,
        replica_env=env,
        sandbox_argv=sb_cmd,
        redis_argv=redis_cmd,
        nginx_conf=conf,
    )


# -- processes -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if this script dies without cleaning up (kill -9)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM (graceful for uvicorn and nginx), SIGKILL to its process group if it hangs."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)  # its own session: it and its children only
                self.popen.wait()
        return self.popen.returncode

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Processes:
    def __init__(self, tmp: Path) -> None:
        self.tmp, self.procs = tmp, []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only this script, which stops them in order
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):  # nginx first, the sandbox last
            proc.stop()


def wait_redis(proc: Proc, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise SmokeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SmokeError(f"{proc.name} did not answer PING within {timeout:.0f}s:\n{proc.tail()}")
        time.sleep(0.05)


def wait_http(proc: Proc, url: str, timeout: float = 30, headers: dict[str, str] | None = None) -> None:
    import httpx2

    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise SmokeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            if httpx2.get(url, headers=headers, timeout=2).status_code < 500:
                return
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SmokeError(f"{proc.name} did not answer {url} within {timeout:.0f}s:\n{proc.tail()}")
        time.sleep(0.1)


# -- the replicas' access logs ---------------------------------------------------------------------------


class AccessLogs:
    """Each replica's JSON access-log lines (stderr captured to a file), to see who served what."""

    def __init__(self, replicas: list[Proc]) -> None:
        self.replicas = replicas

    def lines(self, proc: Proc) -> list[dict[str, Any]]:
        out = []
        for raw in proc.log.read_text(errors="replace").splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == "http_request":
                out.append(record)
        return out

    def counts(self) -> list[int]:
        return [len(self.lines(p)) for p in self.replicas]

    def mark(self, quiet: float = 0.15, timeout: float = 3) -> list[int]:
        """Line counts once no line arrived for `quiet` seconds: a request's line is written just after
        its response went out, so the previous call's line may still be on its way."""
        last, changed = self.counts(), time.monotonic()
        deadline = changed + timeout
        while time.monotonic() - changed < quiet and time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.counts()
            if now != last:
                last, changed = now, time.monotonic()
        return last

    def since(self, mark: list[int]) -> dict[str, list[dict[str, Any]]]:
        return {p.name: self.lines(p)[n:] for p, n in zip(self.replicas, mark, strict=True)}

    def served_by(self, mark: list[int], match: Callable[[dict[str, Any]], bool], timeout: float = 3) -> str:
        """The one replica that logged a request matching `match` since `mark` (lines land just after
        the response, so wait a little)."""
        deadline = time.monotonic() + timeout
        while True:
            hits = [name for name, lines in self.since(mark).items() for rec in lines if match(rec)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1 or time.monotonic() > deadline:
                raise SmokeError(f"expected one replica to log the request, found {hits or 'none'}")
            time.sleep(0.05)

    def per_replica(self, mark: list[int] | None = None) -> Counter[str]:
        since = self.since(mark or [0] * len(self.replicas))
        return Counter({name: sum(r.get("path") == "/mcp" for r in lines) for name, lines in since.items()})


# -- the checks ------------------------------------------------------------------------------------------


@dataclass
class Report:
    rows: list[tuple[str, str]] = field(default_factory=list)

    def ok(self, what: str, detail: str) -> None:
        self.rows.append((what, detail))
        print(f"  ok  {what}: {detail}", flush=True)


@asynccontextmanager
async def connect(base: str, token: str | None, mode: str) -> AsyncIterator[Any]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


async def call_ok(client: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    check(not result.is_error, f"{name}{args} failed: {result.content[0].text if result.content else result}")
    check(result.structured_content is not None, f"{name}: no structured content")
    return result.structured_content


def is_call(name: str) -> Callable[[dict[str, Any]], bool]:
    """A tools/call of `name`: 2026-07-28 requests carry Mcp-Name; legacy ones are the only POST."""
    return lambda r: (
        r.get("method") == "POST" and r.get("path") == "/mcp" and r.get("mcp_name") in (name, None)
    )


@dataclass
class Stack:
    base: str
    tokens: list[str]
    replicas: list[Proc]
    logs: AccessLogs
    report: Report


async def check_edge(s: Stack) -> None:
    """Probes, authentication, Host, body size, client address and SSE through nginx (raw HTTP)."""
    import httpx2

    async with httpx2.AsyncClient(base_url=s.base, timeout=15) as http:
        health = await http.get("/healthz")
        check(
            health.status_code == 200 and health.json() == {"status": "ok"}, f"/healthz: {health.status_code}"
        )
        ready = await http.get("/readyz")
        check(ready.status_code == 200 and ready.json()["status"] == "ready", f"/readyz: {ready.text}")
        other = await http.get("/anything-else")
        check(other.status_code == 404, f"/anything-else: {other.status_code}")
        s.report.ok(
            "probes via nginx", "/healthz 200 ok, /readyz 200 ready (sandbox reached), other paths 404"
        )

        missing = await http.post("/mcp", json=INIT, headers=MCP_HEADERS)
        check(missing.status_code == 401, f"no token: {missing.status_code}")
        check(
            missing.headers.get("www-authenticate", "").startswith("Bearer"), "no token: no Bearer challenge"
        )
        wrong = await http.post(
            "/mcp", json=INIT, headers=MCP_HEADERS | {"Authorization": "Bearer nope-123456"}
        )
        check(
            wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers.get("www-authenticate", ""),
            f"wrong token: {wrong.status_code} {wrong.headers.get('www-authenticate')}",
        )
        refused = 0
        for mode in ERAS:
            try:
                async with connect(s.base, None, mode) as client:
                    await client.list_tools()
            except Exception:
                refused += 1
        check(refused == len(ERAS), "the SDK client without a token was not refused")
        s.report.ok(
            "auth",
            f"no token 401 + Bearer challenge, wrong token 401 invalid_token, SDK client "
            f"without token refused in {refused}/{len(ERAS)} eras",
        )

        auth = MCP_HEADERS | {"Authorization": f"Bearer {s.tokens[0]}"}
        mark = s.logs.mark()
        # From another loopback address: the replicas trust nginx (GIGSTACK_MCP_TRUSTED_PROXIES) and so
        # log the address nginx saw, never the one the client wrote.
        async with httpx2.AsyncClient(
            base_url=s.base, timeout=15, transport=httpx2.AsyncHTTPTransport(local_address=CLIENT_ADDRESS)
        ) as away:
            sse = await away.post("/mcp", json=INIT, headers=auth | {"X-Forwarded-For": "203.0.113.9"})
        check(sse.status_code == 200, f"initialize with a token: {sse.status_code} {sse.text[:200]}")
        check(sse.headers.get("content-type", "").startswith("text/event-stream"), "no SSE through nginx")
        events = [json.loads(x[5:]) for x in sse.text.splitlines() if x.startswith("data:")]
        check(events and events[0].get("result", {}).get("protocolVersion"), f"SSE body: {sse.text[:200]}")
        who = s.logs.served_by(mark, lambda r: r.get("status") == 200 and r.get("path") == "/mcp")
        client_ip = next(r["client"] for r in s.logs.since(mark)[who] if r.get("status") == 200)
        check(
            client_ip == CLIENT_ADDRESS,
            f"{who} logged the client as {client_ip}, not {CLIENT_ADDRESS}: "
            + (
                "nginx is not a trusted proxy"
                if client_ip == "127.0.0.1"
                else "a forged X-Forwarded-For is trusted"
            ),
        )
        s.report.ok(
            "SSE + client address",
            "initialize streams text/event-stream; nginx's X-Forwarded-For is believed, a forged one "
            f"is not ({who} logs client {CLIENT_ADDRESS})",
        )

        port = s.base.rsplit(":", 1)[1]
        evil = await http.post("/mcp", json=INIT, headers=auth | {"Host": "evil.example"})
        local = await http.post("/mcp", json=INIT, headers=auth | {"Host": f"localhost:{port}"})
        check(
            evil.status_code == 421,
            f"Host evil.example: {evil.status_code} (nginx must pass the client's Host)",
        )
        check(local.status_code == 200, f"Host localhost:{port}: {local.status_code}")
        big = await http.post("/mcp", content=b"x" * (1024 * 1024 + 1), headers=auth)
        check(big.status_code == 413, f"2 MB body: {big.status_code}")
        s.report.ok(
            "Host and body",
            f"Host evil.example 421, localhost:{port} 200 (the client's Host reaches "
            "the replica), body over 1 MB 413",
        )


async def destructive_across_replicas(
    s: Stack, client: Any, tag: str, attempts: int = 4
) -> tuple[str, str, int]:
    """Create a client, ask to delete it (confirmation token from replica A), delete it with the token
    on replica B != A. nginx round-robins, so B != A almost always; if not, a new client, again."""
    for attempt in range(1, attempts + 1):
        created = await call_ok(
            client,
            "create_client",
            {
                "name": f"Smoke {tag} {attempt}",
                "legal_name": f"SMOKE {tag.upper()} {attempt}",
                "tax_id": RFC,
                "tax_system": "612",
            },
        )
        args = {"id": created["id"]}
        mark = s.logs.mark()
        first = await call_ok(client, "delete_client", args)
        check(first.get("status") == "confirmation_required", f"delete without a token: {first}")
        issuer = s.logs.served_by(mark, is_call("delete_client"))
        mark = s.logs.mark()
        done = await call_ok(
            client, "delete_client", args | {"confirmation_token": first["confirmation_token"]}
        )
        check(done.get("status") == "done", f"delete with the token: {done}")
        redeemer = s.logs.served_by(mark, is_call("delete_client"))
        gone = await client.call_tool("get_client", args)
        check(gone.is_error and "404" in gone.content[0].text, f"{created['id']} still there after delete")
        if issuer != redeemer:
            return issuer, redeemer, attempt
    raise SmokeError(f"{attempts} confirmations were all redeemed on the replica that issued them")


async def check_single_use(s: Stack, token: str, replays: int = 4) -> None:
    """A refund confirmed once, then its token sent again through nginx, so to the other replicas too:
    every replay refused, the money refunded once (the replicas share the spent set in Redis)."""
    async with connect(s.base, token, "auto") as client:
        payment = {"id": "payment_demo_transfer"}
        before = (await call_ok(client, "get_payment", payment)).get("refunded_amount") or 0
        first = await call_ok(client, "refund_payment", payment | {"amount": 1})
        args = payment | {"amount": 1, "confirmation_token": first["confirmation_token"]}
        mark = s.logs.mark()
        done = await call_ok(client, "refund_payment", args)
        check(done.get("status") == "done", f"refund with the token: {done}")
        for _ in range(replays):
            again = await client.call_tool("refund_payment", args)
            text = again.content[0].text if again.content else ""
            check(again.is_error and "already used" in text, f"a used token was not refused: {text[:300]}")
        spread = s.logs.per_replica(mark)
        after = (await call_ok(client, "get_payment", payment)).get("refunded_amount") or 0
    check(round(after - before, 2) == 1, f"refunded {after - before} instead of 1.00 once")
    check(sum(1 for n in spread.values() if n) >= 2, f"the replays reached one replica only: {spread}")
    s.report.ok(
        "single use across replicas",
        f"a refund token used once, then {replays} replays refused ('already used'); refunded once; "
        "/mcp requests: " + ", ".join(f"{k} {v}" for k, v in sorted(spread.items())),
    )


async def check_era(s: Stack, mode: str, token: str, calls: int = 12) -> None:
    mark = s.logs.mark()
    async with connect(s.base, token, mode) as client:
        check(client.protocol_version == ERAS[mode], f"{mode}: protocol {client.protocol_version}")
        tools = (await client.list_tools()).tools
        names = {t.name for t in tools}
        check({"list_clients", "delete_client", "create_client"} <= names, f"{mode}: tools {sorted(names)}")
        rows = 0
        for _ in range(calls):
            page = await call_ok(client, "list_clients", {"limit": 3})
            rows += len(page["data"])
        check(rows > 0, "list_clients returned no clients (the sandbox is seeded)")
        issuer, redeemer, attempts = await destructive_across_replicas(s, client, mode)
    spread = s.logs.per_replica(mark)
    check(
        all(spread[p.name] > 0 for p in s.replicas), f"{mode}: requests did not reach every replica: {spread}"
    )
    s.report.ok(
        f"{mode} ({ERAS[mode]})",
        f"{len(tools)} tools, {calls} list_clients calls, delete_client token issued by {issuer} and "
        f"honoured by {redeemer} (attempt {attempts}); /mcp requests per replica "
        + ", ".join(f"{k} {v}" for k, v in sorted(spread.items())),
    )


async def check_failover(s: Stack, token: str, calls: int = 9) -> None:
    """Ask for a confirmation, stop the replica that issued it, then go on: nginx must send new requests
    to the two others, and the token must still be honoured there."""
    async with connect(s.base, token, "auto") as client:
        created = await call_ok(
            client,
            "create_client",
            {"name": "Smoke failover", "legal_name": "SMOKE FAILOVER", "tax_id": RFC, "tax_system": "612"},
        )
        args = {"id": created["id"]}
        mark = s.logs.mark()
        first = await call_ok(client, "delete_client", args)
        issuer_name = s.logs.served_by(mark, is_call("delete_client"))
        issuer = next(p for p in s.replicas if p.name == issuer_name)
        stopped = time.monotonic()
        code = issuer.stop()
        # uvicorn drains, then re-raises the SIGTERM it caught: -15 (or 0) after a clean shutdown
        check(code in (0, -signal.SIGTERM), f"{issuer.name} exited with {code} on SIGTERM")
        took = time.monotonic() - stopped
        after = s.logs.mark()
        done = await call_ok(
            client, "delete_client", args | {"confirmation_token": first["confirmation_token"]}
        )
        check(done.get("status") == "done", f"delete after the issuer stopped: {done}")
        redeemer = s.logs.served_by(after, is_call("delete_client"))
        for _ in range(calls):
            await call_ok(client, "list_clients", {"limit": 1})
    async with connect(s.base, token, "legacy") as client:
        for _ in range(calls):
            await call_ok(client, "list_clients", {"limit": 1})
    import httpx2

    async with httpx2.AsyncClient(base_url=s.base, timeout=15) as http:
        readyz = [(await http.get("/readyz")).status_code for _ in range(6)]
    check(readyz == [200] * 6, f"/readyz after the stop: {readyz}")
    spread = s.logs.per_replica(after)
    check(spread[issuer.name] == 0, f"{issuer.name} was stopped but logged requests: {spread}")
    survivors = [p.name for p in s.replicas if p is not issuer]
    check(all(spread[n] > 0 for n in survivors), f"after the stop not both survivors served: {spread}")
    s.report.ok(
        "failover",
        f"token issued by {issuer.name}, which was then stopped (SIGTERM, gone in {took:.1f}s); token "
        f"honoured by {redeemer}; {2 * calls} more calls in both eras and 6 /readyz all OK; /mcp requests "
        "since: " + ", ".join(f"{k} {v}" for k, v in sorted(spread.items())),
    )


async def run_checks(s: Stack) -> None:
    await check_edge(s)
    await check_era(s, "auto", s.tokens[0])
    await check_era(s, "legacy", s.tokens[1])
    await check_single_use(s, s.tokens[1])
    await check_failover(s, s.tokens[2])


# -- main ------------------------------------------------------------------------------------------------


def nginx_version(nginx: str) -> str:
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    return (out.stderr or out.stdout).strip().rsplit("/", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs)")
    parser.add_argument("--nginx", default="nginx", help="the nginx binary (default: nginx on PATH)")
    args = parser.parse_args(argv)

    nginx = shutil.which(args.nginx)
    if nginx is None:
        print(
            f"smoke: {args.nginx!r} not found on PATH; install nginx (Debian/Ubuntu: apt-get install nginx) "
            "or pass --nginx /path/to/nginx",
            file=sys.stderr,
        )
        return 2
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        print(
            "smoke: redis-server not found on PATH; install it (Debian/Ubuntu: apt-get install redis-server)",
            file=sys.stderr,
        )
        return 2
    try:
        import anyio
        import httpx2  # noqa: F401
        import mcp  # noqa: F401

        import gigstack_mcp  # noqa: F401
    except ImportError as exc:
        print(
            f"smoke: {exc}; run it with the project's environment: .venv/bin/python deploy/smoke.py",
            file=sys.stderr,
        )
        return 2

    def on_signal(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    tmp = Path(tempfile.mkdtemp(prefix="gigstack-smoke-"))
    tmp.chmod(0o755)  # nginx workers (another user when started as root) create temp files below it
    procs = Processes(tmp)
    keep, status, started = args.keep, 1, time.monotonic()
    try:
        tokens = [secrets.token_urlsafe(32) for _ in range(3)]  # tokens.txt: one per line, as documented
        tokens_file = tmp / "secrets" / "mcp_tokens"
        tokens_file.parent.mkdir(mode=0o700)
        tokens_file.write_text("".join(f"{t}\n" for t in tokens))
        tokens_file.chmod(0o600)
        sandbox_port, lb_port, redis_port = free_port(), free_port(), free_port()
        ports = [free_port() for _ in range(3)]
        topo = load_topology(
            tmp, sandbox_port, ports, lb_port, secrets.token_hex(32), tokens_file, redis_port
        )
        python = [sys.executable, "-m", "gigstack_mcp"]
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("GIGSTACK_")}
        version = nginx_version(nginx)
        print(
            f"smoke: nginx {version} on 127.0.0.1:{lb_port} -> replicas on {ports}, sandbox on "
            f"{sandbox_port}, redis on {redis_port}; logs in {tmp}",
            flush=True,
        )

        sandbox = procs.start("sandbox", [*python, *topo.sandbox_argv], base_env)
        redis = procs.start("redis", [redis_server, *topo.redis_argv[1:]])
        wait_redis(redis, redis_port)
        replicas = [
            procs.start(f"replica{i}", [*python, *topo.replica_argv(port)], base_env | topo.replica_env)
            for i, port in enumerate(ports, 1)
        ]
        wait_http(sandbox, f"http://127.0.0.1:{sandbox_port}/v2/clients?limit=1")
        for proc, port in zip(replicas, ports, strict=True):
            wait_http(proc, f"http://127.0.0.1:{port}/healthz")

        conf = tmp / "nginx.conf"
        conf.write_text(topo.nginx_conf)
        nginx_argv = [
            nginx,
            "-p",
            str(tmp),
            "-c",
            str(conf),
            "-e",
            "stderr",
            "-g",
            f"daemon off; pid {tmp / 'nginx.pid'};",
        ]
        test = subprocess.run([*nginx_argv, "-t"], capture_output=True, text=True, check=False)
        check(test.returncode == 0, f"nginx -t refused the rewritten nginx.conf ({conf}):\n{test.stderr}")
        lb = procs.start("nginx", nginx_argv)
        wait_http(lb, f"http://127.0.0.1:{lb_port}/healthz")

        logs = AccessLogs(replicas)
        stack = Stack(f"http://127.0.0.1:{lb_port}", tokens, replicas, logs, Report())
        anyio.run(run_checks, stack)

        total = logs.per_replica()
        errors = [
            (p.name, r)
            for p in replicas
            for r in logs.lines(p)
            if r.get("status", 0) >= 500 or r.get("status") == 0
        ]
        check(not errors, f"replicas logged server errors: {errors[:3]}")
        nginx_log = lb.log.read_text(errors="replace")
        failed_upstream = nginx_log.count("connect() failed")
        print(
            f"smoke: PASSED {len(stack.report.rows)} checks in {time.monotonic() - started:.1f}s; "
            "/mcp requests per replica "
            + ", ".join(f"{k} {v}" for k, v in sorted(total.items()))
            + f"; nginx retried {failed_upstream} connection(s) to the stopped replica",
            flush=True,
        )
        status = 0
    except KeyboardInterrupt:
        print("smoke: interrupted", file=sys.stderr)
        status = 130
    except Exception as exc:
        if found := smoke_error(exc):
            print(f"smoke: FAILED: {found}", file=sys.stderr)
        else:
            traceback.print_exc()
            print("smoke: FAILED (unexpected error above)", file=sys.stderr)
        for proc in procs.procs:
            print(f"--- {proc.name} ({proc.log}), last lines:\n{proc.tail()}", file=sys.stderr)
    finally:
        procs.stop_all()
        leftover = [p.name for p in procs.procs if p.alive()]
        if leftover:
            print(f"smoke: could not stop {leftover}", file=sys.stderr)
            status = status or 1
        if keep or status != 0:
            print(f"smoke: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
