"""The recognition model's onnxruntime session, with PRelu rewritten for speed, and its input.

Why: onnxruntime 1.32's CPU PRelu broadcasts a per-channel slope element by element; on
SFace it took 13 of 20 ms per embedding (profiled). ``PRelu(x, a)`` equals
``Relu(x) + a * (x - Relu(x))`` bit for bit: for ``x >= 0`` the second term is ``a * 0``,
for ``x < 0`` the first term is 0 and ``x - 0`` is ``x``. onnxruntime runs these four
vectorised kernels in ~4 ms.

Invariants:
- The model file on disk is never changed, so the pack manifest's sha256 still describes it
  (checked before this module sees the file); the rewrite happens in memory at load time.
- The rewritten graph computes exactly the original's function (same outputs bit for bit,
  checked by ``tests/bot/face/test_recogniser.py`` on a real photo).
- Parsing and rewriting the graph leaves ~60 MB of freed buffers in the C heap; they are handed
  back to the OS after the session is built (glibc ``malloc_trim``; a no-op without glibc), so a
  worker's RSS holds the session, not the parse.
- Preprocessing is insightface's ``ArcFaceONNX.get_feat``: RGB, ``(pixel - mean) / std``,
  NCHW float32; ``mean``/``std`` come from the pack manifest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper

if TYPE_CHECKING:
    import onnxruntime as ort


def rewrite_prelu(model: onnx.ModelProto) -> int:
    """Replace every PRelu node of ``model`` by Relu/Sub/Mul/Add in place; returns how many."""
    nodes: list[onnx.NodeProto] = []
    count = 0
    for node in model.graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        count += 1
        x, slope = node.input
        (y,) = node.output
        stem = f"{node.name or y}__prelu"
        nodes += [
            helper.make_node("Relu", [x], [f"{stem}_pos"], name=f"{stem}_relu"),
            helper.make_node("Sub", [x, f"{stem}_pos"], [f"{stem}_neg"], name=f"{stem}_sub"),
            helper.make_node("Mul", [f"{stem}_neg", slope], [f"{stem}_scaled"], name=f"{stem}_mul"),
            helper.make_node("Add", [f"{stem}_pos", f"{stem}_scaled"], [y], name=f"{stem}_add"),
        ]
    if count:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return count


def trim_heap() -> None:
    """Return the C heap's free pages to the OS (glibc ``malloc_trim``); a no-op elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return
    trim(0)


def load_session(
    path: Path, options: ort.SessionOptions, *, rewrite: bool = True
) -> ort.InferenceSession:
    """A CPU session of ``path``, built from the PRelu-free graph when the file has PRelu
    (unless ``rewrite`` is False: the file as it is, for comparisons)."""
    import onnxruntime as ort  # see bot.face.engine: never imported before gunicorn forks

    model = onnx.load(str(path))
    source: str | bytes = str(path)
    if rewrite and rewrite_prelu(model):
        source = model.SerializeToString()
    del model
    session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    del source
    trim_heap()
    return session


class OnnxRecogniser:
    """The embedding model of a pack: aligned BGR crop in, raw (unnormalised) vector out."""

    def __init__(
        self,
        path: Path,
        options: ort.SessionOptions,
        *,
        mean: float,
        std: float,
        rewrite: bool = True,
    ) -> None:
        self.session = load_session(path, options, rewrite=rewrite)
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.output_name = self.session.get_outputs()[0].name
        self.input_size = (int(first.shape[3]), int(first.shape[2]))
        self.input_mean = mean
        self.input_std = std

    def blob(self, aligned: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The model input for one aligned crop (see the module invariants)."""
        mean = (self.input_mean,) * 3
        return np.asarray(
            cv2.dnn.blobFromImage(aligned, 1.0 / self.input_std, self.input_size, mean, True),
            np.float32,
        )

    def features(self, aligned: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The raw embedding of one aligned crop, flattened."""
        out = self.session.run([self.output_name], {self.input_name: self.blob(aligned)})[0]
        return np.asarray(out, np.float32).reshape(-1)
