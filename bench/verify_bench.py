"""Benchmark of ``POST /api/v1/verify`` against the bare endpoint and its essential work.

Not a test.

Uses PostgreSQL (its own database ``wangzheng_bench``, seeded at production shape by
``bench/verify_seed.py`` and reused while the shape matches) and Redis db 14, so it never touches
the test databases. In one run, each phase with the same number of keep-alive client processes:
1. ``bare``: peak ``GET /healthz`` throughput of the same gunicorn app;
2. ``essential``: the essential work alone (``bench/verify_essential.py``: ES256 check, Redis
   SET NX, indexed SELECT, INSERT) in a plain loop, one process per gunicorn worker;
3. ``verify``: peak verify throughput, every request a fresh, valid, single-use token of a
   random one of the seeded citizens, with the audit sealer (``flask audit seal --every 1``)
   running beside it when the app has one;
4. verify at half of its peak, for p50/p99 latency: open-loop, each client's requests a Poisson
   process (see :func:`client`), latency counted from the scheduled send time;
5. ``floor``: peak throughput of the essential work inside a minimal Flask view
   (``bench/verify_floor_app.py``) on its own gunicorn with the same worker class, workers and
   threads: the best ``ratio_to_bare`` this stack reaches for this work on this machine;
6. ``stack floor``: the same work, served the same way, written on the mandated stack
   (``bench/verify_stack_floor_app.py``: APIFlask with pydantic models and its token auth, the
   app's pipelined SQLAlchemy session and prepared statements) with none of verify's own logic;
7. round trips of one verify, counted at the wire in-process (``storage/roundtrips.py``).

Environment: ``BENCH_PG`` (server URL, default postgresql://postgres@127.0.0.1:5432),
``BENCH_REDIS`` (default redis://127.0.0.1:6379/14), ``BENCH_SECONDS`` (8), ``BENCH_CLIENTS`` (8),
``BENCH_WORKERS`` (2), ``BENCH_THREADS`` (4), ``BENCH_CREDENTIALS`` (100000), ``BENCH_PHOTO_KB``
(200), ``BENCH_APP_ROOT`` (the checkout whose app gunicorn serves; default this one, so an older
commit can be measured with the same bench). Tokens are minted before their phase and live
60 s (``presentation_ttl_s``): with ``BENCH_SECONDS`` above about 20, the verify phases count
expired tokens as errors. Last line:
``verify_bench rps=... ratio_to_bare=... ratio_to_essential=... round_trips=... p99_ms=...
p99_at_rps=... cpu_ratio_to_bare=... floor_ratio_to_bare=... ratio_to_floor=...
stack_floor_ratio_to_bare=... stack_floor_cpu_ratio_to_bare=... ratio_to_stack_floor=...
load1=...``. An earlier line, ``sealer cpu_ms_per_verify=...``, gives the audit sealer's CPU
per verify during the verify peak (a process of its own beside gunicorn, so not in the
server's CPU).

``cpu_ratio_to_bare`` is the server's CPU time per ``/healthz`` over its CPU time per verify
(gunicorn master and workers, read from /proc, reaped workers included): what ``ratio_to_bare``
would be on a machine whose cores did nothing else, since both are CPU-bound. On a shared
machine the req/s ratios move with the other tenants' load (``load1``); this one much less.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("BENCH_APP_ROOT", BENCH.parent)).resolve()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import verify_essential  # noqa: E402
import verify_seed  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
WORKERS = os.environ.get("BENCH_WORKERS", "2")
THREADS = os.environ.get("BENCH_THREADS", "4")
DB_NAME = "wangzheng_bench"
FLASK = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset_database() -> tuple[str, bool]:
    """The bench database with its tables; reseeded only when its shape changed. Returns its
    URL and whether it still needs seeding."""
    import psycopg
    import redis

    url = f"{PG}/{DB_NAME}"
    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        if exists.fetchone() and verify_seed.seeded_shape(url) != verify_seed.shape():
            conn.execute(f"DROP DATABASE {DB_NAME} WITH (FORCE)")
            exists = None
        if (
            exists is None
            or not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)
            ).fetchone()
        ):
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    from storage.db import Database
    from storage.models import Base

    database = Database(url)
    Base.metadata.create_all(database.engine)
    database.dispose()
    redis.Redis.from_url(REDIS).flushdb()
    return url, verify_seed.seeded_shape(url) != verify_seed.shape()


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


def seed(env: dict[str, str], url: str, needs_rows: bool) -> tuple[Any, str]:
    """The seeded citizens (once) and a fresh merchant; returns (app, merchant key)."""
    os.environ.update(env)
    from bot import create_app
    from bot.crypto import seal_text
    from bot.identity.registry import ID_SEAL_PURPOSE, NAME_SEAL_PURPOSE
    from bot.merchants.accounts import create_merchant

    app = create_app()
    settings = app.extensions["wangzheng.settings"]
    if needs_rows:
        started = time.perf_counter()
        verify_seed.seed(
            url,
            seal_text(settings.data_key, "张三明", NAME_SEAL_PURPOSE),
            seal_text(settings.data_key, "110101199001010011", ID_SEAL_PURPOSE),
        )
        print(f"seeded {verify_seed.shape()} in {time.perf_counter() - started:.0f} s")
    with app.extensions["wangzheng.db"].transaction() as session:
        key = create_merchant(
            session, settings, name="Bench", category="hotel", scopes=["result"]
        ).api_key
    return app, key


def mint(app: Any, count: int) -> list[str]:
    """``count`` fresh presentation tokens of random seeded citizens (each usable once)."""
    from bot.credentials.tokens import mint_presentation

    settings, store = app.extensions["wangzheng.settings"], app.extensions["wangzheng.store"]
    tokens = []
    with app.extensions["wangzheng.db"].transaction() as session:
        for _ in range(count):
            index = random.randrange(verify_seed.CREDENTIALS)
            presentation = mint_presentation(
                session, store, settings,
                openid=verify_seed.openid(index), device_id=verify_seed.device(index),
            )  # fmt: skip
            tokens.append(presentation.token)
    return tokens


def timed(target: Any, arguments: list[tuple[Any, ...]], seconds: float) -> list[Any]:
    """Run ``target(*args, start, out)`` in one spawned process per ``args``; all start together
    (after every process is up, so start-up costs no phase time) and stop ``seconds`` later."""
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    start: Any = ctx.Value("d", 0.0)
    ready: Any = ctx.Barrier(len(arguments) + 1)
    procs = [ctx.Process(target=target, args=(*args, (start, ready), out)) for args in arguments]
    for proc in procs:
        proc.start()
    start.value = time.time() + 0.2
    ready.wait()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return results


def wait_for_start(gate: tuple[Any, Any], seconds: float) -> float:
    """Block until every process of the phase is up; the phase's deadline (perf_counter)."""
    start, ready = gate
    ready.wait()
    delay = start.value - time.time()
    if delay > 0:
        time.sleep(delay)
    return time.perf_counter() + seconds


class NoDelayConnection(http.client.HTTPConnection):
    """``http.client`` with ``TCP_NODELAY`` on every (re)connection, as curl, urllib3, Go's
    net/http and nginx's upstream connections have it: ``http.client`` writes a POST's headers
    and body separately, and with Nagle on the body waits for the server's delayed ACK."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def client(port: int, kind: str, key: str, tokens: list[str], seconds: float, pace: float,
           gate: tuple[Any, Any], out: Any) -> None:  # fmt: skip
    """One keep-alive client: send until the deadline (or tokens run out), record latencies.

    Without ``pace`` it is closed-loop: the next request goes as soon as the last is answered.
    With ``pace`` (the mean seconds between its requests) it is open-loop: its send times are a
    Poisson process (exponential gaps from its own random stream, so the clients are independent,
    as merchants are, not in step), and each latency runs from the scheduled send time, so a
    request held back by a slow one counts its wait (no coordinated omission).
    """
    conn = NoDelayConnection("127.0.0.1", port, timeout=10)
    deadline = wait_for_start(gate, seconds)
    arrivals = random.Random()  # seeded from the OS: each client process its own stream
    latencies: list[float] = []
    errors = 0
    index = 0
    next_at = time.perf_counter()
    while time.perf_counter() < deadline:
        if pace:
            next_at += arrivals.expovariate(1 / pace)
            if next_at >= deadline:
                break
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = next_at
        else:
            started = time.perf_counter()
        if kind == "healthz":
            conn.request("GET", "/healthz")
        elif kind == "floor":
            conn.request(
                "POST", "/floor", body=json.dumps({"token": tokens[index % len(tokens)]}),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )  # fmt: skip
            index += 1
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
        if response.status != 200 or (kind != "healthz" and b'"valid"' not in payload):
            errors += 1
    out.put((latencies, errors))


def server_cpu_s(master: int) -> float:
    """CPU seconds used so far by gunicorn: the master, its live workers, and the workers it
    has reaped (recycled after ``max_requests``), from /proc."""

    def times(pid: int) -> list[int]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return [int(value) for value in fields[11:15]]  # utime stime cutime cstime

    ticks = sum(times(master))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                ticks += sum(times(int(entry.name))[:2])
        except (OSError, ValueError):
            continue  # exited meanwhile: its time is now in the master's cutime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_phase(port: int, kind: str, key: str, tokens: list[str], seconds: float,
              rate: float = 0.0, master: int = 0) -> dict[str, float]:  # fmt: skip
    """One phase; with ``master`` (gunicorn's pid), also the server's CPU time per request."""
    share = max(1, len(tokens) // CLIENTS)
    pace = CLIENTS / rate if rate else 0.0
    arguments = [
        (port, kind, key, tokens[i * share : (i + 1) * share], seconds, pace)
        for i in range(CLIENTS)
    ]
    cpu_before = server_cpu_s(master) if master else 0.0
    results = timed(client, arguments, seconds)
    cpu_used = server_cpu_s(master) - cpu_before if master else 0.0
    elapsed = seconds
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(err for _, err in results)
    count = len(latencies)
    return {
        "rps": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if latencies else 0.0,
        "count": count,
        "errors": errors,
        "cpu_ms": cpu_used / count * 1000 if count else 0.0,
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


def public_jwk(app: Any) -> str:
    """The app's current presentation-signing public key, as a JWK (JSON)."""
    from bot.credentials.keys import public_jwks

    with app.extensions["wangzheng.db"].transaction() as session:
        return json.dumps(public_jwks(session)["keys"][0])


def essential_phase(app: Any, url: str) -> dict[str, float]:
    """The essential work in one plain loop per gunicorn worker; its summed rate."""
    verify_essential.prepare(url)
    token = mint(app, 1)[0]
    jwk = public_jwk(app)
    arguments = [
        (url, REDIS, token, jwk, verify_seed.CREDENTIALS, SECONDS) for _ in range(int(WORKERS))
    ]
    done = sum(timed(verify_essential.loop, arguments, SECONDS))
    return {"rps": done / SECONDS, "count": done}


def floor_phase(app: Any, url: str, key: str, module: str) -> dict[str, float]:
    """Peak throughput of ``bench/<module>.py`` (the essential work in a minimal view:
    ``verify_floor_app`` on plain Flask, ``verify_stack_floor_app`` on the mandated stack) on
    its own gunicorn, with the app's worker class, workers and threads."""
    verify_essential.prepare(url)
    jwk = public_jwk(app)
    port = free_port()
    env = {
        **os.environ, "FLOOR_DATABASE_URL": url, "FLOOR_REDIS_URL": REDIS, "FLOOR_JWK": jwk,
        "FLOOR_KEY": key, "FLOOR_CREDENTIALS": str(verify_seed.CREDENTIALS),
        "FLOOR_APP_ROOT": str(ROOT),
    }  # fmt: skip
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-k", "gthread", "-w", WORKERS,
         "--threads", THREADS, "-b", f"127.0.0.1:{port}", f"{module}:app"],
        cwd=BENCH, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        wait_ready(port)
        tokens = mint(app, 50)
        run_phase(port, "floor", key, tokens, 1.0)  # warm-up
        return run_phase(port, "floor", key, tokens, SECONDS, master=server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def round_trips(app: Any, key: str, samples: int = 20) -> tuple[float, str]:
    """Average round trips of one verify (warm caches), counted at the wire in this process."""
    spec = importlib.util.spec_from_file_location(
        "roundtrips", BENCH.parent / "storage" / "roundtrips.py"
    )
    assert spec and spec.loader
    counter = importlib.util.module_from_spec(spec)
    sys.modules["roundtrips"] = counter
    spec.loader.exec_module(counter)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    tokens = mint(app, samples + 1)
    client.post("/api/v1/verify", json={"token": tokens[0]}, headers=headers)
    with counter.counting() as seen:
        for token in tokens[1:]:
            answer = client.post("/api/v1/verify", json={"token": token}, headers=headers)
            assert answer.get_json()["result"] == "valid", answer.get_json()
    return (
        seen.total / samples,
        f"postgresql={seen.postgresql / samples:g} redis={seen.redis / samples:g}",
    )


def start_sealer(env: dict[str, str]) -> subprocess.Popen[bytes] | None:
    """``flask audit seal --every 1`` beside the app, when the app has a sealer."""
    probe = subprocess.run([*FLASK, "audit", "seal", "--help"], cwd=ROOT, env=env,
                           capture_output=True, check=False)  # fmt: skip
    if probe.returncode != 0:
        return None
    return subprocess.Popen([*FLASK, "audit", "seal", "--every", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def main() -> None:
    url, needs_rows = reset_database()
    # One instance directory for as long as the seeded database lives: its development secrets
    # sealed the signing key and the names stored there.
    instance = str(Path(tempfile.gettempdir()) / "wangzheng-bench-instance")
    port = free_port()
    env = environment(url, instance, port)
    app, key = seed(env, url, needs_rows)
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    sealer = start_sealer(env)
    try:
        wait_ready(port)
        run_phase(port, "healthz", key, [], 1.0)  # warm-up
        run_phase(port, "verify", key, mint(app, 300), 1.0)
        bare = run_phase(port, "healthz", key, [], SECONDS, master=server.pid)
        essential = essential_phase(app, url)
        budget = int(max(essential["rps"], 500) * SECONDS * 1.2)
        sealer_cpu = server_cpu_s(sealer.pid) if sealer else 0.0
        peak = run_phase(port, "verify", key, mint(app, budget), SECONDS, master=server.pid)
        if sealer is not None:
            sealer_cpu = server_cpu_s(sealer.pid) - sealer_cpu
        half_rate = peak["rps"] / 2
        paced = run_phase(
            port, "verify", key, mint(app, int(half_rate * SECONDS * 1.5) + CLIENTS),
            SECONDS, half_rate, server.pid,
        )  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if sealer is not None:
            os.killpg(sealer.pid, signal.SIGTERM)
            sealer.wait(timeout=30)
    floor = floor_phase(app, url, key, "verify_floor_app")
    stack_floor = floor_phase(app, url, key, "verify_stack_floor_app")
    trips, split = round_trips(app, key)
    load = os.getloadavg()
    print(f"machine: nproc={os.cpu_count()} load={load[0]:.1f},{load[1]:.1f},{load[2]:.1f} "
          f"workers={WORKERS} threads={THREADS} clients={CLIENTS} app={ROOT} "
          f"data: {verify_seed.shape()} sealer={'on' if sealer else 'none'}")  # fmt: skip
    phases = (("bare peak", bare), ("floor peak", floor), ("stack floor", stack_floor),
              ("verify peak", peak), ("verify @50%", paced))  # fmt: skip
    for name, phase in phases:
        print(
            f"{name:13s} rps={phase['rps']:8.1f} p50_ms={phase['p50_ms']:6.2f} "
            f"p99_ms={phase['p99_ms']:6.2f} n={phase['count']:.0f} errors={phase['errors']:.0f} "
            f"server_cpu_ms_per_request={phase['cpu_ms']:.2f}"
        )
    print(f"sealer        cpu_ms_per_verify={sealer_cpu / max(peak['count'], 1) * 1000:.2f} "
          "(flask audit seal, beside gunicorn, during verify peak)")  # fmt: skip
    print(f"essential     rps={essential['rps']:8.1f} n={essential['count']:.0f} "
          f"({WORKERS} plain processes)")  # fmt: skip
    print(f"round trips per verify: {trips:g} ({split})")
    print(
        f"verify_bench rps={peak['rps']:.1f} ratio_to_bare={peak['rps'] / bare['rps']:.2f} "
        f"ratio_to_essential={peak['rps'] / essential['rps']:.2f} round_trips={trips:g} "
        f"p99_ms={paced['p99_ms']:.2f} p99_at_rps={paced['rps']:.1f} "
        f"cpu_ratio_to_bare={bare['cpu_ms'] / peak['cpu_ms']:.2f} "
        f"floor_ratio_to_bare={floor['rps'] / bare['rps']:.2f} "
        f"ratio_to_floor={peak['rps'] / floor['rps']:.2f} "
        f"stack_floor_ratio_to_bare={stack_floor['rps'] / bare['rps']:.2f} "
        f"stack_floor_cpu_ratio_to_bare={bare['cpu_ms'] / stack_floor['cpu_ms']:.2f} "
        f"ratio_to_stack_floor={peak['rps'] / stack_floor['rps']:.2f} load1={load[0]:.1f}"
    )


if __name__ == "__main__":
    main()
