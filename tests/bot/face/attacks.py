"""Presentation-attack generator: 2-D edits of one still photo that try to fake a head turn.

Every attack starts from one real photo and produces frames an attacker would send instead of
a head turn. The families (issue 9, section 2):

- ``nose`` / ``mouth`` / ``nose+mouth``: a local warp (a smooth Gaussian displacement bump)
  that slides the region sideways, in both directions and at several strengths, as a fraction
  of the eye distance. Shifting the nose is what turns the landmark yaw.
- ``perspective``: the whole photo tilted away about a vertical axis (a printed photo turned).
- ``shear``: a whole-image affine shear.
- ``mirror`` / ``reencoded`` / ``resized``: the mirror image, a low-quality JPEG re-encoding and
  rescaled copies of the photo.

Frames reused from another challenge are built in the test from a genuine answer. Everything
stays in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

STRENGTHS = (0.15, 0.3, 0.45, 0.6)
SOURCES = ("obama", "obama2", "obama3", "biden", 51, 264, 342)
TILTS_DEG = (25.0, 45.0)
SHEARS = (0.12, 0.25)


@dataclass(frozen=True)
class Attack:
    """One attacked frame made from ``source``; ``name`` says how."""

    source: str
    name: str
    frame: bytes


def decode(data: bytes) -> NDArray[np.uint8]:
    """BGR image from bytes."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, np.uint8)


def encode(image: NDArray[np.uint8], quality: int = 92) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buffer.tobytes()


def local_warp(
    image: NDArray[np.uint8], centre: NDArray[np.float32], shift_px: float, radius_px: float
) -> NDArray[np.uint8]:
    """Slide the region around ``centre`` sideways by ``shift_px`` with a smooth falloff."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    weight = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * radius_px**2))
    # Backward map: the output pixel at x shows the input at x - shift.
    map_x = xs - shift_px * weight
    return np.asarray(
        cv2.remap(image, map_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), np.uint8
    )


def perspective_tilt(image: NDArray[np.uint8], degrees: float) -> NDArray[np.uint8]:
    """The photo as a flat print turned about its vertical axis, seen by a pinhole camera."""
    height, width = image.shape[:2]
    focal = 1.2 * max(width, height)
    angle = np.radians(degrees)
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    centred = corners - [width / 2, height / 2]
    x3 = centred[:, 0] * np.cos(angle)
    z3 = focal + centred[:, 0] * np.sin(angle)
    projected = np.stack([focal * x3 / z3, focal * centred[:, 1] / z3], axis=1)
    target = (projected + np.array([width / 2, height / 2])).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    return np.asarray(
        cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE),
        np.uint8,
    )


def shear(image: NDArray[np.uint8], amount: float) -> NDArray[np.uint8]:
    """Horizontal affine shear about the image centre."""
    height, width = image.shape[:2]
    matrix = np.array([[1, amount, -amount * height / 2], [0, 1, 0]], np.float32)
    return np.asarray(
        cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE), np.uint8
    )


def attacks_from(source: str, photo: bytes, landmarks: NDArray[np.float32]) -> Iterator[Attack]:
    """Every attacked frame made from one photo whose 5 landmarks are ``landmarks``."""
    image = decode(photo)
    eyes = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    nose = landmarks[2]
    mouth = (landmarks[3] + landmarks[4]) / 2
    for strength in STRENGTHS:
        for sign, side in ((1, "+"), (-1, "-")):
            shift = sign * strength * eyes
            yield Attack(
                source, f"nose{side}{strength}", encode(local_warp(image, nose, shift, 0.45 * eyes))
            )
            yield Attack(
                source,
                f"mouth{side}{strength}",
                encode(local_warp(image, mouth, shift, 0.5 * eyes)),
            )
            both = local_warp(
                local_warp(image, nose, shift, 0.45 * eyes), mouth, 0.6 * shift, 0.5 * eyes
            )
            yield Attack(source, f"nose+mouth{side}{strength}", encode(both))
    for tilt in TILTS_DEG:
        for sign in (1, -1):
            yield Attack(
                source,
                f"perspective{sign * tilt:+.0f}",
                encode(perspective_tilt(image, sign * tilt)),
            )
    for amount in SHEARS:
        for sign in (1, -1):
            yield Attack(source, f"shear{sign * amount:+.2f}", encode(shear(image, sign * amount)))
    yield Attack(source, "mirror", encode(np.ascontiguousarray(image[:, ::-1])))
    yield Attack(source, "reencoded-q35", encode(image, quality=35))
    for scale in (0.7, 1.4):
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        resized = cv2.resize(
            image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        )
        yield Attack(source, f"resized{scale}", encode(resized.astype(np.uint8)))


@dataclass
class Tally:
    """Presentations and errors per species, in ISO/IEC 30107-3 terms."""

    attacks: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, list[str]] = field(default_factory=dict)
    bona_fide: int = 0
    refused: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    def attack(self, species: str, label: str, passed: bool, reason: str) -> None:
        """Count one attack presentation."""
        self.attacks[species] = self.attacks.get(species, 0) + 1
        self.accepted.setdefault(species, [])
        self.reasons[reason] += 1
        if passed:
            self.accepted[species].append(label)

    def genuine(self, label: str, passed: bool, reason: str) -> None:
        """Count one bona fide presentation."""
        self.bona_fide += 1
        if not passed:
            self.refused.append(f"{label}: {reason}")

    @property
    def apcer(self) -> float:
        """The worst species' APCER (ISO/IEC 30107-3 reports the maximum over species)."""
        return max(len(self.accepted[s]) / n for s, n in self.attacks.items())

    @property
    def bpcer(self) -> float:
        """Share of bona fide presentations refused."""
        return len(self.refused) / self.bona_fide

    def report(self, setting: str) -> str:
        """One line per species plus the totals."""
        lines = [f"setting: {setting}"]
        for species, count in sorted(self.attacks.items()):
            accepted = len(self.accepted[species])
            lines.append(f"  APCER {species:12s} {accepted:3d}/{count:3d} = {accepted / count:.1%}")
        total = sum(self.attacks.values())
        accepted = sum(len(v) for v in self.accepted.values())
        lines.append(f"  attacks accepted {accepted}/{total}; max APCER {self.apcer:.1%}")
        lines.append(f"  BPCER {len(self.refused)}/{self.bona_fide} = {self.bpcer:.1%}")
        lines.append(f"  attack rejections by reason: {dict(sorted(self.reasons.items()))}")
        return "\n".join(lines)


def species(name: str) -> str:
    """The attack family of an attack name (``nose+0.3`` -> ``nose``)."""
    for family in ("nose+mouth", "nose", "mouth", "perspective", "shear", "reencoded", "resized"):
        if name.startswith(family):
            return family
    return name
