"""Active liveness: a random head-turn challenge answered by 2-3 frames.

Invariants:
- A challenge (:mod:`bot.face.challenges`) is bound to the citizen and device that asked for it,
  answered within ``CHALLENGE_TTL_S`` seconds of its issue, and consumed by its first answer.
- Frame 0 looks at the camera; frame ``i`` (i >= 1) is turned in ``steps[i-1]`` relative to
  frame 0 by more than the margin. "left"/"right" are the citizen's own, in unmirrored frames.
- Every frame passes the selfie quality gates, every pair of frames is the same person at the
  pack threshold, and no frame is a copy or a mirror image of another (perceptual hashes of the
  whole frame and of the aligned face, each also against the other's mirror).
- Each turned frame shows a head that turned in 3-D relative to frame 0, not one photo edited
  in 2-D (:mod:`bot.face.geometry`: rigid upper head, not the same pixels, foreshortening).
- A turned frame never repeats one sent in an earlier answer of the same scope (the subject
  being enrolled): only 64-bit perceptual hashes are kept, for 7 days; the frames themselves
  stay in memory and nothing else of them is stored.
- This stops one still photo, edits of it, and a replayed answer; it does not stop a live video,
  a mask, several real photos of the citizen, or a deep-fake camera feed, and it is not
  ISO 30107-3 certified (see docs/face.md).
- When the pack ships a passive PAD model (``engine.antispoof``), every frame must score at or
  above its threshold, or the answer is refused with ``presentation_attack_suspected``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
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
from bot.face.errors import FaceError, LivenessFailed, PresentationAttackSuspected
from bot.face.geometry import GeometryPolicy, check_turn, pair_evidence
from bot.face.images import decode_image
from storage.ephemeral import EphemeralStore

if TYPE_CHECKING:
    from bot.face.engine import FaceEngine, FaceSample

REUSE_MEMORY_S = 7 * 86_400
REUSE_MEMORY_FRAMES = 64
_SEEN = "face:frames-seen:"
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
    copy_distance: int = 6
    mirror_frame_distance: int = 8
    mirror_face_distance: int = 4
    reuse_distance: int = 2
    geometry: GeometryPolicy = field(default_factory=GeometryPolicy)


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


def check_reuse(
    store: EphemeralStore, scope: str, prints: list[_Prints], policy: LivenessPolicy
) -> None:
    """Raise when a turned frame was already sent in an earlier answer in ``scope``.

    Remembers the turned frames' hashes for ``REUSE_MEMORY_S``. A near copy must match both
    the whole frame and the face (within ``reuse_distance`` bits), so a citizen who retries in
    the same spot is not taken for a replay of their own earlier frames.
    """
    key = _SEEN + scope
    seen = [tuple(pair) for pair in json.loads(store.get(key) or "[]")]
    turned = [(p.frame, p.face) for p in prints[1:]]
    for frame, face in turned:
        for old_frame, old_face in seen:
            if (
                distance(frame, old_frame) <= policy.reuse_distance
                and distance(face, old_face) <= policy.reuse_distance
            ):
                raise LivenessFailed(
                    "A frame was already used to answer another challenge.",
                    details={"reason": "reused_frame"},
                )
    store.set(key, json.dumps((seen + turned)[-REUSE_MEMORY_FRAMES:]), REUSE_MEMORY_S)


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
    scope: str | None = None,
) -> LivenessResult:
    """Judge ``requester``'s answer; raises :class:`LivenessFailed` or a gate's error.

    ``scope`` names whose earlier frames a turned frame must not repeat (the enrolment passes
    the registry subject; by default the requesting citizen).
    """
    policy = policy or LivenessPolicy()
    detector = antispoof if antispoof is not None else engine.antispoof
    steps = consume_challenge(store, challenge_id, requester=requester, clock=clock).steps
    if len(frames) != len(steps) + 1:
        raise LivenessFailed(f"Send {len(steps) + 1} frames.", details={"reason": "frame_count"})
    samples: list[FaceSample] = []
    images: list[NDArray[np.uint8]] = []
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
        if detector is not None and detector.live_score(image, sample) < detector.threshold:
            raise PresentationAttackSuspected(
                "The camera picture does not look like a live person.", details={"frame": index}
            )
        samples.append(sample)
        images.append(image)
        prints.append(_prints(image, sample))
    check_distinct(prints, policy)
    check_reuse(store, scope or f"citizen:{requester.citizen_id}", prints, policy)
    similarities = [
        engine.match(a.embedding, b.embedding).similarity
        for i, a in enumerate(samples)
        for b in samples[i + 1 :]
    ]
    if min(similarities) < engine.threshold:
        raise LivenessFailed("The frames show different people.", details={"reason": "identity"})
    yaws = [sample.yaw for sample in samples]
    check_motion(steps, yaws, policy.yaw_margin_deg)
    for index in range(1, len(samples)):
        try:
            evidence = pair_evidence(
                images[0], samples[0].landmarks, yaws[0], images[index], samples[index].landmarks,
                yaws[index],
            )  # fmt: skip
            check_turn(evidence, policy.geometry)
        except LivenessFailed as exc:
            exc.details = {**exc.details, "frame": index}
            raise
    best = min(samples, key=lambda sample: abs(sample.yaw))
    return LivenessResult(
        challenge_id=challenge_id,
        steps=steps,
        best_sample=best,
        yaws=tuple(yaws),
        min_similarity=min(similarities),
    )
