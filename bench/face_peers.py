"""The pipelines ``bench/face_bench.py`` compares ours with, on the same pack files.

- :class:`OpenCvPipeline`: OpenCV's own (``cv2.FaceDetectorYN`` + ``cv2.FaceRecognizerSF``),
  one thread like our engine: ``cv2.imdecode``, resize to fit the detector, detect, ``alignCrop``
  on the full image, ``feature``, cosine.
- :func:`engine_as_before`: our engine as it was before issue 14's speed work: PIL decoding
  (``draft`` for large JPEGs, EXIF transpose, RGB to BGR), onnxruntime sessions with the memory
  pattern on, and the recogniser's graph as the file has it (PRelu not rewritten). Alignment is
  the current one, which gives the same pixels as insightface's ``norm_crop`` it replaced.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from bot.face.detectors import YuNetDetector
from bot.face.engine import FaceEngine
from bot.face.images import _draft_size
from bot.face.recogniser import OnnxRecogniser


class OpenCvPipeline:
    """OpenCV's YuNet + SFace classes on the pack's own ONNX files."""

    def __init__(self, engine: FaceEngine) -> None:
        import cv2

        cv2.setNumThreads(1)  # like our engine: one thread per worker, the cores go to workers
        manifest = engine.manifest
        det, rec = manifest.detection, manifest.recognition
        self.size = det.input_size
        self.detector = cv2.FaceDetectorYN.create(
            str(manifest.path / det.file), "", self.size,
            float(det.options.get("score_threshold", 0.6)),
            float(det.options.get("nms_threshold", 0.3)),
        )  # fmt: skip
        self.recogniser = cv2.FaceRecognizerSF.create(str(manifest.path / rec.file), "")
        self.cv2 = cv2
        self.stages: dict[str, list[float]] = {}

    def _stage(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.stages.setdefault(name, []).append(now - started)
        return now

    def embed(self, data: bytes) -> NDArray[np.float32]:
        """Decode, detect at the pack's size, align and embed the largest face."""
        cv2 = self.cv2
        started = time.perf_counter()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        started = self._stage("decode", started)
        scale = min(self.size[0] / image.shape[1], self.size[1] / image.shape[0])
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        self.detector.setInputSize((small.shape[1], small.shape[0]))
        _, faces = self.detector.detect(small)
        started = self._stage("detect", started)
        face = faces[np.argmax(faces[:, 2] * faces[:, 3])].copy()
        face[:14] /= scale
        aligned = self.recogniser.alignCrop(image, face)
        started = self._stage("align", started)
        feature = self.recogniser.feature(aligned).reshape(-1)
        self._stage("embed", started)
        return np.asarray(feature / np.linalg.norm(feature), np.float32)

    def match(self, first: bytes, second: bytes) -> float:
        """Cosine similarity of the two photos' faces."""
        return float(np.dot(self.embed(first), self.embed(second)))


def pil_decode(data: bytes, min_side: int = 1000) -> tuple[NDArray[np.uint8], float]:
    """The decode as it was: PIL, reduced while decoding when large, upright, BGR."""
    with Image.open(io.BytesIO(data)) as image:
        width = image.size[0]
        target = _draft_size(*image.size, min_side) if image.format == "JPEG" else None
        if target is not None:
            image.draft("RGB", target)
        image.load()
        scale = width / image.size[0]
        rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1]), scale


def engine_as_before(engine: FaceEngine) -> Callable[[bytes, str], NDArray[np.float32]]:
    """An embed function ``(photo, purpose)`` running the pipeline as it was (module doc)."""
    import onnxruntime as ort

    manifest = engine.manifest
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    before = FaceEngine(manifest, engine.limits, threads=1)
    det, rec = manifest.detection, manifest.recognition
    before.detector = YuNetDetector(manifest.path / det.file, det.options, options)
    before.recogniser = OnnxRecogniser(
        manifest.path / rec.file, options, mean=rec.mean, std=rec.std, rewrite=False
    )

    def embed(data: bytes, purpose: str) -> NDArray[np.float32]:
        image, scale = pil_decode(data)
        sample = before.analyse_array(image, purpose=purpose, scale=scale)  # type: ignore[arg-type]
        return sample.embedding

    return embed
