"""3-D evidence that two liveness frames show a head that turned, not one photo edited in 2-D.

A head turns about the neck: the eyes, the forehead and the hair are all carried by one rigid
skull, the nose tip sits in front of the eye/mouth plane, and the face narrows by the cosine of
the yaw. A 2-D edit of one still photo (a local warp of the nose or mouth, a whole-image
squeeze, tilt or shear) breaks at least one of these facts:

- **Rigid upper head.** The forehead/hairline patch above the eyes, wherever it is found again
  (template matching, in units of the eye distance), must have moved with the eyes. A local
  warp that drags the eyes along with the nose leaves the forehead where it was.
- **Not the same pixels.** The forehead patch must not be found unchanged at its old place: a
  warp of the nose or mouth alone leaves the rest of the head pixel-identical, whereas a real
  turn moves it, lights it differently and is a new capture.
- **Foreshortening.** The eye distance, relative to the eye-to-mouth height, changes with the
  cosine of the measured yaw; a photo tilted or squeezed as a flat object narrows far more
  than its landmark yaw accounts for.

Invariants: pure functions of decoded frames and their landmarks, in memory; each failed test
raises :class:`LivenessFailed` with its own ``details.reason``. Thresholds live in
:class:`GeometryPolicy` and are explained, with the measurements behind them, in docs/face.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from bot.face.errors import LivenessFailed

UNIT_PX = 64.0  # frames are compared at this eye distance


@dataclass(frozen=True)
class GeometryPolicy:
    """Tolerances of the 3-D tests, in eye distances (IOD) or ratios."""

    unchanged_ncc: float = 0.97
    unchanged_shift: float = 0.04
    rigid_min_ncc: float = 0.8
    rigid_tolerance: float = 0.12
    narrowing_tolerance: float = 0.10


@dataclass(frozen=True)
class PairEvidence:
    """What the tests measured between frame 0 and one turned frame."""

    eyes_shift: float
    forehead_shift: float
    forehead_ncc: float
    foreshortening: float
    expected_foreshortening: float


def _gray(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return np.asarray(gray, np.float32)


def _frame(
    landmarks: NDArray[np.float32],
) -> tuple[NDArray[np.float64], float, NDArray[np.float64]]:
    """Eye midpoint, eye distance and unit eye axis of one face."""
    points = np.asarray(landmarks, np.float64)
    axis = points[1] - points[0]
    iod = float(np.linalg.norm(axis))
    return (points[0] + points[1]) / 2, iod, axis / max(iod, 1e-6)


def face_ratio(landmarks: NDArray[np.float32]) -> float:
    """Eye distance over eye-to-mouth height: shrinks with the cosine of the yaw."""
    points = np.asarray(landmarks, np.float64)
    eyes = float(np.linalg.norm(points[1] - points[0]))
    height = float(np.linalg.norm((points[3] + points[4]) / 2 - (points[0] + points[1]) / 2))
    return eyes / max(height, 1e-6)


def _scaled(image: NDArray[np.uint8], iod: float) -> tuple[NDArray[np.float32], float]:
    scale = UNIT_PX / max(iod, 1e-6)
    gray = _gray(image)
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(gray, size, interpolation=interpolation), np.float32), scale


def forehead_motion(
    first: NDArray[np.uint8],
    first_landmarks: NDArray[np.float32],
    second: NDArray[np.uint8],
    second_landmarks: NDArray[np.float32],
) -> tuple[NDArray[np.float64], float]:
    """Where the forehead patch of ``first`` went in ``second`` (IOD units) and how well it matched.

    Both frames are scaled to the first frame's eye distance; the patch spans 1.6 x 0.5 IOD
    centred 0.7 IOD above the eye midpoint, searched within 0.8 IOD.
    """
    centre, iod, axis = _frame(first_landmarks)
    up = np.array([axis[1], -axis[0]])
    a, scale = _scaled(first, iod)
    b, _ = _scaled(second, iod * 1.0)
    half_w, half_h, search = 0.8 * UNIT_PX, 0.25 * UNIT_PX, round(0.8 * UNIT_PX)
    cx, cy = (centre + 0.7 * iod * up) * scale
    x0, y0 = round(cx - half_w), round(cy - half_h)
    x1, y1 = round(cx + half_w), round(cy + half_h)
    if x0 < 0 or y0 < 0 or x1 > a.shape[1] or y1 > a.shape[0]:
        raise LivenessFailed(
            "Keep your whole head in the picture.", details={"reason": "head_not_in_frame"}
        )
    wx0, wy0 = max(0, x0 - search), max(0, y0 - search)
    wx1, wy1 = min(b.shape[1], x1 + search), min(b.shape[0], y1 + search)
    if wx1 - wx0 < x1 - x0 or wy1 - wy0 < y1 - y0:
        raise LivenessFailed(
            "Keep your whole head in the picture.", details={"reason": "head_not_in_frame"}
        )
    patch = a[y0:y1, x0:x1]
    window = b[wy0:wy1, wx0:wx1]
    scores = cv2.matchTemplate(window, patch, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    shift = np.array([wx0 + bx - x0, wy0 + by - y0], np.float64) / UNIT_PX
    return shift, float(best)


def pair_evidence(
    first: NDArray[np.uint8],
    first_landmarks: NDArray[np.float32],
    first_yaw: float,
    second: NDArray[np.uint8],
    second_landmarks: NDArray[np.float32],
    second_yaw: float,
) -> PairEvidence:
    """Measure frame 0 against one turned frame."""
    centre0, iod0, axis0 = _frame(first_landmarks)
    centre1, _, _ = _frame(second_landmarks)
    eyes_shift = float(np.dot(centre1 - centre0, axis0)) / iod0
    shift, ncc = forehead_motion(first, first_landmarks, second, second_landmarks)
    expected = math.cos(math.radians(second_yaw)) / math.cos(math.radians(first_yaw))
    return PairEvidence(
        eyes_shift=eyes_shift,
        forehead_shift=float(np.dot(shift, axis0)),
        forehead_ncc=ncc,
        foreshortening=face_ratio(second_landmarks) / face_ratio(first_landmarks),
        expected_foreshortening=expected,
    )


def check_turn(evidence: PairEvidence, policy: GeometryPolicy) -> None:
    """Raise :class:`LivenessFailed` when the pair is not a head that turned."""
    if (
        abs(evidence.forehead_shift) < policy.unchanged_shift
        and evidence.forehead_ncc >= policy.unchanged_ncc
    ):
        raise LivenessFailed(
            "The frames are one photo edited, not a head turn.",
            details={"reason": "same_photo"},
        )
    found = evidence.forehead_ncc >= policy.rigid_min_ncc
    if found and abs(evidence.forehead_shift - evidence.eyes_shift) > policy.rigid_tolerance:
        raise LivenessFailed("The eyes moved without the head.", details={"reason": "not_rigid"})
    if evidence.foreshortening < evidence.expected_foreshortening - policy.narrowing_tolerance:
        raise LivenessFailed(
            "The face narrowed like a tilted photo, not a turned head.",
            details={"reason": "flat_photo"},
        )
