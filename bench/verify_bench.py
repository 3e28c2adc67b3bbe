"""Benchmark of ``POST /api/v1/verify`` against ``GET /healthz`` under gunicorn (not a test).

Uses PostgreSQL (its own database ``wangzheng_bench``, created and reset here) and Redis db 14,
so it never touches the test databases. Phases, each with the same number of keep-alive client
processes: peak ``/healthz`` throughput, peak verify throughput (every request a fresh, valid,
single-use token), then verify paced at half of its peak to read p50/p99 latency.

Environment: ``BENCH_PG`` (server URL, default postgresql://postgres@127.0.0.1:5432),
``BENCH_REDIS`` (default redis://127.0.0.1:6379/14), ``BENCH_SECONDS`` (8), ``BENCH_CLIENTS`` (8),
``BENCH_WORKERS`` (2), ``BENCH_THREADS`` (4). Last line:
``verify_bench rps=... p99_ms=... ratio=...``.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
WORKERS = os.environ.get("BENCH_WORKERS", "2")
THREADS = os.environ.get("BENCH_THREADS", "4")
DB_NAME = "wangzheng_bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset_database() -> str:
    """(Re)create the bench database and its tables; returns its URL."""
    import psycopg

    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    url = f"{PG}/{DB_NAME}"
    from storage.db import Database
    from storage.models import Base

    database = Database(url)
    Base.metadata.create_all(database.engine)
    database.dispose()
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    return url


def environment(url: str, instance: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "WANGZHENG_ENV": "development",
        "WANGZHENG_INSTANCE_PATH": instance,
        "WANGZHENG_DATABASE_URL": url,
        "WANGZHENG_REDIS_URL": REDIS,
        "WANGZHENG_LOG_LEVEL": "WARNING",
        "WANGZHENG_MERCHANT_RATE_LIMIT_PER_MIN": "1000000",  # the highest allowed
        "WANGZHENG_BIND": f"127.0.0.1:{port}",
        "WANGZHENG_WORKERS": WORKERS,
        "WANGZHENG_THREADS": THREADS,
        "WANGZHENG_WECHAT_OUTBOX_DISPATCH": "off",
    }


def seed(env: dict[str, str]) -> tuple[Any, str]:
    """Registry record, citizen, credential and merchant; returns (app, merchant key)."""
    os.environ.update(env)
    import datetime as dt

    from bot import create_app
    from bot.credentials.service import issue_credential
    from bot.devices.sessions import open_session
    from bot.identity.idnumber import make_id_number
    from bot.merchants.accounts import create_merchant
    from tests.registry_factories import add_record

    app = create_app()
    settings = app.extensions["wangzheng.settings"]
    subject = add_record(app, id_number=make_id_number("110101", dt.date(1990, 1, 1), 1))
    with app.extensions["wangzheng.db"].transaction() as session:
        open_session(
            session, openid="o-bench", unionid=None, device_id="d-bench",
        )  # fmt: skip
        issue_credential(
            session, subject_id=subject, level="light", openid="o-bench", device_id="d-bench"
        )
        key = create_merchant(
            session, settings, name="Bench", category="hotel", scopes=["result"]
        ).api_key
    return app, key


def mint(app: Any, count: int) -> list[str]:
    """``count`` fresh presentation tokens (each usable once, for 60 s)."""
    from bot.credentials.tokens import mint_presentation

    settings, store = app.extensions["wangzheng.settings"], app.extensions["wangzheng.store"]
    tokens = []
    with app.extensions["wangzheng.db"].transaction() as session:
        for _ in range(count):
            tokens.append(
                mint_presentation(
                    session, store, settings, openid="o-bench", device_id="d-bench"
                ).token
            )
    return tokens


def client(port: int, kind: str, key: str, tokens: list[str], deadline: float, pace: float,
           out: Any) -> None:  # fmt: skip
    """One keep-alive client: send until the deadline (or tokens run out), record latencies."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies: list[float] = []
    errors = 0
    index = 0
    next_at = time.perf_counter()
    while time.perf_counter() < deadline:
        if pace:
            next_at += pace
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        started = time.perf_counter()
        if kind == "healthz":
            conn.request("GET", "/healthz")
        else:
            if index >= len(tokens):
                break
            body = json.dumps({"token": tokens[index]})
            index += 1
            conn.request(
                "POST", "/api/v1/verify", body=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )  # fmt: skip
        response = conn.getresponse()
        payload = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200 or (kind == "verify" and b'"valid"' not in payload):
            errors += 1
    out.put((latencies, errors))


def run_phase(port: int, kind: str, key: str, tokens: list[str], seconds: float,
              rate: float = 0.0) -> dict[str, float]:  # fmt: skip
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    share = max(1, len(tokens) // CLIENTS)
    pace = CLIENTS / rate if rate else 0.0
    started = time.perf_counter()
    deadline = started + seconds
    procs = [
        ctx.Process(target=client, args=(port, kind, key, tokens[i * share:(i + 1) * share],
                                        deadline, pace, queue))
        for i in range(CLIENTS)
    ]  # fmt: skip
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(err for _, err in results)
    count = len(latencies)
    return {
        "rps": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if latencies else 0.0,
        "count": count,
        "errors": errors,
    }


def wait_ready(port: int) -> None:
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    url = reset_database()
    instance = tempfile.mkdtemp(prefix="wangzheng-bench-")
    port = free_port()
    env = environment(url, instance, port)
    app, key = seed(env)
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        wait_ready(port)
        run_phase(port, "healthz", key, [], 1.0)  # warm-up
        run_phase(port, "verify", key, mint(app, 300), 1.0)
        health = run_phase(port, "healthz", key, [], SECONDS)
        budget = int(max(health["rps"], 500) * SECONDS * 1.2)
        peak = run_phase(port, "verify", key, mint(app, budget), SECONDS)
        half_rate = peak["rps"] / 2
        paced = run_phase(
            port,
            "verify",
            key,
            mint(app, int(half_rate * SECONDS * 1.5) + CLIENTS),
            SECONDS,
            half_rate,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    ratio = peak["rps"] / health["rps"] if health["rps"] else 0.0
    print(f"machine: nproc={os.cpu_count()} workers={WORKERS} threads={THREADS} clients={CLIENTS}")
    for name, phase in (("healthz peak", health), ("verify peak", peak), ("verify @50%", paced)):
        print(
            f"{name:13s} rps={phase['rps']:8.1f} p50_ms={phase['p50_ms']:6.2f} "
            f"p99_ms={phase['p99_ms']:6.2f} n={phase['count']:.0f} errors={phase['errors']:.0f}"
        )
    print(f"verify_bench rps={peak['rps']:.1f} p99_ms={paced['p99_ms']:.2f} ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
