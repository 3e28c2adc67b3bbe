"""Threshold calibration from a folder of labelled photos (one sub-folder per identity).

Invariants:
- Genuine pairs are every pair inside an identity; impostor pairs every pair across identities.
- A threshold for a target FAR is reported only when there are at least ``3 / FAR`` impostor
  pairs (the "rule of 3"); otherwise the report says so plainly and gives no number.
- The threshold at a FAR is the lowest score that lets at most ``FAR * n`` impostor pairs through.
- Plots use matplotlib's object API with the Agg canvas: no global backend, no display.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from bot.face.engine import FaceEngine
from bot.face.errors import FaceError

TARGET_FARS = (1e-3, 1e-4, 1e-6)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass
class CalibrationReport:
    """Everything ``flask face calibrate`` prints and writes."""

    pack_id: str
    pack_threshold: float
    identities: int
    images: int
    skipped: dict[str, str]
    genuine: list[float]
    impostor: list[float]
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    at_pack_threshold: dict[str, float | None] = field(default_factory=dict)


def _distribution(scores: list[float]) -> dict[str, float | int | None]:
    """Count and summary statistics of a score list."""
    if not scores:
        return {"count": 0, "min": None, "p5": None, "mean": None, "p95": None, "max": None}
    values = np.asarray(scores)
    return {
        "count": len(scores),
        "min": round(float(values.min()), 4),
        "p5": round(float(np.percentile(values, 5)), 4),
        "mean": round(float(values.mean()), 4),
        "p95": round(float(np.percentile(values, 95)), 4),
        "max": round(float(values.max()), 4),
    }


def threshold_at(impostor: list[float], far: float) -> float:
    """Lowest threshold with at most ``far * n`` impostor scores at or above it."""
    ordered = sorted(impostor, reverse=True)
    allowed = math.floor(far * len(ordered))
    return float(np.nextafter(ordered[allowed], np.inf))


def _rate(scores: list[float], threshold: float, above: bool) -> float | None:
    """Fraction of ``scores`` at/above (or below) ``threshold``."""
    if not scores:
        return None
    values = np.asarray(scores)
    hits = values >= threshold if above else values < threshold
    return round(float(hits.mean()), 6)


def collect(engine: FaceEngine, directory: Path) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Embeddings per identity, and the files skipped with their error code."""
    embeddings: dict[str, list[Any]] = {}
    skipped: dict[str, str] = {}
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                sample = engine.analyse(path.read_bytes(), purpose="reference")
            except FaceError as exc:
                skipped[str(path.relative_to(directory))] = exc.code
                continue
            embeddings.setdefault(folder.name, []).append(sample.embedding)
    return embeddings, skipped


def calibrate(engine: FaceEngine, directory: Path) -> CalibrationReport:
    """Score all pairs and derive thresholds at the target FARs."""
    embeddings, skipped = collect(engine, directory)
    genuine = [
        engine.match(a, b).similarity
        for vectors in embeddings.values()
        for a, b in combinations(vectors, 2)
    ]
    impostor = [
        engine.match(a, b).similarity
        for (_, first), (_, second) in combinations(embeddings.items(), 2)
        for a in first
        for b in second
    ]
    report = CalibrationReport(
        pack_id=engine.pack_id,
        pack_threshold=engine.threshold,
        identities=len(embeddings),
        images=sum(len(v) for v in embeddings.values()),
        skipped=skipped,
        genuine=genuine,
        impostor=impostor,
    )
    for far in TARGET_FARS:
        needed = math.ceil(3 / far)
        entry: dict[str, Any] = {"far": far, "impostor_pairs_needed": needed}
        if len(impostor) < needed:
            entry["threshold"] = None
            entry["note"] = (
                f"not supported: {len(impostor)} impostor pairs, at least {needed} needed"
            )
        else:
            value = threshold_at(impostor, far)
            entry["threshold"] = round(value, 4)
            entry["frr"] = _rate(genuine, value, above=False)
        report.thresholds.append(entry)
    report.at_pack_threshold = {
        "far": _rate(impostor, engine.threshold, above=True),
        "frr": _rate(genuine, engine.threshold, above=False),
    }
    return report


def render_text(report: CalibrationReport) -> str:
    """The human summary printed by the CLI."""
    lines = [
        f"pack {report.pack_id} (threshold {report.pack_threshold}); "
        f"{report.identities} identities, {report.images} images, {len(report.skipped)} skipped",
        f"genuine:  {_distribution(report.genuine)}",
        f"impostor: {_distribution(report.impostor)}",
        f"at pack threshold: {report.at_pack_threshold}",
    ]
    for entry in report.thresholds:
        value = entry["threshold"]
        text = entry.get("note") if value is None else f"threshold {value}, FRR {entry['frr']}"
        lines.append(f"FAR {entry['far']:g}: {text}")
    lines.extend(f"skipped {name}: {code}" for name, code in report.skipped.items())
    return "\n".join(lines)


def _roc(report: CalibrationReport) -> tuple[list[float], list[float]]:
    """FAR and TAR over every observed score."""
    points = sorted(set(report.genuine) | set(report.impostor), reverse=True)
    far = [_rate(report.impostor, t, above=True) or 0.0 for t in points]
    tar = [_rate(report.genuine, t, above=True) or 0.0 for t in points]
    return far, tar


def write_reports(report: CalibrationReport, prefix: Path) -> tuple[Path, Path]:
    """Write ``<prefix>.json`` and ``<prefix>.png`` (ROC + histograms)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    prefix.parent.mkdir(parents=True, exist_ok=True)
    json_path, png_path = prefix.with_suffix(".json"), prefix.with_suffix(".png")
    body = asdict(report)
    body["genuine_stats"] = _distribution(report.genuine)
    body["impostor_stats"] = _distribution(report.impostor)
    json_path.write_text(json.dumps(body, indent=2) + "\n")

    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    hist, roc = figure.subplots(1, 2)
    bins = list(np.linspace(-0.2, 1.0, 49))
    hist.hist(report.impostor, bins=bins, alpha=0.6, label="impostor", color="tab:red")
    hist.hist(report.genuine, bins=bins, alpha=0.6, label="genuine", color="tab:green")
    hist.axvline(report.pack_threshold, color="black", linestyle="--", label="pack threshold")
    hist.set_xlabel("cosine similarity")
    hist.set_ylabel("pairs")
    hist.legend()
    far, tar = _roc(report)
    roc.plot([max(f, 1e-7) for f in far], tar, marker=".")
    roc.set_xscale("log")
    roc.set_xlabel("false accept rate")
    roc.set_ylabel("true accept rate")
    roc.set_title(f"ROC, pack {report.pack_id}")
    figure.tight_layout()
    figure.savefig(str(png_path))
    return json_path, png_path
