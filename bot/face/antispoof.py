"""Passive presentation-attack detection (PAD) from a pack's optional ``antispoof`` ONNX model.

Manifest slot (``tasks.antispoof``, optional; no shipped pack has one)::

    "antispoof": {"file": "pad.onnx", "sha256": "<sha256>", "threshold": 0.5,
                  "preprocessing": {"mean": 127.5, "std": 128.0}, "input_size": [112, 112],
                  "live_index": 0}

Invariants:
- The model sees the aligned face crop (the recogniser's 112x112 ``norm_crop``) resized to
  ``input_size``, as RGB, NCHW float32 ``(pixel - mean) / std``; its first output, flattened,
  holds the live probability at ``live_index``.
- A frame scoring below the manifest's ``threshold`` is refused with
  :class:`PresentationAttackSuspected` (its own code); the threshold is the pack's, never ours.
- onnxruntime is imported only when the session is created (fork safety, see engine.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from bot.face.errors import FaceModelUnavailable
from bot.face.packs import PackManifest

if TYPE_CHECKING:
    import onnxruntime as ort

    from bot.face.engine import FaceSample


class OnnxAntiSpoof:
    """The :class:`bot.face.liveness.AntiSpoof` of a pack that ships a PAD model."""

    def __init__(self, manifest: PackManifest, options: ort.SessionOptions) -> None:
        import onnxruntime as ort

        task = manifest.antispoof
        if task is None:
            raise FaceModelUnavailable(f"pack {manifest.pack_id} has no antispoof model")
        try:
            self._threshold = float(task.options["threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FaceModelUnavailable(
                f"{manifest.path}: tasks.antispoof needs a numeric threshold"
            ) from exc
        self._task = task
        self._live_index = int(task.options.get("live_index", 0))
        self._session = ort.InferenceSession(
            str(manifest.path / task.file), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    @property
    def threshold(self) -> float:
        """Scores below this are refused (from the manifest)."""
        return self._threshold

    def live_score(self, image: NDArray[np.uint8], sample: FaceSample) -> float:
        """Live probability of the sample's aligned face; ``image`` is the whole frame."""
        width, height = self._task.input_size
        crop = cv2.resize(sample.aligned, (width, height), interpolation=cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)
        blob = ((rgb - self._task.mean) / self._task.std).transpose(2, 0, 1)[np.newaxis]
        outputs = self._session.run(None, {self._input: np.ascontiguousarray(blob)})
        return float(np.asarray(outputs[0], np.float32).reshape(-1)[self._live_index])
