"""The shipped deployment (deploy/compose.yaml + deploy/nginx.conf) as plain processes: deploy/smoke.py
starts the sandbox, redis-server, three --stateless replicas and real nginx with the shipped config, and
drives them through nginx with the SDK client in both eras. CI installs nginx and redis-server (.ci/run); elsewhere
the test is skipped when either is missing, and says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import slow

pytestmark = slow

SMOKE = Path(__file__).resolve().parent.parent / "deploy" / "smoke.py"


def test_three_replicas_behind_the_shipped_nginx_config():
    if shutil.which("nginx") is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed: .ci/run installs it (apt-get install nginx)")
        pytest.skip("nginx is not installed (apt-get install nginx); CI runs this")
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server); CI runs this")
    run = subprocess.run(
        [sys.executable, str(SMOKE)], capture_output=True, text=True, timeout=180, cwd=SMOKE.parent.parent
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "smoke: PASSED 8 checks" in run.stdout
