"""How the 102 x 126 ID card chip photo changes face matching (docs/face.md, "The chip photo").

For every sample photo with one person (the three Obama photos, Biden, Tom Hanks, and five frontal
frames of the head-turn video), make a chip photo the way a card stores it
(:func:`bot.demo.chip.chip_photo`: head-and-shoulders framing, 102 x 126, JPEG) and compare
it, as the reference, with every *other* full-size photo as the live face. The same pairs are
also compared full-size against full-size, the situation the threshold was chosen for. Genuine
pairs are the same person in two different photos; impostor pairs are different people.

Prints the eye distance of each chip photo, the genuine and impostor similarity distributions
(min, p10, median, max) for both, and the margin of each to the pack threshold; the last line is
machine-readable: ``chip_similarity genuine_min=... impostor_max=... threshold=...``.

Run: ``.venv/bin/python bench/chip_similarity.py``.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.demo.chip import chip_photo  # noqa: E402
from bot.face.service import get_engine  # noqa: E402
from tests.kit.photos import photo_paths, turn_frame_paths  # noqa: E402

FACE_ROOT = ROOT / ".cache" / "face"
PEOPLE = {"obama": "obama", "obama2": "obama", "obama3": "obama", "biden": "biden",
          "tom_hanks": "hanks"}  # fmt: skip
FRONTAL_FRAMES = (51, 54, 264, 276, 342)


def samples() -> dict[str, tuple[str, bytes]]:
    """Name -> (person, photo bytes) of every single-person sample."""
    paths = photo_paths()
    found = {name: (person, paths[name].read_bytes()) for name, person in PEOPLE.items()}
    frames = turn_frame_paths()
    for number in FRONTAL_FRAMES:
        found[f"turn_{number}"] = ("turn", frames[number].read_bytes())
    return found


def describe(values: list[float]) -> str:
    """min / p10 / median / max."""
    ordered = sorted(values)
    p10 = ordered[max(0, int(len(ordered) * 0.1) - 1)]
    return (
        f"n={len(values)} min={ordered[0]:.3f} p10={p10:.3f} "
        f"median={statistics.median(ordered):.3f} max={ordered[-1]:.3f}"
    )


def main() -> None:
    """Measure and print."""
    engine = get_engine(Settings(env="testing", face_model_root=FACE_ROOT))
    threshold = engine.threshold
    photos = samples()
    full, chip, eyes = {}, {}, {}
    for name, (_person, data) in photos.items():
        full[name] = engine.analyse(data, purpose="reference").embedding
        small = engine.analyse(chip_photo(engine, data), purpose="reference")
        chip[name], eyes[name] = small.embedding, small.quality["interocular_px"]
    print("chip photo eye distance (px):", {k: round(v, 1) for k, v in eyes.items()})
    results: dict[str, dict[str, list[float]]] = {
        "full reference": {"genuine": [], "impostor": []},
        "chip reference": {"genuine": [], "impostor": []},
    }
    drops = []
    for ref in photos:
        for live in photos:
            if ref == live:
                continue
            kind = "genuine" if photos[ref][0] == photos[live][0] else "impostor"
            as_full = float(np.dot(full[ref], full[live]))
            as_chip = float(np.dot(chip[ref], full[live]))
            results["full reference"][kind].append(as_full)
            results["chip reference"][kind].append(as_chip)
            if kind == "genuine":
                drops.append(as_full - as_chip)
    print(f"threshold {threshold}")
    for label, kinds in results.items():
        genuine, impostor = kinds["genuine"], kinds["impostor"]
        print(f"{label}: genuine  {describe(genuine)}  margin {min(genuine) - threshold:+.3f}")
        print(f"{label}: impostor {describe(impostor)}  margin {threshold - max(impostor):+.3f}")
    print(f"genuine similarity lost to the chip size: {describe(drops)}")
    chip_genuine, chip_impostor = results["chip reference"].values()
    print(
        f"chip_similarity genuine_min={min(chip_genuine):.3f} "
        f"genuine_median={statistics.median(chip_genuine):.3f} "
        f"impostor_max={max(chip_impostor):.3f} threshold={threshold}"
    )


if __name__ == "__main__":
    main()
