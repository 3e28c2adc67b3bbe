"""Load: a realistic mix for a bounded time against gunicorn, PostgreSQL and Redis (not a test).

Starts gunicorn (development, so the WeChat emulator is mounted and ``dev:<name>`` login codes
work) on a free port against ``LOAD_DATABASE_URL`` and ``LOAD_REDIS_URL``, migrated first with
``flask --app wsgi db upgrade`` (the database's tables and the Redis db are wiped first: give it a
database of its own). Seeds citizens with credentials, merchants and one registry record with a
real photo, then runs for ``--seconds``:

- citizen clients: log in through the emulator, then loop: fetch a presentation token, have a
  merchant (round robin over ``--merchants``) verify it, refresh the session every 10 rounds and
  log in again every 100; one
  token in ``--replay-every`` is presented by two merchants at once (at most one may be valid);
- one enrolment client: liveness challenge and ``POST /api/v1/enrollments/light`` with two real
  frames, every ``--enrol-every`` seconds.

``--rate`` paces verifications (per second, over all clients; 0 = as fast as they go).
Afterwards it reads the audit table: every ``valid`` answer must have its audit row with result
valid, and no ``jti_digest`` may appear twice. Reports count, p50 and p99 per endpoint; the last
line is machine-readable:
``load double_accepts=0 errors=0 verify_p50_ms=... verify_p99_ms=... rps=...``.

Run: ``.venv/bin/python bench/load.py --seconds 60 --rate 50``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("LOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test_h10")
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/10")
CACHE = ROOT / ".cache"
# Real frames of one head turn (bot.demo.photos.TURN_FRAMES), as bench/enrol_bench.py uses them;
# each enrolment is for its own holder, since liveness refuses a turned frame already sent for a
# subject (reused_frame).
FRAMES = {"left": ("turn_342.jpg", "turn_360.jpg"), "right": ("turn_051.jpg", "turn_018.jpg")}
HOLDER = "林晓雯"
ENROL_HOLDERS = 40
# The emulator is served by the same gunicorn threads a login waits in: logins that all arrive at
# once would hold every thread while their jscode2session calls queue behind them (a test-bench
# artefact: production WeChat is elsewhere). Clients start their login this far apart.
LOGIN_STAGGER_S = 0.25


def free_port() -> int:
    """A free TCP port on the loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; 0 when empty."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def environment(port: int, instance: str, workers: int, threads: int) -> dict[str, str]:
    """The gunicorn and seeding environment."""
    return {
        **os.environ,
        "WANGZHENG_ENV": "development",
        "WANGZHENG_INSTANCE_PATH": instance,
        "WANGZHENG_DATABASE_URL": DATABASE_URL,
        "WANGZHENG_REDIS_URL": REDIS_URL,
        "WANGZHENG_LOG_LEVEL": "WARNING",
        "WANGZHENG_MERCHANT_RATE_LIMIT_PER_MIN": "1000000",
        # Every virtual phone comes from 127.0.0.1: one real address would not sign in this often.
        "WANGZHENG_LOGIN_NONCE_PER_CLIENT_PER_MIN": "1000000",
        "WANGZHENG_ENROL_MAX_FAILURES_PER_OPENID": "1000000",
        "WANGZHENG_FACE_MODEL_ROOT": str(CACHE / "face"),
        "WANGZHENG_FACE_LIVENESS_STEPS": "1",
        "WANGZHENG_BIND": f"127.0.0.1:{port}",
        "WANGZHENG_WORKERS": str(workers),
        "WANGZHENG_THREADS": str(threads),
        "WANGZHENG_WECHAT_OUTBOX_DISPATCH": "off",
    }


def reset_and_migrate(env: dict[str, str]) -> None:
    """Empty the database and the Redis db, then migrate with Alembic."""
    import psycopg
    import redis

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    redis.Redis.from_url(REDIS_URL).flushdb()
    flask = str(ROOT / ".venv" / "bin" / "flask")
    subprocess.run([flask, "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True)


def seed(env: dict[str, str], citizens: int, merchants: int) -> dict[str, Any]:
    """Citizens with credentials, merchants, and the enrolment subject (a real photo)."""
    os.environ.update(env)
    from bot import create_app
    from bot.credentials.service import issue_credential
    from bot.demo.photos import fetch_sample_photos
    from bot.devices.sessions import open_session
    from bot.identity.idnumber import make_id_number
    from bot.identity.importer import fill_record, import_records
    from bot.identity.registry import engine_embedder
    from bot.merchants.accounts import create_merchant

    app = create_app()
    settings = app.extensions["wangzheng.settings"]
    emulator = app.extensions["wangzheng.wechat.emulator"]
    names = [f"load-{index}" for index in range(citizens + 1)]  # the last one enrols
    expires_on = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3650)
    for index, name in enumerate(names[:-1]):
        number = make_id_number("110101", dt.date(1980, 1, 1) + dt.timedelta(days=index), index)
        openid, device = emulator.openid_for(name), f"load-device-{index}"
        with app.extensions["wangzheng.db"].transaction() as session:
            subject, _ = fill_record(session, settings, number, f"负载{index}", expires_on,
                                     b"not-a-photo", "0" * 64, record=None)  # fmt: skip
            session.flush()
            open_session(session, openid=openid, unionid=None,
                         device_id=device)  # fmt: skip
            issue_credential(session, subject_id=subject.id, level="light", openid=openid,
                             device_id=device)  # fmt: skip
    keys = []
    with app.extensions["wangzheng.db"].transaction() as session:
        for index in range(merchants):
            keys.append(create_merchant(session, settings, name=f"Load merchant {index}",
                                        category="hotel", scopes=["result"]).api_key)  # fmt: skip
    photos = fetch_sample_photos(CACHE / "testdata")
    holders = [make_id_number("110101", dt.date(1990, 1, 1) + dt.timedelta(days=n), 100 + n)
               for n in range(ENROL_HOLDERS)]  # fmt: skip
    rows = [(2 + n, {"id_number": number, "name": HOLDER, "photo": "turn_264.jpg",
                     "expires_on": "2036-01-01"}) for n, number in enumerate(holders)]  # fmt: skip
    report = import_records(app.extensions["wangzheng.db"], settings, rows, photos,
                            engine_embedder(settings))  # fmt: skip
    assert report.created == ENROL_HOLDERS, report
    return {"names": names, "keys": keys, "photos": str(photos), "holders": holders}


class Recorder:
    """Latencies and errors per endpoint, thread-safe, shipped back as plain dicts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.valid = 0
        self.double_accepts = 0
        self.examples: list[str] = []

    def note(self, endpoint: str, started: float, ok: bool, detail: str = "") -> None:
        """Record one call."""
        with self.lock:
            self.latencies.setdefault(endpoint, []).append(time.perf_counter() - started)
            if not ok:
                self.errors[endpoint] = self.errors.get(endpoint, 0) + 1
                if len(self.examples) < 5:
                    self.examples.append(f"{endpoint}: {detail[:200].strip()}")

    def dump(self) -> dict[str, Any]:
        """A picklable summary."""
        return {"latencies": self.latencies, "errors": self.errors, "valid": self.valid,
                "double_accepts": self.double_accepts, "examples": self.examples}  # fmt: skip


def call(session: Any, recorder: Recorder, endpoint: str, method: str, url: str,
         expect: int, timeout: float = 15, **kwargs: Any) -> Any:  # fmt: skip
    """One request; records latency, and an error for any other status or a failure."""
    started = time.perf_counter()
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a refused or timed-out call is an error to count
        recorder.note(endpoint, started, False, repr(exc))
        return None
    recorder.note(endpoint, started, response.status_code == expect, response.text)
    return response.json() if response.status_code == expect else None


def present(base: str, token: str, keys: list[str], http: Any, recorder: Recorder) -> list[Any]:
    """Present one token to each merchant key at once (one thread each); their answers."""
    import requests

    answers: list[Any] = [None] * len(keys)

    def verify(slot: int) -> None:
        headers = {"Authorization": f"Bearer {keys[slot]}"}
        answers[slot] = call(http if slot == 0 else requests.Session(), recorder, "verify",
                             "POST", f"{base}/api/v1/verify", 200, json={"token": token},
                             headers=headers)  # fmt: skip

    threads = [threading.Thread(target=verify, args=(slot,)) for slot in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


_PHONES: dict[str, Any] = {}  # device id -> its install's key pair (tests/kit/device.py)


def log_in(http: Any, recorder: Recorder, base: str, name: str, device: str) -> Any:
    """Log in through the emulator's ``dev:`` code, signing a fresh nonce with the device's
    key as the mini-program does; the tokens, or None."""
    from tests.kit.device import TestDevice

    phone = _PHONES.setdefault(device, TestDevice(device))
    nonce = call(http, recorder, "login_nonce", "POST", f"{base}/api/v1/mp/login/nonce", 201)
    if nonce is None:
        return None
    proof = {"nonce": nonce["nonce"], "signature": phone.sign(nonce["nonce"])}
    proof["public_key"] = base64.b64encode(phone.public_key_der).decode()
    login = {"code": f"dev:{name}", "device": {"device_id": device}, "device_key": proof}
    return call(http, recorder, "login", "POST", f"{base}/api/v1/mp/login", 200, json=login)


def citizen(base: str, index: int, name: str, keys: list[str], start: Any, seconds: float,
            pace: float, replay_every: int, out: Any) -> None:  # fmt: skip
    """One citizen's loop: login, then mint + verify (+ refresh), paced."""
    import requests

    http, recorder = requests.Session(), Recorder()
    start.wait()
    deadline = time.perf_counter() + seconds
    time.sleep(index * LOGIN_STAGGER_S)
    tokens = log_in(http, recorder, base, name, f"load-device-{index}")
    rounds, next_at = 0, time.perf_counter()
    while tokens and time.perf_counter() < deadline:
        if pace:
            next_at += pace
            time.sleep(max(0.0, next_at - time.perf_counter()))
        rounds += 1
        if rounds % 100 == 0:  # the mini-program starts again: wx.login, a new session
            tokens = log_in(http, recorder, base, name, f"load-device-{index}")
            if not tokens:
                break
        elif rounds % 10 == 0:
            body = {"refresh_token": tokens["refresh_token"]}
            tokens = call(http, recorder, "refresh", "POST", f"{base}/api/v1/mp/refresh", 200,
                          json=body)  # fmt: skip
            if not tokens:
                break
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        mint_url = f"{base}/api/v1/credentials/current/presentations"
        minted = call(http, recorder, "presentation", "POST", mint_url, 201, headers=bearer)
        if not minted:
            continue
        presenters = 2 if replay_every and rounds % replay_every == 0 else 1
        chosen = [keys[(index + rounds + slot) % len(keys)] for slot in range(presenters)]
        answers = present(base, minted["token"], chosen, http, recorder)
        valid = sum(1 for answer in answers if answer and answer.get("result") == "valid")
        recorder.valid += valid
        recorder.double_accepts += max(0, valid - 1)
        if valid == 0:  # a fresh token from the bound device must pass once
            recorder.note("verify-not-valid", time.perf_counter(), False, json.dumps(answers))
    out.put(recorder.dump())


def enroller(base: str, name: str, photos: str, holders: list[str], start: Any, seconds: float,
             every: float, out: Any) -> None:  # fmt: skip
    """A few light enrolments with real frames, one every ``every`` seconds."""
    import requests

    http, recorder = requests.Session(), Recorder()
    start.wait()
    deadline = time.perf_counter() + seconds
    tokens = log_in(http, recorder, base, name, "load-device-enrol")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"} if tokens else {}
    pending = list(holders)
    while tokens and pending and time.perf_counter() < deadline:
        challenge = call(http, recorder, "challenge", "POST",
                         f"{base}/api/v1/liveness/challenges", 201, headers=bearer)  # fmt: skip
        if challenge:
            frames = [("frames", (frame, (Path(photos) / frame).read_bytes(), "image/jpeg"))
                      for frame in FRAMES[challenge["steps"][0]]]  # fmt: skip
            data = {"name": HOLDER, "id_number": pending.pop(0),
                    "challenge_id": challenge["challenge_id"]}  # fmt: skip
            call(http, recorder, "enrol", "POST", f"{base}/api/v1/enrollments/light", 201,
                 data=data, files=frames, headers=bearer, timeout=60)  # fmt: skip
        time.sleep(max(0.0, min(every, deadline - time.perf_counter())))
    out.put(recorder.dump())


def audit_counts() -> tuple[int, int, int]:
    """(rows with result valid, rows carrying a single-use mark, marks seen more than once)."""
    import psycopg

    with psycopg.connect(DATABASE_URL) as conn:
        valid = conn.execute(
            "SELECT count(*) FROM verification_audits WHERE result = 'valid'"
        ).fetchone()
        marked = conn.execute(
            "SELECT count(*) FROM verification_audits WHERE jti_digest IS NOT NULL"
        ).fetchone()
        doubled = conn.execute(
            "SELECT count(*) FROM (SELECT jti_digest FROM verification_audits WHERE jti_digest"
            " IS NOT NULL GROUP BY jti_digest HAVING count(*) > 1) AS d"
        ).fetchone()
    assert valid and marked and doubled
    return int(valid[0]), int(marked[0]), int(doubled[0])


def wait_ready(base: str) -> None:
    """Wait until gunicorn answers /healthz."""
    import requests

    for _ in range(300):
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, start gunicorn, run the mix, stop; returns the merged figures."""
    port, instance = free_port(), tempfile.mkdtemp(prefix="wangzheng-load-")
    env = environment(port, instance, args.workers, args.threads)
    reset_and_migrate(env)
    seeded = seed(env, args.clients, args.merchants)
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    try:
        wait_ready(base)
        parties = args.clients + (1 if args.enrol_every else 0)
        start = ctx.Barrier(parties + 1)  # the clock starts once every client has imported
        pace = args.clients / args.rate if args.rate else 0.0
        procs = [
            ctx.Process(target=citizen, args=(base, i, seeded["names"][i], seeded["keys"],
                                              start, args.seconds, pace, args.replay_every, queue))
            for i in range(args.clients)
        ]  # fmt: skip
        if args.enrol_every:
            procs.append(ctx.Process(target=enroller, args=(
                base, seeded["names"][-1], seeded["photos"], seeded["holders"], start,
                args.seconds, args.enrol_every, queue)))  # fmt: skip
        for proc in procs:
            proc.start()
        start.wait()
        started = time.perf_counter()
        results = [queue.get(timeout=args.seconds + 120) for _ in procs]
        for proc in procs:
            proc.join()
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    merged: dict[str, Any] = {"latencies": {}, "errors": {}, "valid": 0, "double_accepts": 0,
                              "examples": [], "elapsed": elapsed}  # fmt: skip
    for result in results:
        for endpoint, values in result["latencies"].items():
            merged["latencies"].setdefault(endpoint, []).extend(values)
        for endpoint, count in result["errors"].items():
            merged["errors"][endpoint] = merged["errors"].get(endpoint, 0) + count
        for field in ("valid", "double_accepts"):
            merged[field] += result[field]
        merged["examples"].extend(result["examples"])
    return merged


def main() -> None:
    """Parse the options, run, print the report and the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50, help="verify/s over all clients (0=max)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--merchants", type=int, default=4)
    parser.add_argument("--replay-every", type=int, default=10)
    parser.add_argument("--enrol-every", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    merged = run(args)
    audit_valid, audit_marked, doubled_marks = audit_counts()
    # A double accept: one token valid twice to the clients, or a valid answer with no valid audit
    # row, or one mark in two rows. Audit rows without an answer (client timeouts) are not.
    double_accepts = merged["double_accepts"] + doubled_marks
    missing_audit = max(0, merged["valid"] - audit_valid)
    calls = sum(len(v) for k, v in merged["latencies"].items() if k != "verify-not-valid")
    errors = sum(merged["errors"].values())
    print(f"machine: nproc={os.cpu_count()} workers={args.workers} threads={args.threads} "
          f"clients={args.clients}+{1 if args.enrol_every else 0} merchants={args.merchants} "
          f"seconds={merged['elapsed']:.1f} target_rate={args.rate}")  # fmt: skip
    for endpoint, values in sorted(merged["latencies"].items()):
        if endpoint == "verify-not-valid":
            continue
        print(f"{endpoint:13s} n={len(values):6d} rps={len(values) / merged['elapsed']:7.1f} "
              f"p50_ms={percentile(values, 50) * 1000:7.1f} "
              f"p99_ms={percentile(values, 99) * 1000:7.1f} "
              f"errors={merged['errors'].get(endpoint, 0)}")  # fmt: skip
    print(
        f"audit: valid answers={merged['valid']} audit rows valid={audit_valid} "
        f"marked={audit_marked} marks twice={doubled_marks} valid without audit={missing_audit}"
    )
    for example in merged["examples"]:
        print(f"error example: {example}")
    verify = merged["latencies"].get("verify", [])
    print(f"load double_accepts={double_accepts + missing_audit} errors={errors} "
          f"verify_p50_ms={percentile(verify, 50) * 1000:.1f} "
          f"verify_p99_ms={percentile(verify, 99) * 1000:.1f} "
          f"verify_rps={len(verify) / merged['elapsed']:.1f} "
          f"rps={calls / merged['elapsed']:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
