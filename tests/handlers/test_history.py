"""The citizen's history (issue 12): ``GET /api/v1/me/history`` after a real sequence.

Phone A signs in (its own key) and enrols, a merchant verifies it, phone B signs in with its own
key (A's credential ends), B enrols twice (the second supersedes the first), the citizen
reports the card lost. The history lists all of it newest first, with device models; another
account sees none of it; a cursor cannot be forged or borrowed; erasure removes it all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.extensions import database
from bot.wechat.emulator.server import Emulator
from storage.models.citizen import Citizen
from storage.models.citizen_event import CitizenEvent
from storage.models.lost_card_report import LostCardReport
from tests.handlers.citizen_steps import HISTORY, auth, enrol_light, history_page, sign_in
from tests.handlers.verify_helpers import fetch_token, merchant_key, verify
from tests.kit.device import TestDevice
from tests.registry_factories import ADULT_ID, add_record


def _sequence(app: Any, client: Any, emulator: Emulator) -> dict[str, Any]:
    """Run the sequence of the module docstring; returns its tokens and credential ids."""
    phone_a = TestDevice("hist-phone-a", model="iPhone 15")
    phone_b = TestDevice("hist-phone-b", model="Pixel 8")
    openid = emulator.openid_for("hana")
    subject = add_record(app)
    token_a = sign_in(client, "dev:hana", phone_a)
    first = enrol_light(app, openid, phone_a.device_id, subject)
    key = merchant_key(app, name="Lakeside Hotel", scopes=["result", "name_masked"])
    status, body = verify(client, key, fetch_token(client, token_a), scope="name_masked")
    assert (status, body["result"]) == (200, "valid")
    token_b = sign_in(client, "dev:hana", phone_b)
    second = enrol_light(app, openid, phone_b.device_id, subject)
    third = enrol_light(app, openid, phone_b.device_id, subject)
    lost = client.post("/api/v1/me/report-lost", headers=auth(token_b))
    assert lost.get_json() == {"newly_reported": True, "revoked": 1}
    return {"token_a": token_a, "token_b": token_b, "ids": (first, second, third)}


def test_the_history_tells_the_whole_sequence_newest_first(
    wechat_app: Any, wechat_client: Any, emulator: Emulator
) -> None:
    done = _sequence(wechat_app, wechat_client, emulator)
    first, second, third = done["ids"]
    page = history_page(wechat_client, done["token_b"])
    assert page["next_cursor"] is None
    lines = [
        (line["kind"], line["device_model"], line.get("credential_id"), line.get("reason"))
        for line in page["entries"]
    ]
    assert lines == [
        ("card_reported_lost", "Pixel 8", None, None),
        ("credential_ended", "Pixel 8", third, "id_card_reported_lost"),
        ("credential_issued", "Pixel 8", third, None),
        ("credential_issued", "Pixel 8", second, None),
        ("credential_ended", "iPhone 15", first, "device_changed"),
        ("device_changed", "Pixel 8", None, None),
        ("verification", "iPhone 15", first, None),
        ("credential_issued", "iPhone 15", first, None),
    ]
    by_kind = {line["kind"]: line for line in page["entries"]}
    reissue = page["entries"][2]
    assert reissue["superseded"] == [{"credential_id": second, "level": "light"}]
    assert "superseded_other_account" not in reissue
    assert page["entries"][3]["superseded"] == []  # A's credential had ended already
    assert by_kind["device_changed"]["previous_device_model"] == "iPhone 15"
    assert by_kind["card_reported_lost"]["actor"] == "citizen"
    assert by_kind["card_reported_lost"]["credentials_ended"] == 1
    seen = by_kind["verification"]
    assert (seen["merchant"], seen["result"], seen["scope"]) == (
        "Lakeside Hotel", "valid", "name_masked",
    )  # fmt: skip
    assert seen["disclosed"] == ["name_masked"]
    times = [line["at"] for line in page["entries"]]
    assert times == sorted(times, reverse=True)
    # Never an ID number, an openid or a device id; the detail is sealed at rest.
    text = str(page)
    assert ADULT_ID not in text and emulator.openid_for("hana") not in text
    assert "hist-phone-a" not in text and "hist-phone-b" not in text
    with database(wechat_app).transaction() as session:
        for sealed in session.scalars(select(CitizenEvent.detail_sealed)):
            assert b"Pixel" not in sealed and b"iPhone" not in sealed


def test_pages_walk_the_same_lines_and_cursors_cannot_be_forged_or_borrowed(
    wechat_app: Any, wechat_client: Any, emulator: Emulator
) -> None:
    done = _sequence(wechat_app, wechat_client, emulator)
    token = done["token_b"]
    whole = history_page(wechat_client, token)["entries"]
    walked: list[dict[str, Any]] = []
    cursor: str | None = None
    cursors = []
    while True:
        page = history_page(wechat_client, token, limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(page["entries"]) <= 3
        walked += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        cursors.append(cursor)
    assert walked == whole and len(cursors) == 2

    # Another account: its own (empty) history, and my cursor is refused, not honoured.
    stranger = sign_in(wechat_client, "dev:ivan", TestDevice("hist-phone-c", model="Mate 60"))
    assert history_page(wechat_client, stranger) == {"entries": [], "next_cursor": None}
    borrowed = wechat_client.get(
        HISTORY, headers=auth(stranger), query_string={"cursor": cursors[0]}
    )
    assert (borrowed.status_code, borrowed.get_json()["error"]["code"]) == (400, "cursor_invalid")
    # An edited position (a later time, to reach back) fails its MAC.
    packed, mac = cursors[0].split(".")
    for forged in (packed[:-2] + "AA." + mac, packed + "." + "0" * 32, "garbage", "%%%.x"):
        refused = wechat_client.get(HISTORY, headers=auth(token), query_string={"cursor": forged})
        assert refused.status_code == 400, forged
        assert refused.get_json()["error"]["code"] == "cursor_invalid"
    too_many = wechat_client.get(HISTORY, headers=auth(token), query_string={"limit": 101})
    assert too_many.status_code == 400
    assert wechat_client.get(HISTORY).status_code == 401


def test_deleting_the_credential_is_a_line_and_erasure_removes_the_history(
    wechat_app: Any, wechat_client: Any, emulator: Emulator
) -> None:
    phone = TestDevice("hist-phone-d", model="iPhone 13")
    token = sign_in(wechat_client, "dev:juno", phone)
    openid = emulator.openid_for("juno")
    credential = enrol_light(wechat_app, openid, phone.device_id, add_record(wechat_app))
    other = sign_in(wechat_client, "dev:kato", TestDevice("hist-phone-e", model="Mate 60"))
    enrol_light(wechat_app, emulator.openid_for("kato"), "hist-phone-e",
           add_record(wechat_app, id_number="11010519491231002X"))  # fmt: skip

    deleted = wechat_client.delete("/api/v1/credentials/current", headers=auth(token))
    assert deleted.get_json() == {"ended": True}
    newest = history_page(wechat_client, token)["entries"][0]
    assert (newest["kind"], newest["reason"], newest["credential_id"]) == (
        "credential_ended", "deleted_by_holder", credential,
    )  # fmt: skip
    assert newest["device_model"] == "iPhone 13"
    wechat_client.delete("/api/v1/credentials/current", headers=auth(token))  # idempotent
    assert len(history_page(wechat_client, token)["entries"]) == 2

    with database(wechat_app).transaction() as session:
        juno = session.scalars(select(Citizen.id).where(Citizen.openid == openid)).one()
    assert wechat_client.delete("/api/v1/me", headers=auth(token)).status_code == 200
    with database(wechat_app).transaction() as session:
        left = session.scalar(
            select(func.count()).select_from(CitizenEvent).where(CitizenEvent.citizen_id == juno)
        )
        total = session.scalar(select(func.count()).select_from(CitizenEvent))
    assert left == 0
    assert total == 1  # the other citizen's issuance stays
    assert [line["kind"] for line in history_page(wechat_client, other)["entries"]] == [
        "credential_issued"
    ]


def test_the_authority_report_and_clearing_are_audited_and_idempotent(
    wechat_app: Any, wechat_client: Any, emulator: Emulator
) -> None:
    phone = TestDevice("hist-phone-f", model="iPhone 14")
    token = sign_in(wechat_client, "dev:lena", phone)
    subject = add_record(wechat_app)
    enrol_light(wechat_app, emulator.openid_for("lena"), phone.device_id, subject)
    runner = wechat_app.test_cli_runner()
    outputs = [
        runner.invoke(args=["registry", command], input=ADULT_ID + "\n").output
        for command in ("report-lost", "report-lost", "clear-lost", "clear-lost")
    ]
    assert f"record {subject}: reported lost; 1 credential(s) revoked; audit entry 1" in outputs[0]
    assert "already reported lost; 0 credential(s) revoked; audit entry 2" in outputs[1]
    assert "cleared: enrolment is open again; audit entry 3" in outputs[2]
    assert "not reported lost: nothing to do; audit entry 4" in outputs[3]
    with database(wechat_app).transaction() as session:
        rows = session.scalars(select(LostCardReport).order_by(LostCardReport.id)).all()
        audit = [(r.record_id, r.actor, r.action, r.changed, r.credentials_revoked) for r in rows]
    assert audit == [
        (subject, "authority", "report", True, 1),
        (subject, "authority", "report", False, 0),
        (subject, "authority", "clear", True, 0),
        (subject, "authority", "clear", False, 0),
    ]
    lines = history_page(wechat_client, token)["entries"]
    assert [(line["kind"], line.get("actor")) for line in lines[:2]] == [
        ("card_reported_lost", "authority"),
        ("credential_ended", None),
    ]


def test_the_authority_flagging_an_older_card_is_audited(wechat_app: Any) -> None:
    """``report-lost --expires-on`` (an older card's chip only): audited, credentials untouched."""
    subject = add_record(wechat_app)
    runner = wechat_app.test_cli_runner()
    args = ["registry", "report-lost", "--expires-on", "2020-01-31"]
    first = runner.invoke(args=args, input=ADULT_ID + "\n")
    assert first.exit_code == 0, first.output
    assert f"record {subject}: the card expiring 2020-01-31 is reported lost; audit entry 1" in (
        first.output
    )
    again = runner.invoke(args=args, input=ADULT_ID + "\n").output
    assert "audit entry 2" in again
    with database(wechat_app).transaction() as session:
        rows = session.scalars(select(LostCardReport).order_by(LostCardReport.id)).all()
        audit = [(r.actor, r.action, r.changed, r.credentials_revoked) for r in rows]
    assert audit == [
        ("authority", "report_older", True, 0),
        ("authority", "report_older", False, 0),
    ]
