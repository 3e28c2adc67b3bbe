"""Turn block-quantised ONNX files into plain fp32 graphs that onnxruntime accepts.

Why: the OpenCV Zoo ``*_int8bq`` files use DequantizeLinear with ``block_size`` on constant
weights, which onnxruntime 1.32 rejects, and the SFace file also lists its weights as graph
inputs, which onnxruntime then demands at run time.

Invariants:
- Only DequantizeLinear nodes whose inputs are all initialisers are folded; the computed fp32
  tensor becomes an initialiser under the node's output name, so the rest of the graph is untouched.
- Graph inputs that are initialisers (or produced inside the graph) are dropped; real inputs stay.
- The result passes ``onnx.checker``; the caller records its sha256 in the pack manifest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import numpy_helper


def dequantize_blocks(
    quantized: NDArray[np.integer],
    scale: NDArray[np.floating],
    zero_point: NDArray[np.integer] | None,
    *,
    axis: int,
    block_size: int,
) -> NDArray[np.float32]:
    """ONNX DequantizeLinear semantics: per-tensor, per-axis, or blocked along ``axis``."""
    values = quantized.astype(np.float32)
    zero = (
        np.zeros_like(scale, dtype=np.float32)
        if zero_point is None
        else zero_point.astype(np.float32)
    )
    scale = scale.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return ((values - zero.reshape(())) * scale.reshape(())).astype(np.float32)
    axis = axis % values.ndim
    if block_size > 0:
        length = values.shape[axis]
        scale = np.repeat(scale, block_size, axis=axis).take(range(length), axis=axis)
        zero = np.repeat(zero, block_size, axis=axis).take(range(length), axis=axis)
    else:  # per-axis: a 1-D scale broadcast along ``axis``
        shape = [1] * values.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero = zero.reshape(shape)
    return ((values - zero) * scale).astype(np.float32)


def _attributes(node: onnx.NodeProto) -> dict[str, int]:
    """Integer attributes of a node (``axis``, ``block_size``)."""
    return {attr.name: int(onnx.helper.get_attribute_value(attr)) for attr in node.attribute}


def fold_dequantize(model: onnx.ModelProto) -> int:
    """Replace constant DequantizeLinear nodes by fp32 initialisers; returns how many."""
    graph = model.graph
    initialisers = {init.name: init for init in graph.initializer}
    folded: list[onnx.NodeProto] = []
    used_inputs: set[str] = set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        names = [name for name in node.input if name]
        if not all(name in initialisers for name in names):
            continue
        arrays = [numpy_helper.to_array(initialisers[name]) for name in names]
        attrs = _attributes(node)
        weights = dequantize_blocks(
            arrays[0],
            arrays[1],
            arrays[2] if len(arrays) > 2 else None,
            axis=attrs.get("axis", 1),
            block_size=attrs.get("block_size", 0),
        )
        graph.initializer.append(numpy_helper.from_array(weights, name=node.output[0]))
        folded.append(node)
        used_inputs.update(names)
    for node in folded:
        graph.node.remove(node)
    still_used = {name for node in graph.node for name in node.input}
    for name in used_inputs - still_used:
        graph.initializer.remove(initialisers[name])
    return len(folded)


def drop_weight_inputs(model: onnx.ModelProto) -> int:
    """Remove graph inputs that are weights, node outputs or unused; returns how many."""
    graph = model.graph
    consumed = {name for node in graph.node for name in node.input}
    internal = {init.name for init in graph.initializer}
    internal.update(name for node in graph.node for name in node.output)
    extra = [value for value in graph.input if value.name in internal or value.name not in consumed]
    for value in extra:
        graph.input.remove(value)
    return len(extra)


def drop_unused_initialisers(model: onnx.ModelProto) -> int:
    """Remove initialisers no node reads (left over by the quantiser); returns how many."""
    graph = model.graph
    consumed = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in consumed]
    for init in unused:
        graph.initializer.remove(init)
    return len(unused)


def convert_to_fp32(source: Path, target: Path) -> dict[str, int]:
    """Write an fp32, onnxruntime-loadable copy of ``source`` to ``target``."""
    model = onnx.load(str(source))
    folded = fold_dequantize(model)
    dropped = drop_weight_inputs(model)
    drop_unused_initialisers(model)
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return {"dequantized": folded, "inputs_dropped": dropped}
