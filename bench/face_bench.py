"""Face engine benchmark: latency, throughput, memory, and gunicorn loading strategies.

Prints p50/p95 of detection, embedding and a full two-image match (decode, detect, gates,
align, embed both photos, compare), matches/s with 1 and 2 onnxruntime intra-op threads, RSS
after loading, and the RSS/PSS/start time of two forked workers with the model preloaded in the
parent versus loaded in each worker.

The peers run on the same photos in the same process, interleaved with ours, so a loaded
machine slows all alike (see ``bench/face_peers.py``): OpenCV's own pipeline
(``cv2.FaceDetectorYN`` + ``cv2.FaceRecognizerSF``) on the same pack's model files at the same
detection size, and our engine as it was before issue 14's speed work. Both OpenCV's and our
match are also split into stages (decode, detect, align, embed, the rest). A synthetic large
photo (obama.jpg upscaled to 4032x3024) measures the JPEG decode at full size against the
reduced decode, and a match of two such photos both ways. The last line is machine-readable:
``face_bench match_p50_ms=... ratio_to_opencv=... ratio_to_before=... large_match_ratio=...
rss_mb=...`` (``rss_mb``: the larger RSS of two forked workers that each loaded the engine and
ran one match).

Run: ``make bench`` or ``.venv/bin/python bench/face_bench.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.face_peers import OpenCvPipeline, engine_as_before  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.face.engine import FaceEngine  # noqa: E402
from bot.face.images import decode_image, decode_image_reduced  # noqa: E402
from bot.face.service import get_engine  # noqa: E402
from tests.kit.photos import photo_paths  # noqa: E402

FACE_ROOT = ROOT / ".cache" / "face"
STAGES = ("decode", "detect", "align", "embed")


def memory() -> dict[str, float]:
    """RSS and PSS of this process in MB (Linux)."""
    values = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss", "Private_Dirty", "Shared_Clean"):
            values[key.lower()] = int(rest.split()[0]) / 1024
    return values


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 in ms."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    """Durations of ``rounds`` calls after two warm-up calls."""
    action()
    action()
    durations = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        durations.append(time.perf_counter() - started)
    return durations


def engine_for(threads: int) -> FaceEngine:
    """The default-pack engine with ``threads`` intra-op threads."""
    return get_engine(Settings(face_model_root=FACE_ROOT, face_ort_threads=threads))


def large_jpeg(data: bytes) -> bytes:
    """``data`` upscaled to a 4032x3024 phone-camera-sized JPEG."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        big = image.convert("RGB").resize((4032, 3024))
    out = io.BytesIO()
    big.save(out, "JPEG", quality=90)
    return out.getvalue()


def worker_probe(preloaded: FaceEngine | None, first: bytes, second: bytes) -> dict[str, float]:
    """In a forked child: (load,) run one match, report memory and time to first match."""
    started = time.perf_counter()
    engine = preloaded or engine_for(1)
    engine.match(
        engine.analyse(first, purpose="reference").embedding,
        engine.analyse(second, purpose="selfie").embedding,
    )
    return {"first_match_s": time.perf_counter() - started, **memory()}


def fork_workers(preloaded: FaceEngine | None, first: bytes, second: bytes) -> list[dict]:
    """Fork two workers like gunicorn and collect their probes."""
    results = []
    children = []
    for _ in range(2):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            os.write(write, json.dumps(worker_probe(preloaded, first, second)).encode())
            os._exit(0)
        os.close(write)
        children.append((pid, read))
    for pid, read in children:
        with os.fdopen(read) as handle:
            results.append(json.loads(handle.read()))
        os.waitpid(pid, 0)
    return results


def main() -> None:
    """Run every measurement and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    rounds = parser.parse_args().rounds
    paths = photo_paths()
    first, second = paths["obama"].read_bytes(), paths["obama2"].read_bytes()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "unknown",
    )  # fmt: skip
    print(f"machine: nproc={os.cpu_count()} cpu={cpu}")

    # Per-worker vs preload first, from a parent that has not loaded anything yet.
    per_worker = fork_workers(None, first, second)
    base = memory()
    started = time.perf_counter()
    engine = engine_for(1)
    load_s = time.perf_counter() - started
    loaded = memory()
    preload = fork_workers(engine, first, second)
    for name, probes in (("per-worker load", per_worker), ("preload in master", preload)):
        first_s = ", ".join(f"{p['first_match_s']:.2f}s" for p in probes)
        rss_mb = ", ".join(f"{p['rss']:.0f}" for p in probes)
        pss_mb = ", ".join(f"{p['pss']:.0f}" for p in probes)
        print(
            f"gunicorn {name}: 2 workers, first match {first_s}; rss {rss_mb} MB; pss {pss_mb} MB"
        )
    print(
        f"load: {load_s:.2f}s; rss before {base['rss']:.0f} MB, after load {loaded['rss']:.0f} MB"
    )

    image = decode_image(first, max_bytes=10**8, max_pixels=10**9)
    landmarks = engine.detect(image)[1][0]
    for label, action in (
        ("decode", lambda: decode_image(first, max_bytes=10**8, max_pixels=10**9)),
        ("detection", lambda: engine.detect(image)),
        ("embedding", lambda: engine.embed(image, landmarks)),
    ):
        p50, p95 = percentiles(timed(action, rounds))
        print(f"{label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")

    def full_match(current: FaceEngine) -> None:
        current.match(
            current.analyse(first, purpose="reference").embedding,
            current.analyse(second, purpose="selfie").embedding,
        )

    big = large_jpeg(first)
    for label, min_side in (("full size", 0), ("reduced", 1000)):
        p50, _ = percentiles(timed(lambda m=min_side: decode_image_reduced(
            big, max_bytes=10**8, max_pixels=10**9, min_side=m), rounds))  # fmt: skip
        print(f"decode 4032x3024 JPEG, {label}: p50 {p50:.1f} ms")

    opencv = OpenCvPipeline(engine)
    big2 = large_jpeg(second)

    def full_size_match() -> None:
        embeddings = []
        for data in (big, big2):
            image, _ = decode_image_reduced(data, max_bytes=10**8, max_pixels=10**9, min_side=0)
            embeddings.append(engine.analyse_array(image, purpose="reference").embedding)
        engine.match(*embeddings)

    def reduced_match() -> None:
        engine.match(
            engine.analyse(big, purpose="reference").embedding,
            engine.analyse(big2, purpose="reference").embedding,
        )

    before = engine_as_before(engine)
    stages: dict[str, list[float]] = {}

    def staged_match() -> None:
        """Our match, stage by stage (the stages of ``analyse``, timed one by one)."""
        embeddings = []
        for data in (first, second):
            marks = [time.perf_counter()]
            image, _ = decode_image_reduced(data, max_bytes=10**8, max_pixels=10**9, min_side=1000)
            marks.append(time.perf_counter())
            landmarks = engine.detect(image)[1][0]
            marks.append(time.perf_counter())
            aligned = engine.align(image, landmarks)
            marks.append(time.perf_counter())
            embeddings.append(engine._embed_aligned(aligned))
            marks.append(time.perf_counter())
            for stage, start, end in zip(STAGES, marks, marks[1:], strict=False):
                stages.setdefault(stage, []).append(end - start)
        engine.match(*embeddings)

    names = ("ours", "opencv", "before", "staged", "big", "big_full")
    samples: dict[str, list[float]] = {name: [] for name in names}
    actions: dict[str, Callable[[], object]] = {
        "ours": lambda: full_match(engine),
        "opencv": lambda: opencv.match(first, second),
        "before": lambda: np.dot(before(first, "reference"), before(second, "selfie")),
        "staged": staged_match,
        "big": reduced_match,
        "big_full": full_size_match,
    }
    for action in actions.values():
        action()
    stages.clear()
    opencv.stages.clear()
    for _ in range(rounds):  # interleaved, so a busy moment slows every pipeline alike
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            samples[name].append(time.perf_counter() - started)
    match_p50, match_p95 = percentiles(samples["ours"])
    opencv_p50, _ = percentiles(samples["opencv"])
    before_p50, _ = percentiles(samples["before"])
    big_p50, _ = percentiles(samples["big"])
    big_full_p50, _ = percentiles(samples["big_full"])
    print(f"full two-image match: p50 {match_p50:.1f} ms, p95 {match_p95:.1f} ms")
    print(f"opencv pipeline, same files and size: p50 {opencv_p50:.1f} ms")
    print(f"our pipeline as before issue 14's speed work: p50 {before_p50:.1f} ms")
    print("stages per photo (p50 ms, ours / opencv):", ", ".join(
        f"{stage} {percentiles(stages[stage])[0]:.1f} / {percentiles(opencv.stages[stage])[0]:.1f}"
        for stage in STAGES))  # fmt: skip
    staged = sum(percentiles(stages[stage])[0] for stage in STAGES)  # per photo
    print(f"the rest of our match (gates, checks, python): {match_p50 - 2 * staged:.1f} ms")
    print(f"two 4032x3024 photos: reduced decode p50 {big_p50:.1f} ms, full {big_full_p50:.1f} ms")
    similarity = engine.match(
        engine.analyse(first, purpose="reference").embedding,
        engine.analyse(second, purpose="reference").embedding,
    ).similarity
    print(
        f"obama/obama2 similarity: ours {similarity:.3f}, opencv {opencv.match(first, second):.3f}"
    )
    for threads in (1, 2):
        current = engine_for(threads)
        durations = timed(lambda current=current: full_match(current), rounds)
        print(f"matches/s with {threads} intra-op thread(s): {len(durations) / sum(durations):.1f}")
    rss = memory()["rss"]
    print(f"rss after all runs (several engines loaded): {rss:.0f} MB")
    worker_rss = max(probe["rss"] for probe in per_worker)
    print(
        f"face_bench match_p50_ms={match_p50:.1f} ratio_to_opencv={match_p50 / opencv_p50:.2f} "
        f"ratio_to_before={match_p50 / before_p50:.2f} "
        f"large_match_ratio={big_p50 / big_full_p50:.2f} rss_mb={worker_rss:.0f}"
    )


if __name__ == "__main__":
    main()
