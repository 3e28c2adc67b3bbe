"""Public face API the other packages code against.

Invariants:
- One engine per (model root, pack, threads) per process, created lazily under a lock: the first
  caller loads it, concurrent callers wait and share it. Nothing loads at import time.
- ``get_engine`` builds the built-in default pack on first use when it is missing; any other
  missing pack fails with :class:`FaceModelUnavailable` naming the path (never a download).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bot.config import Settings
from bot.face.engine import EngineLimits, FaceEngine, FaceSample, MatchResult
from bot.face.liveness import (
    AntiSpoof,
    Challenge,
    LivenessPolicy,
    LivenessResult,
    Requester,
    new_challenge,
    verify_liveness,
)
from bot.face.packs import ensure_pack
from bot.face.quality import QualityLimits

__all__ = [
    "AntiSpoof",
    "Challenge",
    "FaceEngine",
    "FaceSample",
    "LivenessPolicy",
    "LivenessResult",
    "MatchResult",
    "Requester",
    "engine_loaded",
    "get_engine",
    "limits_from_settings",
    "liveness_policy",
    "new_challenge",
    "verify_liveness",
]

_engines: dict[tuple[Path, str, int], FaceEngine] = {}
_load_seconds: dict[tuple[Path, str, int], float] = {}
_lock = threading.Lock()


def limits_from_settings(settings: Settings) -> EngineLimits:
    """Image and gate limits from the ``WANGZHENG_FACE_*`` settings."""
    return EngineLimits(
        max_bytes=settings.face_max_image_bytes,
        max_pixels=settings.face_max_image_pixels,
        gates=QualityLimits(
            min_interocular_px=settings.face_min_interocular_px,
            min_sharpness=settings.face_min_sharpness,
            min_brightness=settings.face_min_brightness,
            max_brightness=settings.face_max_brightness,
            max_yaw_deg=settings.face_max_yaw_deg,
            reference_min_interocular_px=settings.face_reference_min_interocular_px,
        ),
    )


def liveness_policy(settings: Settings) -> LivenessPolicy:
    """Liveness parameters from settings."""
    return LivenessPolicy(
        steps=settings.face_liveness_steps,
        max_yaw_deg=settings.face_liveness_max_yaw_deg,
        yaw_margin_deg=settings.face_liveness_yaw_margin_deg,
    )


def _key(settings: Settings) -> tuple[Path, str, int]:
    return (Path(settings.face_model_root), settings.face_model_pack, settings.face_ort_threads)


def get_engine(settings: Settings) -> FaceEngine:
    """The process-wide engine for the configured pack, loading (and building) it once."""
    key = _key(settings)
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            started = time.perf_counter()
            manifest = ensure_pack(key[0], key[1])
            engine = FaceEngine(manifest, limits_from_settings(settings), threads=key[2])
            _engines[key] = engine
            _load_seconds[key] = time.perf_counter() - started
    return engine


def engine_loaded(settings: Settings) -> float | None:
    """Seconds the load took when the engine is loaded in this process, else None."""
    return _load_seconds.get(_key(settings))
