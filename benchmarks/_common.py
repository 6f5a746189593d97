"""What the benchmarks share: a free loopback port, a child's CPU time, a percentile, and rewriting one
`## heading` section of a results document."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0 < q < 1) by rank, NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def replace_section(text: str, heading: str, body: str, title: str = "# Benchmarks") -> str:
    """Replace the `## heading` section (up to the next `## `) or append it; other sections stay."""
    block = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        return pattern.sub(lambda _: block + "\n", text, count=1).rstrip() + "\n"
    if not text.strip():
        text = title + "\n"
    return text.rstrip() + "\n\n" + block


def write_section(doc: Path, heading: str, body: str, title: str = "# Benchmarks") -> None:
    """`replace_section` on a file, created (with `title`) when missing."""
    doc.parent.mkdir(exist_ok=True)
    text = doc.read_text("utf-8") if doc.exists() else ""
    doc.write_text(replace_section(text, heading, body, title), "utf-8")
