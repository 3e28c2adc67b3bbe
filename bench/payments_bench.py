"""Benchmark of non-tax payments under gunicorn (not a test): bill import, pay-order creation,
and payment-notification handling, against the WeChat Pay emulator over real HTTP.

Uses PostgreSQL (its own database ``wangzheng_bench_pay``, created and reset here) and Redis
db 14, never the test databases. The emulator runs in this process on a loopback port with its
own platform key; gunicorn gets a real merchant configuration pointing at it (so nothing is
mounted in the workers). Phases:

1. ``POST /api/v1/agency/bills/batch``, ``BENCH_BILLS`` bills in batches of 200 → bills/s;
2. ``POST /api/v1/me/bills/{id}/pay`` for ``BENCH_PAYERS`` citizens (each its own credential
   and bill) from ``BENCH_CLIENTS`` threads → p50/p95 (includes the JSAPI order at the emulator:
   its RSA signature check, our response-signature check, and the paySign);
3. the signed, encrypted TRANSACTION.SUCCESS notification of each order, POSTed to
   ``/api/v1/payments/notify`` from ``BENCH_CLIENTS`` threads → p50/p95 (signature check, AES-GCM
   decryption, the order checks and the bill update).

Environment: ``BENCH_PG`` (default postgresql://postgres@127.0.0.1:5432), ``BENCH_REDIS``
(redis://127.0.0.1:6379/14), ``BENCH_BILLS`` (5000), ``BENCH_PAYERS`` (200), ``BENCH_CLIENTS``
(4), ``BENCH_WORKERS`` (2), ``BENCH_THREADS`` (4). Last line:
``payments_bench bills_per_s=... pay_p50_ms=... pay_p95_ms=... notify_p50_ms=...
notify_p95_ms=... errors=...``.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.verify_bench import free_port, wait_ready  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
BILLS = int(os.environ.get("BENCH_BILLS", "5000"))
PAYERS = int(os.environ.get("BENCH_PAYERS", "200"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
WORKERS = os.environ.get("BENCH_WORKERS", "2")
THREADS = os.environ.get("BENCH_THREADS", "4")
DB_NAME = "wangzheng_bench_pay"
BATCH = 200
SERIAL = "6B2A4E1F0C9D8B7A6F5E4D3C2B1A0F9E8D7C6B5A"


def reset_database() -> str:
    """(Re)create the bench database and its tables; returns its URL."""
    import psycopg
    import redis

    from storage.db import Database
    from storage.models import Base

    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    url = f"{PG}/{DB_NAME}"
    database = Database(url)
    Base.metadata.create_all(database.engine)
    database.dispose()
    redis.Redis.from_url(REDIS).flushdb()
    return url


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile of ``values`` in ms (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else 0.0


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float]:
    """One POST on a fresh connection; (status, body, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, payload, elapsed


def main() -> None:
    from bot.identity.idnumber import make_id_number
    from bot.wechat.config import DEV_APP_ID
    from bot.wechat.emulator import serve
    from bot.wechat.emulator.pay import PayEmulator
    from bot.wechat.emulator.paysign import new_rsa_key, private_pem
    from bot.wechat.payconfig import DEV_APIV3_KEY, DEV_MCH_ID, NOTIFY_PATH

    url = reset_database()
    instance = Path(tempfile.mkdtemp(prefix="wangzheng-bench-pay-"))
    key_file = instance / "apiclient_key.pem"
    pem = private_pem(new_rsa_key())
    key_file.write_text(pem)
    emulator = PayEmulator(DEV_MCH_ID, DEV_APP_ID, DEV_APIV3_KEY, SERIAL, pem)
    running = serve(emulator)
    port = free_port()
    env = {
        **os.environ,
        "WANGZHENG_ENV": "development",
        "WANGZHENG_INSTANCE_PATH": str(instance),
        "WANGZHENG_DATABASE_URL": url,
        "WANGZHENG_REDIS_URL": REDIS,
        "WANGZHENG_LOG_LEVEL": "WARNING",
        "WANGZHENG_BIND": f"127.0.0.1:{port}",
        "WANGZHENG_WORKERS": WORKERS,
        "WANGZHENG_THREADS": THREADS,
        "WANGZHENG_WECHAT_OUTBOX_DISPATCH": "off",
        "WANGZHENG_PAYMENTS_ENABLED": "true",
        "WANGZHENG_WECHAT_PAY_MCH_ID": DEV_MCH_ID,
        "WANGZHENG_WECHAT_PAY_APP_ID": DEV_APP_ID,
        "WANGZHENG_WECHAT_PAY_APIV3_KEY": DEV_APIV3_KEY,
        "WANGZHENG_WECHAT_PAY_CERT_SERIAL_NO": SERIAL,
        "WANGZHENG_WECHAT_PAY_PRIVATE_KEY_FILE": str(key_file),
        "WANGZHENG_WECHAT_PAY_API_BASE": running.base_url,
        "WANGZHENG_WECHAT_PAY_NOTIFY_URL": f"http://127.0.0.1:{port}{NOTIFY_PATH}",
    }
    os.environ.update(env)
    from bot import create_app
    from bot.credentials.service import issue_credential
    from bot.devices.sessions import open_session
    from bot.extensions import database, settings
    from bot.identity.importer import fill_record
    from bot.payments.agencies import create_agency
    from bot.payments.catalogue import DEMO_CATALOGUE, import_items, read_catalogue

    app = create_app()
    import_items(database(app), read_catalogue(DEMO_CATALOGUE))
    with database(app).transaction() as session:
        _agency, agency_key = create_agency(session, settings(app), "广东省教育考试院")
    payers: list[tuple[str, str, str]] = []  # (id number, openid, access token)
    expires_on = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3650)
    for index in range(PAYERS):
        number = make_id_number("440106", dt.date(1990, 1, 1) + dt.timedelta(days=index), 7)
        openid = f"o-bench-{index}"
        with database(app).transaction() as session:
            subject, _ = fill_record(session, settings(app), number, "张三明", expires_on,
                                     b"not-a-photo", "0" * 64, record=None)  # fmt: skip
            session.flush()
            tokens = open_session(session, openid=openid, unionid=None, device_id=f"d-{index}")
            issue_credential(
                session, subject_id=subject.id, level="light", openid=openid, device_id=f"d-{index}"
            )
        payers.append((number, openid, tokens.access_token))
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    errors = 0
    try:
        wait_ready(port)
        agency_headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {agency_key}",
        }

        def bill(ref: int, number: str) -> dict[str, Any]:
            return {
                "item_code": "GD-GAOKAO-EXAM", "payer_id_number": number, "payer_name": "张三明",
                "amount_fen": 16000, "due_on": "2027-06-01", "agency_ref": f"B-{ref}",
            }  # fmt: skip

        rows = [
            bill(i, payers[i][0] if i < PAYERS else payers[i % PAYERS][0]) for i in range(BILLS)
        ]
        bill_ids: dict[str, str] = {}
        started = time.perf_counter()
        for offset in range(0, BILLS, BATCH):
            body = json.dumps({"bills": rows[offset : offset + BATCH]}).encode()
            status, payload, _ = post(port, "/api/v1/agency/bills/batch", body, agency_headers)
            answer = json.loads(payload)
            if status != 200 or answer["failed"]:
                errors += 1
            for result in answer.get("results", []):
                if result.get("bill"):
                    bill_ids[result["bill"]["agency_ref"]] = result["bill"]["id"]
        bills_per_s = BILLS / (time.perf_counter() - started)

        def pay(index: int) -> tuple[int, str, float]:
            _number, _openid, token = payers[index]
            path = f"/api/v1/me/bills/{bill_ids[f'B-{index}']}/pay"
            status, payload, elapsed = post(port, path, b"", {"Authorization": f"Bearer {token}"})
            return status, json.loads(payload).get("out_trade_no", ""), elapsed

        pay(0)  # warm-up: the workers fetch the platform certificates once
        pay(1)
        with ThreadPoolExecutor(CLIENTS) as pool:
            paid = list(pool.map(pay, range(2, PAYERS)))
        errors += sum(status != 200 for status, _, _ in paid)
        pay_latencies = [elapsed for _, _, elapsed in paid]

        def notify(item: tuple[int, tuple[int, str, float]]) -> tuple[int, float]:
            index, (_status, out_trade_no, _elapsed) = item
            emulator.pay(out_trade_no, payers[index][1], notify=False)
            headers, body = emulator.transaction_notification(out_trade_no)
            status, _payload, elapsed = post(port, NOTIFY_PATH, body.encode(), headers)
            return status, elapsed

        with ThreadPoolExecutor(CLIENTS) as pool:
            notified = list(pool.map(notify, enumerate(paid, start=2)))
        errors += sum(status != 200 for status, _ in notified)
        notify_latencies = [elapsed for _, elapsed in notified]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        running.stop()
    from sqlalchemy import func, select

    from storage.models.bill import Bill

    with database(app).transaction() as session:
        paid_bills = session.scalar(select(func.count()).where(Bill.status == "paid"))
    print(f"machine: nproc={os.cpu_count()} workers={WORKERS} threads={THREADS} clients={CLIENTS}")
    print(f"bills imported: {BILLS} in batches of 200 -> {bills_per_s:.1f} bills/s")
    print(
        f"pay orders: n={len(pay_latencies)} p50_ms={statistics.median(pay_latencies) * 1000:.1f} "
        f"p95_ms={percentile(pay_latencies, 0.95):.1f}"
    )
    print(
        f"notifications: n={len(notify_latencies)} "
        f"p50_ms={statistics.median(notify_latencies) * 1000:.1f} "
        f"p95_ms={percentile(notify_latencies, 0.95):.1f} bills paid={paid_bills}"
    )
    print(
        f"payments_bench bills_per_s={bills_per_s:.1f} "
        f"pay_p50_ms={statistics.median(pay_latencies) * 1000:.1f} "
        f"pay_p95_ms={percentile(pay_latencies, 0.95):.1f} "
        f"notify_p50_ms={statistics.median(notify_latencies) * 1000:.1f} "
        f"notify_p95_ms={percentile(notify_latencies, 0.95):.1f} errors={errors}"
    )


if __name__ == "__main__":
    main()
