"""Split gates: a 102 x 126 ID card chip photo (eyes 25-30 px apart) is a usable reference but
would be refused as a live face; the chip-reference threshold relief is measured, not guessed."""

from __future__ import annotations

import pytest

from bot.demo.chip import CHIP_SIZE, chip_photo
from bot.face.engine import FaceEngine
from bot.face.errors import FaceTooSmall
from bot.terminals.chip import match_live_face
from bot.terminals.errors import ChipFaceMismatch
from tests.bot.face.imaging import to_image

pytestmark = pytest.mark.face


@pytest.mark.parametrize("name", ["obama", "obama2", "obama3", "biden"])
def test_a_chip_photo_passes_the_reference_gates_not_the_live_ones(
    engine: FaceEngine, photos: dict[str, bytes], name: str
) -> None:
    chip = chip_photo(engine, photos[name])
    assert to_image(chip).size == CHIP_SIZE
    sample = engine.analyse(chip, purpose="reference")
    assert 24 <= sample.quality["interocular_px"] < engine.limits.gates.min_interocular_px
    with pytest.raises(FaceTooSmall):
        engine.analyse(chip, purpose="selfie")


def test_the_reference_gate_still_refuses_a_speck(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    speck = to_image(chip_photo(engine, photos["obama"])).resize((51, 63))
    from tests.bot.face.imaging import to_jpeg

    with pytest.raises(FaceTooSmall):
        engine.analyse(to_jpeg(speck), purpose="reference")


def test_the_chip_of_one_person_matches_their_other_photos_only(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    chip = chip_photo(engine, photos["obama"])
    for same in ("obama2", "obama3"):
        assert match_live_face(engine, chip, photos[same], relief=0.05).decision
    with pytest.raises(ChipFaceMismatch):
        match_live_face(engine, chip, photos["biden"], relief=0.05)


def test_the_relief_lowers_only_the_decision(engine: FaceEngine, photos: dict[str, bytes]) -> None:
    chip = chip_photo(engine, photos["obama"])
    strict = match_live_face(engine, chip, photos["obama2"])
    relieved = match_live_face(engine, chip, photos["obama2"], relief=0.05)
    assert strict.similarity == relieved.similarity
    assert relieved.threshold == pytest.approx(engine.threshold - 0.05)
