"""The citizen's history at size: ``GET /api/v1/me/history`` for a citizen with a long past
(not a test).

Builds an app on ``--database-url`` (default: SQLite in a temporary directory; give the URL of an
*empty, throwaway* PostgreSQL database to measure there: the tables are created in it), one
citizen with ``--lines`` lifecycle lines (written by the real subscribers, one transaction per
100 events) and ``--verifications`` verification audit rows of their credential, then times the
first page (``limit=20``) ``--repeat`` times and one walk over every page at ``limit=100``
through the Flask test client (authentication included). The citizen's session and registry
record are made by the product's own services (``open_session``, ``fill_record``), never by the
tests' helpers: the session is opened directly, without a device-key proof, which the history
does not ask for. Last line:
``history_bench lines=... verifications=... first_page_p50_ms=... first_page_p95_ms=...
walk_pages=... walk_ms=...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import create_app  # noqa: E402
from bot.credentials.service import issue_credential  # noqa: E402
from bot.devices.sessions import open_session  # noqa: E402
from bot.events import UnlockVerified, record  # noqa: E402
from bot.extensions import database, settings  # noqa: E402
from bot.identity.idnumber import make_id_number  # noqa: E402
from bot.identity.importer import fill_record  # noqa: E402
from bot.merchants.accounts import create_merchant  # noqa: E402
from bot.vocab import Level  # noqa: E402
from storage.models import Base  # noqa: E402
from storage.models.merchant import Merchant  # noqa: E402
from storage.models.verification_audit import VerificationAudit  # noqa: E402

SUBJECT_ID_NUMBER = make_id_number("110101", dt.date(1990, 3, 7), 123)


def main() -> None:
    """Build the citizen's past, then time the pages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--verifications", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="history-bench-"))
    url = args.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    app = create_app({"env": "testing", "instance_path": work, "database_url": url,
                      "log_level": "WARNING", "wechat_outbox_dispatch": "off"})  # fmt: skip
    db = database(app)
    Base.metadata.create_all(db.engine)
    with db.transaction() as session:
        tokens = open_session(session, openid="o-bench", unionid=None, device_id="dev-bench",
                              device_model="Bench Phone")  # fmt: skip
        subject, _ = fill_record(session, settings(app), SUBJECT_ID_NUMBER, "张三明",
                                 dt.date(2036, 12, 31), b"not-a-photo", "0" * 64,
                                 record=None)  # fmt: skip
        session.flush()
    with db.transaction() as session:
        issued = issue_credential(session, subject_id=subject.id, level=Level.LIGHT,
                                  openid="o-bench", device_id="dev-bench")  # fmt: skip
        create_merchant(session, settings(app), name="Bench Inn", category="hotel",
                        scopes=["result"])  # fmt: skip
    for start in range(0, args.lines, 100):
        with db.transaction() as session:
            for _ in range(min(100, args.lines - start)):
                record(session, UnlockVerified(tokens.citizen_id, "fingerprint", "Bench Phone"))
    with db.transaction() as session:
        merchant_id = session.query(Merchant.id).filter(Merchant.name == "Bench Inn").scalar()
        session.add_all(
            VerificationAudit(merchant_id=merchant_id, credential_id=issued.credential_id,
                              result="valid", scope="result", client_ip_hash="0" * 64)
            for _ in range(args.verifications)
        )  # fmt: skip
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        answer = client.get("/api/v1/me/history?limit=20", headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200 and len(answer.get_json()["entries"]) == 20
    started = time.perf_counter()
    cursor, pages, seen = None, 0, 0
    while True:
        query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/me/history", headers=headers, query_string=query).get_json()
        pages, seen, cursor = pages + 1, seen + len(body["entries"]), body["next_cursor"]
        if cursor is None:
            break
    walk_ms = (time.perf_counter() - started) * 1000
    total = args.lines + args.verifications + 1  # + the issuance line
    assert seen == total, (seen, total)
    p95 = sorted(timings)[int(len(timings) * 0.95) - 1]
    print(
        f"history_bench lines={args.lines + 1} verifications={args.verifications} "
        f"first_page_p50_ms={statistics.median(timings):.1f} first_page_p95_ms={p95:.1f} "
        f"walk_pages={pages} walk_ms={walk_ms:.0f}"
    )
    db.dispose()


if __name__ == "__main__":
    main()
