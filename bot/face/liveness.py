"""Active liveness: a random head-turn challenge answered by 2-3 frames.

Invariants:
- A challenge (:mod:`bot.face.challenges`) is bound to the citizen and device that asked for it,
  answered within ``CHALLENGE_TTL_S`` seconds of its issue, and consumed by its first answer.
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

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from bot.face.challenges import (
    CHALLENGE_TTL_S,
    Challenge,
    Clock,
    Requester,
    consume_challenge,
    new_challenge,
)
from bot.face.errors import FaceError, LivenessFailed
from bot.face.images import decode_image
from storage.ephemeral import EphemeralStore

if TYPE_CHECKING:
    from bot.face.engine import FaceEngine, FaceSample

__all__ = [
    "CHALLENGE_TTL_S",
    "AntiSpoof",
    "Challenge",
    "LivenessPolicy",
    "LivenessResult",
    "Requester",
    "consume_challenge",
    "new_challenge",
    "verify_liveness",
]


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
    requester: Requester,
    policy: LivenessPolicy | None = None,
    antispoof: AntiSpoof | None = None,
    clock: Clock = time.time,
) -> LivenessResult:
    """Judge ``requester``'s answer; raises :class:`LivenessFailed` or a gate's error."""
    policy = policy or LivenessPolicy()
    steps = consume_challenge(store, challenge_id, requester=requester, clock=clock).steps
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
