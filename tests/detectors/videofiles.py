"""Video files the shared clips lack, made in the tests from their real frames: a drop-frame AVI (zero-size
"repeat previous frame" chunks, as some DVRs write a 25 fps camera into a 50 fps file) and a variable-frame-rate
Matroska file (frames at uneven presentation times). OpenCV's writers can make neither, so the AVI is OpenCV's
MJPEG AVI with chunks emptied, and the Matroska file is written here (EBML, one cluster per JPEG frame)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy.typing as npt

Frame = npt.NDArray[Any]  # an OpenCV BGR frame; cv2's stubs type arrays loosely


def real_frames(clip: Path, n: int, start: int = 0) -> list[Frame]:
    cap = cv2.VideoCapture(str(clip))
    frames: list[Frame] = []
    index = 0
    while len(frames) < n:
        ok, frame = cap.read()
        assert ok, f"{clip} has fewer than {start + n} frames"
        if index >= start:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


def write_mjpeg_avi(path: Path, frames: Sequence[Frame], fps: float) -> None:
    """An MJPEG AVI by OpenCV's own AVI writer (plain RIFF: one 00dc chunk per frame and an idx1 index)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def _chunks(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes, int]]:
    off = start
    while off + 8 <= end:
        size = struct.unpack("<I", data[off + 4 : off + 8])[0]
        yield off, data[off : off + 4], size
        off += 8 + size + (size & 1)


def empty_chunks(src: Path, dst: Path, keep: Callable[[int], bool]) -> None:
    """Copy an AVI, emptying the video chunks n for which keep(n) is false: zero-size chunks, which players show
    as a repeat of the previous frame and decoders skip. The idx1 index and the RIFF sizes are rewritten."""
    data = src.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"AVI "
    top: list[bytes] = []
    index = b""
    for off, cid, size in _chunks(data, 12, len(data)):
        if cid == b"LIST" and data[off + 8 : off + 12] == b"movi":
            movi, entries, n = bytearray(b"movi"), bytearray(), 0
            for o, c, s in _chunks(data, off + 12, off + 8 + size):
                payload = data[o + 8 : o + 8 + s]
                if c.endswith(b"dc"):
                    payload = payload if keep(n) else b""
                    n += 1
                entries += c + struct.pack("<III", 0x10 if payload else 0, len(movi), len(payload))
                movi += c + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
            top.append(b"LIST" + struct.pack("<I", len(movi)) + bytes(movi))
            index = bytes(entries)
        elif cid == b"idx1":
            top.append(b"idx1" + struct.pack("<I", len(index)) + index)
        else:
            top.append(data[off : off + 8 + size + (size & 1)])
    body = b"AVI " + b"".join(top)
    dst.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _element(eid: int, payload: bytes) -> bytes:
    """An EBML element: its id, its size as an 8-byte vint, its payload."""
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + (1 << 56 | len(payload)).to_bytes(8, "big") + payload


def _uint(eid: int, value: int) -> bytes:
    return _element(eid, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _text(eid: int, value: str) -> bytes:
    return _element(eid, value.encode())


def write_vfr_mkv(path: Path, frames: Sequence[Frame], times_ms: Sequence[int]) -> None:
    """A Matroska file of JPEG frames (V_MJPEG) shown at `times_ms` (1 ms timestamp scale, no default duration)."""
    h, w = frames[0].shape[:2]
    ebml = _element(
        0x1A45DFA3,
        _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
        + _text(0x4282, "matroska") + _uint(0x4287, 4) + _uint(0x4285, 2),
    )  # fmt: skip
    info = _element(0x1549A966, _uint(0x2AD7B1, 1_000_000) + _text(0x4D80, "saqshy") + _text(0x5741, "saqshy"))
    video = _element(0xE0, _uint(0xB0, w) + _uint(0xBA, h))
    track = _element(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _text(0x86, "V_MJPEG") + video)
    clusters = b""
    for frame, t in zip(frames, times_ms, strict=True):
        jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        block = b"\x81" + struct.pack(">hB", 0, 0x80) + jpeg  # track 1, at the cluster's time, a key frame
        clusters += _element(0x1F43B675, _uint(0xE7, t) + _element(0xA3, block))
    path.write_bytes(ebml + _element(0x18538067, info + _element(0x1654AE6B, track) + clusters))
