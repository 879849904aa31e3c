"""Free the spatial input size of an exported ONNX detector, in memory.

Detector exports (YOLOX's among them) often fix the input at e.g. 1x3x416x416 although every op in the graph
works at any multiple of the stride. onnxruntime refuses any other shape for such a model, so a wide frame is
padded to a square and a small crop is inferred at full cost. Rewriting the declared dims to symbolic ones (and
dropping the recorded intermediate shapes, which onnxruntime would check) lets the session take a frame's own
aspect and a crop at its own size.

This edits the protobuf wire format directly: the ModelProto path graph -> input/output -> type -> tensor_type ->
shape -> dim is all it touches, every other byte is copied, so no `onnx` package is needed.
"""

from __future__ import annotations

from collections.abc import Callable

from detectors.errors import ModelError

Field = tuple[int, int, bytes]  # field number, wire type, payload (a varint's, fixed's or length-delimited's bytes)

# Field numbers of onnx.proto (onnx/onnx.proto, stable since IR version 3).
MODEL_GRAPH = 7
GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO, GRAPH_INITIALIZER = 11, 12, 13, 5
VALUE_NAME, VALUE_TYPE = 1, 2
TENSOR_NAME = 8  # in TensorProto (an initializer)
TYPE_TENSOR = 1
TENSOR_SHAPE = 2
SHAPE_DIM = 1
DIM_VALUE, DIM_PARAM = 1, 2
_FIXED = {1: 8, 5: 4}  # wire type -> payload bytes


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if b < 0x80:
            return value, i


def put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b, value = value & 0x7F, value >> 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def parse(buf: bytes) -> list[Field]:
    """The top-level fields of one message; raises ValueError on anything that is not protobuf wire format."""
    out: list[Field] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            start = i
            _, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            start = i
            i += n
        elif wire in _FIXED:
            start = i
            i += _FIXED[wire]
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if i > len(buf):
            raise ValueError("field runs past the end")
        out.append((number, wire, buf[start:i]))
    return out


def encode(fields: list[Field]) -> bytes:
    parts: list[bytes] = []
    for number, wire, payload in fields:
        parts.append(put_varint(number << 3 | wire))
        if wire == 2:
            parts.append(put_varint(len(payload)))
        parts.append(payload)
    return b"".join(parts)


def _edit(buf: bytes, number: int, fn: Callable[[bytes], bytes]) -> bytes:
    """`buf` with every length-delimited field `number` replaced by fn(payload)."""
    return encode([(n, w, fn(p) if n == number and w == 2 else p) for n, w, p in parse(buf)])


def _dims(value_info: bytes) -> list[int | str]:
    """The dims of a tensor ValueInfoProto: ints for fixed ones, names for symbolic ones."""
    out: list[int | str] = []
    for n, w, tp in parse(value_info):
        if n != VALUE_TYPE or w != 2:
            continue
        for n2, _, tensor in parse(tp):
            for n3, _, shape in parse(tensor) if n2 == TYPE_TENSOR else []:
                for n4, _, dim in parse(shape) if n3 == TENSOR_SHAPE else []:
                    if n4 != SHAPE_DIM:
                        continue
                    got: int | str = "?"
                    for n5, w5, p5 in parse(dim):
                        if n5 == DIM_VALUE and w5 == 0:
                            got = _varint(p5, 0)[0]
                        elif n5 == DIM_PARAM and w5 == 2:
                            got = p5.decode()
                    out.append(got)
    return out


def _free_dims(value_info: bytes, which: dict[int, str]) -> bytes:
    """A ValueInfoProto whose dims at the indexes of `which` are replaced by the named symbolic dims."""

    def shape(buf: bytes) -> bytes:
        fields, k = [], 0
        for n, w, p in parse(buf):
            if n == SHAPE_DIM and w == 2:
                if k in which:
                    p = encode([(DIM_PARAM, 2, which[k].encode())])
                k += 1
            fields.append((n, w, p))
        return encode(fields)

    return _edit(value_info, VALUE_TYPE, lambda t: _edit(t, TYPE_TENSOR, lambda s: _edit(s, TENSOR_SHAPE, shape)))


def _image_input(graph: list[Field]) -> int:
    """The index in `graph` of the image input: the first graph input that is not also an initializer (old
    exporters list the weights as inputs too)."""
    weights = {_name(p, TENSOR_NAME) for n, w, p in graph if n == GRAPH_INITIALIZER and w == 2}
    for k, (n, w, p) in enumerate(graph):
        if n == GRAPH_INPUT and w == 2 and _name(p, VALUE_NAME) not in weights:
            return k
    raise ValueError("the graph has no input")


def _graph(model: bytes) -> tuple[list[Field], int]:
    top = parse(model)
    for k, (n, w, _) in enumerate(top):
        if n == MODEL_GRAPH and w == 2:
            return top, k
    raise ValueError("no graph")


def input_dims(model: bytes) -> list[int | str]:
    """The dims of the model's image input (ints fixed, strings symbolic)."""
    try:
        top, gi = _graph(model)
        graph = parse(top[gi][2])
        return _dims(graph[_image_input(graph)][2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"not an ONNX model with an image input: {exc}") from None


def free_spatial_input(model: bytes) -> bytes:
    """An NCHW detector whose image input's H and W (and every output's dims past the batch) are symbolic. The
    recorded intermediate shapes (graph.value_info) are dropped: they are hints that onnxruntime would otherwise
    hold the new shapes against."""
    try:
        top, gi = _graph(model)
        graph = parse(top[gi][2])
        image = _image_input(graph)
        dims = _dims(graph[image][2])
        if len(dims) != 4:
            raise ModelError(f"the image input has dims {dims}; an NCHW detector has 4")
        out: list[Field] = []
        for k, (n, w, p) in enumerate(graph):
            if n == GRAPH_VALUE_INFO:
                continue
            if k == image:
                p = _free_dims(p, {2: "height", 3: "width"})
            elif n == GRAPH_OUTPUT and w == 2:
                name = _name(p, VALUE_NAME)
                p = _free_dims(p, {i: f"{name}_{i}" for i in range(1, len(_dims(p)))})
            out.append((n, w, p))
        top[gi] = (MODEL_GRAPH, 2, encode(out))
        return encode(top)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"not an ONNX model with an image input: {exc}") from None


def _name(message: bytes, number: int) -> str:
    """The string field `number` of a message (a ValueInfoProto's or TensorProto's name)."""
    return next((p.decode() for n, w, p in parse(message) if n == number and w == 2), "")
