"""The terminal visit end to end, and the counter check (verify plus face), through the app.

Flask test client, SQLite and the SQL store (as ``bench/enrol_bench.py``), the real face engine
and real photos. Each round of the terminal flow is one whole visit, timed from the signed
``POST /api/v1/terminal/sessions`` to the ``201`` of the card: open, claim, set the password
(argon2id), poll, post the chip data (a 102 x 126 chip photo of Obama) with a live capture (another
Obama photo) matched against it. Each round of the counter check mints a presentation (not timed)
and times ``POST /api/v1/verify/face`` with a live photo against the holder's registry reference.
The citizen signs in through the product's ``sign_in`` with a real device-key proof (minting asks
for a proven device); the terminal and the phone's key pair come from ``tests.kit``, never the
rest of ``tests``.
Last line:
``terminal_bench visit_p50_ms=... visit_p95_ms=... counter_p50_ms=... counter_p95_ms=...``.

Run: ``.venv/bin/python bench/terminal_bench.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import create_app  # noqa: E402
from bot.demo.chip import chip_photo  # noqa: E402
from bot.demo.photos import fetch_sample_photos  # noqa: E402
from bot.devices.keys import DeviceProof, new_login_nonce  # noqa: E402
from bot.devices.rules import sign_in  # noqa: E402
from bot.face.service import get_engine  # noqa: E402
from bot.identity.idnumber import make_id_number  # noqa: E402
from bot.identity.importer import import_records  # noqa: E402
from bot.identity.registry import engine_embedder  # noqa: E402
from bot.merchants.accounts import create_merchant  # noqa: E402
from bot.merchants.counter import set_capabilities  # noqa: E402
from storage.models import Base  # noqa: E402
from tests.kit.device import TestDevice  # noqa: E402
from tests.kit.terminal import new_terminal  # noqa: E402

CACHE = ROOT / ".cache"
HOLDER, HOLDER_ID = "欧巴马", make_id_number("110101", dt.date(1961, 8, 4), 101)
EXPIRY = "2036-12-31"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(label: str, values: list[float]) -> str:
    """One line of figures."""
    p50, p95, mean = percentile(values, 50), percentile(values, 95), statistics.fmean(values)
    return f"{label}: n={len(values)} p50 {p50:.1f} ms, p95 {p95:.1f} ms, mean {mean:.1f} ms"


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    photos = fetch_sample_photos(CACHE / "testdata")
    workdir = Path(tempfile.mkdtemp(prefix="terminal-bench-"))
    app = create_app({"env": "testing", "instance_path": workdir,
                      "database_url": f"sqlite:///{workdir / 'bench.sqlite3'}",
                      "face_model_root": CACHE / "face", "log_level": "WARNING",
                      "merchant_rate_limit_per_min": 100_000})  # fmt: skip
    database, settings = app.extensions["wangzheng.db"], app.extensions["wangzheng.settings"]
    Base.metadata.create_all(database.engine)
    row = {"id_number": HOLDER_ID, "name": HOLDER, "photo": "obama.jpg", "expires_on": EXPIRY}
    import_records(database, settings, [(2, row)], photos, engine_embedder(settings))
    engine = get_engine(settings)
    chip = chip_photo(engine, (photos / "obama.jpg").read_bytes())
    live = (photos / "obama2.jpg").read_bytes()
    client, terminal = app.test_client(), new_terminal(app)
    phone, store = TestDevice("bench-phone"), app.extensions["wangzheng.store"]
    nonce = new_login_nonce(store)
    proof = DeviceProof(nonce, phone.sign(nonce), phone.public_key_der_b64)
    with database.transaction() as session:
        tokens = sign_in(session, store, openid="o-bench", unionid=None,
                         device_id=phone.device_id, proof=proof)  # fmt: skip
        merchant = create_merchant(session, settings, name="Counter", category="government",
                                   scopes=["result"])  # fmt: skip
        set_capabilities(session, merchant.merchant.public_id, "face")
    citizen = {"Authorization": f"Bearer {tokens.access_token}"}
    visits: list[float] = []
    cards: list[float] = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        opened = terminal.open().json
        claimed = client.post("/api/v1/terminal-claims", headers=citizen,
                              json={"qr_payload": opened["qr_payload"]})  # fmt: skip
        assert claimed.status_code == 200, claimed.json
        password = client.put(f"/api/v1/terminal-claims/{opened['session_id']}/password",
                              headers=citizen, json={"password": "27364159"})  # fmt: skip
        assert password.status_code == 200, password.json
        assert terminal.poll(opened["session_id"]).json["status"] == "ready"
        card_started = time.perf_counter()
        fields = {"name": HOLDER, "id_number": HOLDER_ID, "expires_on": EXPIRY,
                  "photo": chip, "live_face": live}  # fmt: skip
        issued = terminal.card(opened["session_id"], fields)
        assert issued.status_code == 201, issued.json
        now = time.perf_counter()
        visits.append((now - started) * 1000)
        cards.append((now - card_started) * 1000)
    counter: list[float] = []
    merchant_auth = {"Authorization": f"Bearer {merchant.api_key}"}
    for _ in range(args.rounds):
        token = client.post("/api/v1/credentials/current/presentations", headers=citizen).json
        data = {"token": token["token"], "required_level": "upgraded",
                "photo": (io.BytesIO(live), "counter.jpg")}  # fmt: skip
        started = time.perf_counter()
        answer = client.post("/api/v1/verify/face", data=data, headers=merchant_auth,
                             content_type="multipart/form-data")  # fmt: skip
        counter.append((time.perf_counter() - started) * 1000)
        assert answer.json.get("face") == "match", answer.json
    print(summary("terminal visit (open to 201)", visits))
    print(summary("  of which the card post (chip checks, live face, issue)", cards))
    print(summary("counter check (POST /api/v1/verify/face)", counter))
    print(f"terminal_bench visit_p50_ms={percentile(visits, 50):.1f} "
          f"visit_p95_ms={percentile(visits, 95):.1f} counter_p50_ms={percentile(counter, 50):.1f} "
          f"counter_p95_ms={percentile(counter, 95):.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
