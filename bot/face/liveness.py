"""Active liveness: a random head-turn challenge answered by 2-3 frames.

Invariants:
- A challenge lives in the short-lived store for ``CHALLENGE_TTL_S`` seconds and is consumed by
  its first answer, right or wrong: an ``add`` on a "used" marker is atomic across workers,
  so exactly one answer is ever judged.
- Frame 0 looks at the camera; frame ``i`` (i >= 1) is turned in ``steps[i-1]`` relative to
  frame 0 by more than the margin. "left"/"right" are the citizen's own, in unmirrored frames.
- Every frame passes the selfie quality gates, every pair of frames is the same person at the
  pack threshold, and no frame is a copy or a mirror image of another (perceptual hashes of the
  whole frame and of the aligned face, each also against the other's mirror).
- Frames stay in memory; nothing of them is stored.
- This stops a replayed still photo and a replayed answer; it does not stop a live video or a
  mask of the citizen and it is not ISO 30107-3 certified (see docs/face.md). A pack may add a
  passive anti-spoofing model through :class:`AntiSpoof`.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from bot.face.errors import ChallengeInvalid, FaceError, LivenessFailed
from bot.face.images import decode_image
from storage.ephemeral import EphemeralStore

if TYPE_CHECKING:
    from bot.face.engine import FaceEngine, FaceSample

CHALLENGE_TTL_S = 60
DIRECTIONS = ("left", "right")
_KEY = "face:challenge:"
_USED = "face:challenge-used:"


@dataclass(frozen=True)
class Challenge:
    """What the client must do: look straight, then turn as ``steps`` say, before expiry."""

    id: str
    steps: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True)
class LivenessPolicy:
    """Liveness parameters; the hash distances are out of 64 bits."""

    steps: int = 2
    max_yaw_deg: float = 45.0
    yaw_margin_deg: float = 8.0
    copy_distance: int = 8
    mirror_frame_distance: int = 8
    mirror_face_distance: int = 8


@dataclass(frozen=True)
class LivenessResult:
    """A passed challenge: the most frontal sample is the one to match against a reference."""

    challenge_id: str
    steps: tuple[str, ...]
    best_sample: FaceSample
    yaws: tuple[float, ...]
    min_similarity: float


class AntiSpoof(Protocol):
    """A passive presentation-attack detector shipped in a pack (none in the default pack)."""

    def live_score(self, image: NDArray[np.uint8], sample: FaceSample) -> float:
        """Probability in [0, 1] that the face is a live person."""
        ...

    @property
    def threshold(self) -> float:
        """Scores below this are rejected."""
        ...


def new_challenge(store: EphemeralStore, steps: int = 2) -> Challenge:
    """Issue a random challenge of ``steps`` distinct turns (1 or 2) and keep it 60 s."""
    count = min(max(steps, 1), len(DIRECTIONS))
    order = list(DIRECTIONS)
    first = secrets.choice(order)
    chosen = (first,) if count == 1 else (first, *(d for d in order if d != first))
    challenge = Challenge(
        id=secrets.token_urlsafe(18), steps=chosen, expires_at=time.time() + CHALLENGE_TTL_S
    )
    store.set(_KEY + challenge.id, json.dumps(list(chosen)), CHALLENGE_TTL_S)
    return challenge


def consume_challenge(store: EphemeralStore, challenge_id: str) -> tuple[str, ...]:
    """The challenge's steps; it can never be used again, whatever the outcome."""
    raw = store.get(_KEY + challenge_id) if challenge_id else None
    if raw is None or not store.add(_USED + challenge_id, "1", CHALLENGE_TTL_S):
        raise ChallengeInvalid("The liveness challenge is unknown, expired or already used.")
    store.delete(_KEY + challenge_id)
    return tuple(str(step) for step in json.loads(raw))


def phash(image: NDArray[np.uint8]) -> int:
    """64-bit DCT perceptual hash of a BGR or grey image."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].reshape(-1)
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def distance(first: int, second: int) -> int:
    """Hamming distance of two hashes."""
    return (first ^ second).bit_count()


@dataclass(frozen=True)
class _Prints:
    """Hashes of one frame and of its mirror image."""

    frame: int
    frame_mirror: int
    face: int
    face_mirror: int


def _prints(image: NDArray[np.uint8], sample: FaceSample) -> _Prints:
    return _Prints(
        frame=phash(image),
        frame_mirror=phash(np.ascontiguousarray(image[:, ::-1])),
        face=phash(sample.aligned),
        face_mirror=phash(np.ascontiguousarray(sample.aligned[:, ::-1])),
    )


def check_distinct(prints: list[_Prints], policy: LivenessPolicy) -> None:
    """Raise when a frame copies or mirrors another."""
    for i, first in enumerate(prints):
        for second in prints[i + 1 :]:
            if distance(first.face, second.face) <= policy.copy_distance:
                raise LivenessFailed("Two frames are copies.", details={"reason": "copied_frame"})
            if (
                distance(first.frame, second.frame_mirror) <= policy.mirror_frame_distance
                or distance(first.face, second.face_mirror) <= policy.mirror_face_distance
            ):
                raise LivenessFailed(
                    "A frame is a mirror image of another.", details={"reason": "mirrored_frame"}
                )


def check_motion(steps: tuple[str, ...], yaws: list[float], margin: float) -> None:
    """Frame i+1 must be turned towards ``steps[i]`` from frame 0 by more than ``margin``."""
    if len(yaws) != len(steps) + 1:
        raise LivenessFailed(f"Send {len(steps) + 1} frames.", details={"reason": "frame_count"})
    for step, yaw in zip(steps, yaws[1:], strict=True):
        turn = yaw - yaws[0] if step == "left" else yaws[0] - yaw
        if turn <= margin:
            raise LivenessFailed(
                f"Turn your head {step} as asked.", details={"reason": "wrong_motion", "step": step}
            )


def verify_liveness(
    store: EphemeralStore,
    engine: FaceEngine,
    challenge_id: str,
    frames: list[bytes],
    *,
    policy: LivenessPolicy | None = None,
    antispoof: AntiSpoof | None = None,
) -> LivenessResult:
    """Judge one answer to a challenge; raises :class:`LivenessFailed` or a gate's error."""
    policy = policy or LivenessPolicy()
    steps = consume_challenge(store, challenge_id)
    if len(frames) != len(steps) + 1:
        raise LivenessFailed(f"Send {len(steps) + 1} frames.", details={"reason": "frame_count"})
    samples: list[FaceSample] = []
    prints: list[_Prints] = []
    limits = engine.limits
    for index, frame in enumerate(frames):
        try:
            image = decode_image(frame, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
            limit = limits.gates.max_yaw_deg if index == 0 else policy.max_yaw_deg
            sample = engine.analyse_array(image, purpose="selfie", max_yaw_deg=limit)
        except FaceError as exc:
            exc.details = {**exc.details, "frame": index}
            raise
        if antispoof is not None and antispoof.live_score(image, sample) < antispoof.threshold:
            raise LivenessFailed("Presentation attack suspected.", details={"reason": "spoof"})
        samples.append(sample)
        prints.append(_prints(image, sample))
    check_distinct(prints, policy)
    similarities = [
        engine.match(a.embedding, b.embedding).similarity
        for i, a in enumerate(samples)
        for b in samples[i + 1 :]
    ]
    if min(similarities) < engine.threshold:
        raise LivenessFailed("The frames show different people.", details={"reason": "identity"})
    yaws = [sample.yaw for sample in samples]
    check_motion(steps, yaws, policy.yaw_margin_deg)
    best = min(samples, key=lambda sample: abs(sample.yaw))
    return LivenessResult(
        challenge_id=challenge_id,
        steps=steps,
        best_sample=best,
        yaws=tuple(yaws),
        min_similarity=min(similarities),
    )
