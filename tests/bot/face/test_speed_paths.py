"""The faster paths of issue 14 compute exactly what the slower ones did, on real photos.

- the recogniser's graph with PRelu rewritten gives the same embedding, bit for bit, as the
  file's own graph;
- ``bot.face.align.norm_crop`` gives the same pixels as insightface's ``norm_crop``;
- JPEGs decoded by OpenCV equal PIL's decode (every EXIF orientation, greyscale, the reduced
  decode of a large photo); CMYK JPEGs, which OpenCV rounds differently, still go through PIL.
"""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from insightface.utils import face_align
from numpy.typing import NDArray
from PIL import Image, ImageOps

from bot.face.align import norm_crop
from bot.face.engine import FaceEngine
from bot.face.images import decode_image_reduced
from bot.face.recogniser import OnnxRecogniser, rewrite_prelu

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 40_000_000}


def _options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return options


def test_prelu_rewrite_is_exact(engine: FaceEngine, photos: dict[str, bytes]) -> None:
    rec = engine.manifest.recognition
    path = engine.manifest.path / rec.file
    model = onnx.load(str(path))
    prelus = sum(node.op_type == "PRelu" for node in model.graph.node)
    assert prelus > 0 and rewrite_prelu(model) == prelus
    assert not any(node.op_type == "PRelu" for node in model.graph.node)
    onnx.checker.check_model(model)
    rewritten = OnnxRecogniser(path, _options(), mean=rec.mean, std=rec.std)
    original = OnnxRecogniser(path, _options(), mean=rec.mean, std=rec.std, rewrite=False)
    for name in ("obama", "obama2", "biden"):
        sample = engine.analyse(photos[name], purpose="reference")
        fast, slow = rewritten.features(sample.aligned), original.features(sample.aligned)
        assert np.array_equal(fast, slow)
        assert np.array_equal(sample.embedding, (slow / np.linalg.norm(slow)).astype(np.float32))


def test_norm_crop_matches_insightface(engine: FaceEngine, photos: dict[str, bytes]) -> None:
    rng = np.random.default_rng(14)
    compared = 0
    for name in ("obama", "obama2", "group"):
        image, _ = decode_image_reduced(photos[name], min_side=0, **LIMITS)
        for landmarks in engine.detect(image)[1]:
            jittered = (landmarks + rng.normal(0, 3, landmarks.shape)).astype(np.float32)
            for points in (landmarks, jittered):
                for size in (112, 128):
                    ours = norm_crop(image, points, size)
                    theirs = face_align.norm_crop(image, landmark=points, image_size=size)
                    assert np.array_equal(ours, theirs)
                    compared += 1
    assert compared >= 24  # the group photo alone has six faces


def _pil_decode(data: bytes, reduce: int = 1) -> NDArray[np.uint8]:
    with Image.open(io.BytesIO(data)) as image:
        if reduce > 1:
            image.draft("RGB", (image.size[0] // reduce, image.size[1] // reduce))
        rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"), np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _jpeg(image: Image.Image, orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_opencv_jpeg_decode_equals_pil(photos: dict[str, bytes], orientation: int) -> None:
    data = _jpeg(Image.open(io.BytesIO(photos["obama"])).convert("RGB"), orientation)
    decoded, scale = decode_image_reduced(data, min_side=1000, **LIMITS)
    assert scale == 1.0
    assert np.array_equal(decoded, _pil_decode(data))


def test_opencv_decode_greyscale_and_reduced(photos: dict[str, bytes]) -> None:
    still = Image.open(io.BytesIO(photos["obama"])).convert("RGB")
    grey = _jpeg(still.convert("L"))
    assert np.array_equal(decode_image_reduced(grey, min_side=0, **LIMITS)[0], _pil_decode(grey))
    large = _jpeg(still.resize((3000, 2200)), orientation=6)  # stored sideways, 2:1 reduction
    decoded, scale = decode_image_reduced(large, min_side=1000, **LIMITS)
    assert decoded.shape[:2] == (1500, 1100) and scale == 2.0
    assert np.array_equal(decoded, _pil_decode(large, reduce=2))


def test_cmyk_jpeg_goes_through_pil(photos: dict[str, bytes]) -> None:
    out = io.BytesIO()
    Image.open(io.BytesIO(photos["obama"])).convert("CMYK").save(out, "JPEG", quality=90)
    cmyk = out.getvalue()
    assert np.array_equal(decode_image_reduced(cmyk, min_side=0, **LIMITS)[0], _pil_decode(cmyk))
