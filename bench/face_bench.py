"""Face engine benchmark: latency, throughput, memory, and gunicorn loading strategies.

Prints p50/p95 of detection, embedding and a full two-image match (decode, detect, gates,
align, embed both photos, compare), matches/s with 1 and 2 onnxruntime intra-op threads, RSS
after loading, and the RSS/PSS/start time of two forked workers with the model preloaded in the
parent versus loaded in each worker. The last line is machine-readable:
``face_bench match_p50_ms=... match_p95_ms=... rss_mb=...``.

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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.face.engine import FaceEngine  # noqa: E402
from bot.face.images import decode_image  # noqa: E402
from bot.face.service import get_engine  # noqa: E402
from tests.photos import photo_paths  # noqa: E402

FACE_ROOT = ROOT / ".cache" / "face"


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

    match_p50, match_p95 = percentiles(timed(lambda: full_match(engine), rounds))
    print(f"full two-image match: p50 {match_p50:.1f} ms, p95 {match_p95:.1f} ms")
    for threads in (1, 2):
        current = engine_for(threads)
        durations = timed(lambda current=current: full_match(current), rounds)
        print(f"matches/s with {threads} intra-op thread(s): {len(durations) / sum(durations):.1f}")
    rss = memory()["rss"]
    print(f"rss after all runs (two engines loaded): {rss:.0f} MB")
    print(
        f"face_bench match_p50_ms={match_p50:.1f} match_p95_ms={match_p95:.1f} "
        f"rss_mb={loaded['rss']:.0f}"
    )


if __name__ == "__main__":
    main()
