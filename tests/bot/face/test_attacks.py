"""Presentation attacks against the head-turn challenge, at both liveness settings.

Bona fide presentations are real frames of one real head turn (``turn_frames``); attacks are
made by :mod:`tests.bot.face.attacks` from real still photos and from frontal frames of that
same video. Every attack must be refused (APCER 0 %) and every genuine turn accepted
(BPCER 0 %). ``-s`` prints the per-species table that docs/face.md quotes.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import numpy as np
import pytest

from bot.demo.photos import TURN_FRAMES
from bot.face.engine import FaceEngine
from bot.face.errors import FaceError
from bot.face.images import decode_image
from bot.face.liveness import CHALLENGE_TTL_S, Requester, new_challenge, verify_liveness
from tests.bot.face.attacks import SOURCES, Attack, Tally, attacks_from, encode, species

pytestmark = pytest.mark.face
ME = Requester(citizen_id=7, device_id="phone-7")


def _answer(
    store: Any, engine: FaceEngine, frames: list[bytes], steps: tuple[str, ...], scope: str
) -> tuple[bool, str]:
    """Answer a fresh challenge pinned to ``steps``; (accepted, reason)."""
    challenge = new_challenge(store, steps=len(steps), requester=ME)
    key = f"face:challenge:{challenge.id}"
    record = json.loads(store.get(key))
    store.set(key, json.dumps({**record, "steps": list(steps)}), CHALLENGE_TTL_S)
    try:
        verify_liveness(store, engine, challenge.id, frames, requester=ME, scope=scope)
    except FaceError as exc:
        return False, str(exc.details.get("reason", exc.code))
    return True, "accepted"


def _yaw(engine: FaceEngine, frame: bytes) -> float | None:
    try:
        image = decode_image(frame, max_bytes=10**8, max_pixels=10**8)
        return engine.analyse_array(image, purpose="selfie", max_yaw_deg=90).yaw
    except FaceError:
        return None


def _sign(name: str) -> str:
    """The sign of an attack's last number (its direction)."""
    found = re.search(r"([+-])[0-9.]+$", name)
    return found.group(1) if found else ""


def _opposite(name: str) -> str:
    """The same attack in the other direction."""
    return re.sub(r"([+-])(?=[0-9.]+$)", lambda m: "-" if m.group(1) == "+" else "+", name)


def _step(turn: float) -> str:
    """The direction a turned frame answers: positive yaw change is the citizen's left."""
    return "left" if turn > 0 else "right"


@pytest.fixture(scope="module")
def sources(photos: dict[str, bytes], turn_frames: dict[int, bytes]) -> dict[str, bytes]:
    """The still photos the attacker starts from (re-encoded as JPEG like a camera frame)."""
    from tests.bot.face.attacks import decode

    return {
        str(name): photos[name] if isinstance(name, str) else encode(decode(turn_frames[name]))
        for name in SOURCES
    }


@pytest.fixture(scope="module")
def attack_sets(engine: FaceEngine, sources: dict[str, bytes]) -> dict[str, list[Attack]]:
    """Every attacked frame per source."""
    result = {}
    for name, photo in sources.items():
        image = decode_image(photo, max_bytes=10**8, max_pixels=10**8)
        landmarks = engine.analyse_array(image, purpose="selfie").landmarks
        result[name] = list(attacks_from(name, photo, landmarks))
    return result


def evaluate(
    store: Any,
    engine: FaceEngine,
    steps: int,
    sources: dict[str, bytes],
    attack_sets: dict[str, list[Attack]],
    turn_frames: dict[int, bytes],
) -> Tally:
    """Run every genuine turn and every attack through the challenge at ``steps`` turns."""
    tally = Tally()
    counter = itertools.count()
    left, right = TURN_FRAMES["left"], TURN_FRAMES["right"]
    for frontal in TURN_FRAMES["frontal"]:
        if steps == 1:
            for frame_no, step in [(n, "left") for n in left] + [(n, "right") for n in right]:
                frames = [turn_frames[frontal], turn_frames[frame_no]]
                ok, why = _answer(store, engine, frames, (step,), f"g{next(counter)}")
                tally.genuine(f"{frontal}->{frame_no}", ok, why)
        else:
            for i, (left_no, right_no) in enumerate(itertools.product(left, right)):
                order = ((left_no, "left"), (right_no, "right"))[:: 1 if i % 2 == 0 else -1]
                frames = [turn_frames[frontal], *(turn_frames[n] for n, _ in order)]
                label = f"{frontal}->{order[0][0]}->{order[1][0]}"
                ok, why = _answer(
                    store, engine, frames, tuple(s for _, s in order), f"g{next(counter)}"
                )
                tally.genuine(label, ok, why)
    for name, attacks in attack_sets.items():
        base = sources[name]
        base_yaw = _yaw(engine, base)
        assert base_yaw is not None
        turns = {a.name: _yaw(engine, a.frame) for a in attacks}
        if steps == 1:
            for attack in attacks:
                turned = turns[attack.name]
                step = _step((turned if turned is not None else base_yaw) - base_yaw)
                ok, why = _answer(store, engine, [base, attack.frame], (step,), f"a{next(counter)}")
                tally.attack(species(attack.name), f"{name}:{attack.name}", ok, why)
        else:
            # The attacker pairs a variant turning each way: + with -, and the copies together.
            by_name = {a.name: a for a in attacks}
            pairs = [
                (a, by_name[_opposite(a.name)]) for a in attacks if _opposite(a.name) != a.name
            ]
            pairs = [(one, two) for one, two in pairs if _sign(one.name) == "+"]
            pairs += [(by_name["mirror"], by_name["reencoded-q35"])]
            pairs += [(by_name["resized0.7"], by_name["resized1.4"])]
            for one, two in pairs:
                answer_steps = tuple(
                    _step((t if t is not None else base_yaw) - base_yaw)
                    for t in (turns[one.name], turns[two.name])
                )
                ok, why = _answer(
                    store, engine, [base, one.frame, two.frame], answer_steps, f"a{next(counter)}"
                )
                tally.attack(species(one.name), f"{name}:{one.name}&{two.name}", ok, why)
    return tally


@pytest.mark.parametrize("steps", [1, 2], ids=["make-run-1-turn", "production-2-turns"])
def test_no_attack_passes_and_every_genuine_turn_does(
    store: Any,
    engine: FaceEngine,
    steps: int,
    sources: dict[str, bytes],
    attack_sets: dict[str, list[Attack]],
    turn_frames: dict[int, bytes],
) -> None:
    tally = evaluate(store, engine, steps, sources, attack_sets, turn_frames)
    print(tally.report(f"{steps} turn(s)"))
    assert sum(tally.attacks.values()) >= 100
    assert {s: v for s, v in tally.accepted.items() if v} == {}
    assert tally.refused == []
    assert tally.bona_fide >= 25


def test_frames_reused_from_another_challenge_are_refused(
    store: Any, engine: FaceEngine, turn_frames: dict[int, bytes]
) -> None:
    """A genuine answer, sent again (as is, or re-encoded) to a new challenge, is refused."""
    from tests.bot.face.attacks import decode

    frames = [turn_frames[51], turn_frames[360], turn_frames[18]]
    assert _answer(store, engine, frames, ("left", "right"), "subject:1") == (True, "accepted")
    assert _answer(store, engine, frames, ("left", "right"), "subject:1") == (
        False,
        "reused_frame",
    )
    reencoded = [encode(decode(frame), quality=80) for frame in frames]
    assert _answer(store, engine, reencoded[:2], ("left",), "subject:1") == (
        False,
        "reused_frame",
    )
    # A new capture of the same turn (frames of the video a second later) is not a replay.
    fresh = [turn_frames[54], turn_frames[384]]
    assert _answer(store, engine, fresh, ("left",), "subject:1") == (True, "accepted")


def test_genuine_evidence_is_a_rigid_turn(
    engine: FaceEngine, turn_frames: dict[int, bytes]
) -> None:
    """On a real turn the forehead moves with the eyes and the face narrows only by cos(yaw)."""
    from bot.face.geometry import pair_evidence

    def analysed(number: int) -> tuple[Any, Any]:
        image = decode_image(turn_frames[number], max_bytes=10**8, max_pixels=10**8)
        return image, engine.analyse_array(image, purpose="selfie", max_yaw_deg=45)

    first, first_sample = analysed(342)
    second, second_sample = analysed(360)
    evidence = pair_evidence(
        first, first_sample.landmarks, first_sample.yaw,
        second, second_sample.landmarks, second_sample.yaw,
    )  # fmt: skip
    assert evidence.forehead_shift > 0.1
    assert abs(evidence.forehead_shift - evidence.eyes_shift) < 0.1
    assert np.isclose(evidence.foreshortening, evidence.expected_foreshortening, atol=0.06)
