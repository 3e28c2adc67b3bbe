"""gunicorn with two workers: the service starts from ``gunicorn.conf.py``, each worker loads
its own face model after the fork, ``/metrics`` aggregates every worker (prometheus_client
multiprocess mode), and the workers exit cleanly (onnxruntime never entered the master)."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.config import PROJECT_ROOT
from bot.face.packs import ensure_pack
from tests.bot.face.imaging import FACE_ROOT
from tests.faults import free_port

pytestmark = pytest.mark.gunicorn


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still loading
            time.sleep(0.2)
    raise AssertionError("gunicorn did not become ready")


def test_two_workers_share_one_metrics_view(tmp_path: Path) -> None:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGZHENG_")}
    env.update(
        WANGZHENG_ENV="development",
        WANGZHENG_INSTANCE_PATH=str(tmp_path),
        WANGZHENG_BIND=f"127.0.0.1:{port}",
        WANGZHENG_WORKERS="2",
        WANGZHENG_THREADS="1",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        WANGZHENG_FACE_MODEL_ROOT=str(FACE_ROOT),
        WANGZHENG_FACE_LOAD_ON_START="1",
    )
    ensure_pack(FACE_ROOT, "yunet-sface")  # built once here, not raced by two workers
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"]
    subprocess.run(flask, cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    log_path = tmp_path / "gunicorn.log"
    log = log_path.open("wb")
    process = subprocess.Popen(gunicorn, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        before = _healthz_count(base)
        sent = 0
        workers: set[str] = set()
        # New connections until both workers have served some (the kernel picks the acceptor).
        while sent < 400 and (sent < 40 or len(workers) < 2):
            requests.get(base + "/healthz", headers={"Connection": "close"}, timeout=5)
            sent += 1
            workers = {p.name.split("_")[-1] for p in metrics_dir.glob("counter_*.db")}
        assert len(workers) == 2, workers
        assert _healthz_count(base) - before == sent
        ready = requests.get(base + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert ready.json()["checks"]["face_model"]["loaded"] is True
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    output = log_path.read_text(errors="replace")
    assert process.returncode == 0
    assert "SIGABRT" not in output and "terminate called" not in output, output[-2000:]
    assert "SIGKILL" not in output


def _healthz_count(base: str) -> float:
    body = requests.get(base + "/metrics", timeout=5).text
    pattern = r'wangzheng_http_requests_total\{[^}]*endpoint="ops\.healthz"[^}]*\} ([0-9.e+]+)'
    return sum(float(value) for value in re.findall(pattern, body))


def test_workers_are_recycled_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Off by default (recycling cost CPU and tail latency, docs/benchmarks.md); an operator's
    ``WANGZHENG_MAX_REQUESTS`` turns it on with 10 % jitter."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.delenv("WANGZHENG_MAX_REQUESTS", raising=False)
    default = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    assert (default["max_requests"], default["max_requests_jitter"]) == (0, 0)
    monkeypatch.setenv("WANGZHENG_MAX_REQUESTS", "100000")
    asked = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    assert (asked["max_requests"], asked["max_requests_jitter"]) == (100000, 10000)
