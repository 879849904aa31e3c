"""Frame capture with OpenCV: files are read to the end, streams (rtsp/http) reconnect with backoff.

`frames()` yields Sample(frame, t) at the configured rate, or Lost(t, attempt, reason, since) while a stream is
down, so the worker can report no_signal without a second thread.

The clock: a file's time is the container's presentation time of each frame (`SourceClock`: OpenCV's
CAP_PROP_POS_MSEC after grab(), in seconds since the first frame), never frame index / fps, which halves every
time in a drop-frame AVI (zero-size "repeat" chunks are not frames) and is meaningless for a variable frame rate.
Sampling follows that clock. A stream's time is the wall clock when the frame was grabbed: a live camera's
timestamps start anywhere, restart at every reconnect and drift with the camera's clock.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from detectors.errors import SourceError
from detectors.model import Image

log = logging.getLogger("saqshy.detectors.capture")
OPEN_TIMEOUT_MS = 10_000
READ_TIMEOUT_MS = 5_000
_SECRET_QUERY = re.compile(r"([?&](?:password|passwd|pwd|pass|token|key|auth|secret)=)[^&#]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Sample:
    frame: Image
    t: float  # seconds since the first frame (files: presentation time) or since the epoch (streams)
    index: int  # frame index in the source


@dataclass(frozen=True, slots=True)
class Lost:
    t: float
    attempt: int
    reason: str
    # When the source last delivered a frame, or when the capture started if it never did: the outage began then.
    since: float | None = None


def is_stream(source: str) -> bool:
    return source.split("://", 1)[0].lower() in {"rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp"}


def mask_url(source: str) -> str:
    """The source as logs and errors show it: a URL's password (user:pass@host) and secret query values masked."""
    scheme, sep, rest = source.partition("://")
    if not sep:
        return source
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{host}"
    return _SECRET_QUERY.sub(r"\1***", f"{scheme}://{netloc}{slash}{tail}")


@dataclass
class SourceClock:
    """A file's time in seconds since its first frame, from each frame's presentation time in milliseconds.

    OpenCV's CAP_PROP_POS_MSEC after grab() is the time of the packet that completed the frame: for a codec with
    decoder delay (the MPEG-4 clips here) it runs a constant 1-2 frames ahead, which counting from the first frame
    cancels. The frames such a decoder releases at the end of the file have no time (0): they, and any frame whose
    time does not advance, are put one nominal period (1 / fps) after the previous frame.
    """

    fps: float
    origin_ms: float | None = None
    last: float = -math.inf
    guessed: int = 0  # frames given the nominal period instead of their own time

    def __call__(self, pos_ms: float) -> float:
        if self.origin_ms is None:
            self.origin_ms = pos_ms
        t = (pos_ms - self.origin_ms) / 1000.0
        if not t > self.last:  # also NaN
            t = self.last + 1.0 / self.fps if self.last > -math.inf else 0.0
            self.guessed += 1
        self.last = t
        return t


def _nominal_fps(cap: cv2.VideoCapture) -> float:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return fps if 0 < fps <= 240 else 25.0  # a VFR Matroska file reports its time base (1000)


@dataclass
class FrameSource:
    source: str
    sample_fps: float
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retries: int | None = None  # None: a stream retries forever; files never retry
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    reconnects: int = 0
    threads: int = 0  # FFmpeg decoder threads; 0: OpenCV's default
    # While a stream is down, report Lost at least this often (the backoff is slept in slices), so no_signal is
    # raised on time even during a long backoff; None: once per attempt.
    tick_s: float | None = None
    _since: float = field(default=0.0, init=False, repr=False)

    @property
    def shown(self) -> str:
        return mask_url(self.source)

    def _open(self) -> cv2.VideoCapture:
        params = [cv2.CAP_PROP_N_THREADS, self.threads] if self.threads else []
        if is_stream(self.source):  # bounded waits: a dead camera must not hang the worker inside FFmpeg
            params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)
        else:
            self._check_file()
            cap = cv2.VideoCapture(self.source, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video source {self.shown!r}")
        return cap

    def _check_file(self) -> None:
        """A clear error for a file that is not there (an image sequence such as frames/%04d.jpg is not checked)."""
        path = Path(self.source)
        if "%" in self.source or path.is_file():
            return
        what = "is not a file" if path.exists() else "does not exist"
        hint = " (stream URLs start with rtsp, rtsps, http, https, rtmp, udp or tcp)" if "://" in self.source else ""
        raise SourceError(f"cannot open video source {self.shown!r}: {what}{hint}")

    def frames(self) -> Iterator[Sample | Lost]:
        if is_stream(self.source):
            yield from self._stream()
        else:
            yield from self._file()

    def _file(self) -> Iterator[Sample]:
        cap = self._open()
        try:
            clock = SourceClock(_nominal_fps(cap))
            step, next_t, index = 1.0 / self.sample_fps, 0.0, 0
            while cap.grab():  # grab() skips colour conversion for frames that are not sampled
                t = clock(cap.get(cv2.CAP_PROP_POS_MSEC))
                if t + 1e-6 >= next_t:
                    ok, frame = cap.retrieve()
                    if ok and frame is not None:
                        yield Sample(frame, t, index)
                    while next_t <= t + 1e-6:
                        next_t += step
                index += 1
            if clock.guessed > 2:  # more than a decoder's delay at the end: the container's times are missing
                log.warning("%s: %d of %d frames had no usable time; timed at 1/fps", self.shown, clock.guessed, index)
        finally:
            cap.release()

    def _stream(self) -> Iterator[Sample | Lost]:
        attempt, cap, index = 0, None, 0
        step, next_t = 1.0 / self.sample_fps, 0.0
        self._since = self.clock()  # a source dead from the start is out since now
        while True:
            if cap is None:
                try:
                    cap = self._open()
                    if attempt:
                        self.reconnects += 1
                        log.warning("video source %s: reconnected after %d attempt(s)", self.shown, attempt)
                    attempt = 0
                except SourceError as exc:
                    attempt += 1
                    if self.max_retries is not None and attempt > self.max_retries:
                        raise SourceError(f"{exc}; gave up after {self.max_retries} retries") from None
                    yield from self._backoff(attempt, str(exc))
                    continue
            if not cap.grab():
                cap.release()
                cap = None
                attempt += 1
                yield from self._backoff(attempt, f"stream {self.shown!r} ended or read failed")
                continue
            now = self._since = self.clock()
            index += 1
            if now >= next_t:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    next_t = now + step
                    yield Sample(frame, now, index)

    def _backoff(self, attempt: int, reason: str) -> Iterator[Lost]:
        """Report the failure, then wait before the next attempt (exponential backoff, capped), reporting the
        outage every tick_s meanwhile."""
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        log.warning("%s (attempt %d); retrying in %.1f s", reason, attempt, delay)
        yield Lost(self.clock(), attempt, reason, self._since)
        left = delay
        while left > 1e-9:
            nap = min(left, self.tick_s) if self.tick_s else left
            self.sleep(nap)
            left -= nap
            if left > 1e-9:
                yield Lost(self.clock(), attempt, reason, self._since)
