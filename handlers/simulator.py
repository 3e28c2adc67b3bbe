"""The browser simulator of the mini-program (development only: never testing nor production).

A newcomer opens ``/``, picks a demo user (logged in through the WeChat emulator's
``jscode2session``), answers the liveness challenge with the camera or with sample photos, and
lands on the pass page. Someone without a demo photo can register their own face first. With
"unlock with fingerprint" switched on, the simulator plays ``wx.startSoterAuthentication``: the
emulator's SOTER key of the signed-in openid (standing in for the phone's TEE) signs the
challenge, and the backend has WeChat verify it like any other unlock.
"""

from __future__ import annotations

from typing import Any, Literal

from apiflask import APIBlueprint
from apiflask.fields import UploadFile
from flask import Response, current_app, send_from_directory
from pydantic import BaseModel, ConfigDict, Field

from bot.csv_import import RowRejected
from bot.demo.service import DEMO_PEOPLE, SAMPLE_FILES, register_self
from bot.errors import NotFound, WangzhengError
from bot.extensions import database, settings
from bot.face.errors import ImageTooLarge
from bot.identity.registry import engine_embedder
from handlers.auth import citizen_auth, current_citizen
from handlers.pages import PAGE_SOURCES, html_page
from handlers.schemas import BODY_ERRORS, Out

simulator = APIBlueprint("simulator", __name__, tag="Simulator (development only)")

# The emulators bot.wechat.app mounts in development (app.extensions keys), and the 404 message
# when this app has none.
_WECHAT_EMULATOR = "wangzheng.wechat.emulator"
_PAY_EMULATOR = "wangzheng.wechat.pay_emulator"
_NOT_EMULATED = {
    _WECHAT_EMULATOR: "WeChat is not emulated here.",
    _PAY_EMULATOR: "Payments are not emulated here.",
}


def _emulator(key: str) -> Any:
    """The emulator this app mounted under ``key``; 404 ``not_found`` when there is none."""
    emulator = current_app.extensions.get(key)
    if emulator is None:
        raise NotFound(_NOT_EMULATED[key])
    return emulator


class SelfRegistration(BaseModel):
    """A name and a reference photo taken at the camera."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(min_length=1, max_length=32)
    photo: UploadFile


class PersonOut(Out):
    """A demo registry person, the synthetic ID number, and sample frames per head turn."""

    user: str
    name: str
    id_number: str
    frames: dict[str, list[str]]
    samples_available: bool


class PeopleOut(Out):
    """The demo people and the number of head turns a challenge asks for."""

    people: list[PersonOut]
    liveness_steps: int


class SelfRegisteredOut(Out):
    """The new demo record: enrol with this name and synthetic ID number."""

    name: str
    id_number: str


@simulator.get("/")
@simulator.doc(hide=True)
def index() -> Response:
    """The simulator page."""
    # Captured and sample frames are shown as blob: images; the rest is any page's sources.
    return html_page("simulator.html", {**PAGE_SOURCES, "img_src": "blob: data:"})


@simulator.get("/simulator/api/people")
@simulator.output(PeopleOut)
@simulator.doc(summary="Demo registry people and their sample frames")
def people() -> dict[str, Any]:
    """Demo people with synthetic ID numbers; their sample frames answer one-turn challenges."""
    samples = settings().instance_path / "demo" / "face_recognition"
    return {
        "people": [
            {
                "user": person.user,
                "name": person.name,
                "id_number": person.id_number,
                "frames": {step: list(files) for step, files in person.frames.items()},
                "samples_available": all(
                    (samples / name).is_file() for files in person.frames.values() for name in files
                ),
            }
            for person in DEMO_PEOPLE
        ],
        "liveness_steps": settings().face_liveness_steps,
    }


@simulator.get("/simulator/samples/<string:filename>")
@simulator.doc(hide=True)
def sample(filename: str) -> Response:
    """A sample photo (only the allow-listed demo files)."""
    if filename not in SAMPLE_FILES:
        raise NotFound("No such sample photo.")
    folder = settings().instance_path / "demo" / "face_recognition"
    if not (folder / filename).is_file():
        raise NotFound("Sample photos are not installed; run `make run` (flask dev prepare).")
    return send_from_directory(folder, filename, mimetype="image/jpeg", max_age=3600)


@simulator.post("/simulator/api/self-registrations")
@simulator.input(SelfRegistration, location="form_and_files")
@simulator.output(SelfRegisteredOut, status_code=201)
@simulator.doc(
    summary="Add yourself to the demo registry with a camera photo",
    responses={
        **BODY_ERRORS,
        400: "validation_error or image_invalid",
        413: "payload_too_large, image_too_large or image_too_many_pixels",
        422: "the photo was rejected (no face, several faces, quality) or the name is invalid",
        503: "face_model_unavailable",
    },
)
def self_register(form_and_files_data: SelfRegistration) -> tuple[dict[str, Any], int]:
    """Create a demo registry record; returns the synthetic ID number to enrol with."""
    config = settings()
    photo = form_and_files_data.photo.stream.read(config.face_max_image_bytes + 1)
    form_and_files_data.photo.close()
    if len(photo) > config.face_max_image_bytes:
        raise ImageTooLarge()
    try:
        number = register_self(
            database(), config, engine_embedder(config), form_and_files_data.name, photo
        )
    except RowRejected as exc:
        raise WangzhengError(exc.message, code=exc.code, status=422) from exc
    return {"name": form_and_files_data.name.strip(), "id_number": number}, 201


@simulator.get("/simulator/bills")
@simulator.doc(hide=True)
def bills_page() -> Response:
    """The bills page: list, pay (the emulator confirms), receipt."""
    return html_page("bills.html", {**PAGE_SOURCES, "img_src": "blob: data:"})


class ConfirmedOut(Out):
    """What our server answered to each notification the emulator sent."""

    notified: list[int]


@simulator.post("/simulator/api/wechat-pay/<string:out_trade_no>/confirm")
@simulator.auth_required(citizen_auth)
@simulator.output(ConfirmedOut)
@simulator.doc(
    summary="Play the user confirming WeChat Pay's sheet (the emulator then notifies us)",
    responses={401: "session_invalid", 404: "no such order, or payments are not emulated"},
)
def confirm_payment(out_trade_no: str) -> dict[str, Any]:
    """The emulated WeChat Pay marks the caller's order paid and POSTs the signed notification."""
    emulator = _emulator(_PAY_EMULATOR)
    try:
        notified = emulator.pay(out_trade_no[:32], current_citizen().openid)
    except (KeyError, ValueError) as exc:
        raise NotFound("No payable order of yours has this number.") from exc
    return {"notified": notified}


class SoterIn(BaseModel):
    """What the mini-program passes to ``wx.startSoterAuthentication``."""

    model_config = ConfigDict(extra="forbid")

    challenge: str = Field(min_length=1, max_length=128)
    authMode: Literal["fingerPrint", "facial"] = "fingerPrint"


class SoterOut(Out):
    """What ``wx.startSoterAuthentication`` returns on success."""

    authMode: str
    resultJSON: str
    resultJSONSignature: str


@simulator.post("/simulator/api/soter/authenticate")
@simulator.auth_required(citizen_auth)
@simulator.input(SoterIn)
@simulator.output(SoterOut)
@simulator.doc(
    summary="Play wx.startSoterAuthentication: the emulator's SOTER key of this openid signs",
    responses={401: "session_invalid", 404: "WeChat is not emulated here"},
)
def soter_authenticate(json_data: SoterIn) -> dict[str, Any]:
    """The user touched the sensor: the emulated TEE signs ``resultJSON`` with the challenge."""
    signed = _emulator(_WECHAT_EMULATOR).soter.authenticate(
        current_citizen().openid, json_data.challenge, json_data.authMode
    )
    return {
        "authMode": signed.auth_mode,
        "resultJSON": signed.result_json,
        "resultJSONSignature": signed.result_json_signature,
    }
