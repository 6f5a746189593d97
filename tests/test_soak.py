"""The load and soak benchmark in its quick mode (5 sessions x 20 mixed calls over Streamable HTTP, 5%
injected faults): no protocol errors, every answer as expected, every invoice created exactly once and
none lost, memory flat. The long run (50 x 200) is `python -m benchmarks.soak`; its figures are in
docs/reliability.md."""

from __future__ import annotations

from benchmarks import soak

from .conftest import slow

pytestmark = slow


def test_quick_soak_reconciles() -> None:
    report = soak.run(sessions=5, calls=20, fault_rate=0.05, seed=3, quick=True)
    assert report.problems() == []
    assert report.total_calls == 100 and not report.protocol_errors and not report.unexpected
    assert report.creates_ok > 0 and report.reconciled == report.creates_ok
    assert not (report.duplicates or report.lost or report.strays or report.cancelled)
    assert sum(report.faults.values()) > 0  # the run really was under faults
    assert report.rss_end is not None
