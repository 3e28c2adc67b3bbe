"""Face engine: model packs, detection, quality gates, embeddings, matching and liveness.

Invariants: importing this package neither loads a model nor imports onnxruntime, which is not
fork-safe (a process forked after importing it hangs or aborts at exit), so gunicorn's master
never holds it. :func:`bot.face.service.get_engine` loads one engine per process on first use,
or, with ``WANGZHENG_FACE_LOAD_ON_START``, :func:`warm_up` loads it in each worker right after
the fork (``gunicorn.conf.py``). Selfies and frames are processed in memory only.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from bot.extensions import add_readiness_check, settings
from bot.face.cli import face_cli
from bot.face.errors import FaceError, LivenessFailed
from bot.face.packs import pack_status
from bot.face.service import (
    Challenge,
    FaceEngine,
    FaceSample,
    LivenessResult,
    MatchResult,
    Requester,
    engine_loaded,
    get_engine,
    new_challenge,
    verify_liveness,
)

__all__ = [
    "Challenge",
    "FaceEngine",
    "FaceError",
    "FaceSample",
    "LivenessFailed",
    "LivenessResult",
    "MatchResult",
    "Requester",
    "get_engine",
    "new_challenge",
    "register_face",
    "verify_liveness",
    "warm_up",
]


def register_face(app: Flask) -> None:
    """Add ``flask face ...`` and the ``face_model`` readiness check (loads nothing)."""
    config = settings(app)
    app.cli.add_command(face_cli)

    def check() -> dict[str, Any]:
        status = pack_status(config.face_model_root, config.face_model_pack)
        seconds = engine_loaded(config)
        status["loaded"] = seconds is not None
        if seconds is not None:
            status["load_s"] = round(seconds, 2)
        return status

    add_readiness_check(app, "face_model", check)


def warm_up(app: Flask) -> bool:
    """Load the engine now if ``WANGZHENG_FACE_LOAD_ON_START`` asks for it; True when loaded.

    Call it in a process that will not fork again (a gunicorn worker's ``post_fork``).
    """
    config = settings(app)
    if not config.face_load_on_start:
        return False
    get_engine(config)
    return True
