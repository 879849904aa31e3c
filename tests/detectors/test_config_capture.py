"""Camera configs (examples load; errors name the file and key) and capture (file sampling, stream backoff)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from detectors.capture import FrameSource, Lost, Sample, is_stream
from detectors.config import load_config, parse_config
from detectors.errors import ConfigError, SourceError
from tests.detectors.conftest import ABODA, EXAMPLES, PETS, need

BASE = {"camera": {"id": "c1", "location": {"lat": 43.2, "lon": 76.9}}, "model": {"path": "m.onnx"}}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.camera_id and cfg.model.path.name == "yolox_nano.onnx"
    assert cfg.model.path.is_absolute(), "relative model paths are resolved against the config file"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"camera": {"location": {"lat": 1, "lon": 2}}}, "camera.id: is required"),
        ({"camera": {"id": "c", "location": {"lat": 100, "lon": 2}}}, "camera.location.lat"),
        ({"sample_fps": 0}, "sample_fps: must be a number"),
        ({"zones": [{"id": "z", "polygon": [[0, 0], [1, 1]]}]}, "zones[0].polygon"),
        ({"zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "classes": ["dragon"]}]}, "unknown classes"),
        ({"lines": [{"id": "l", "points": [[0, 0], [1, 1], [2, 2]]}]}, "exactly two points"),
        ({"zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "schedule": [{"start": "25:00"}]}]}, "HH:MM"),
        ({"motion": {"enabled": "yes"}}, "motion.enabled: must be true or false"),
        ({"motion": {"full_every": 0}}, "motion.full_every: must be an integer >= 1"),
        ({"model": {"path": "m.onnx", "rectangular": "yes"}}, "model.rectangular: must be true or false"),
        ({"decode_threads": -1}, "decode_threads: must be an integer >= 0"),
        ({"health": {"every_s": -1}}, "health.every_s: must be a number in [0, 60]"),
        ({"abandoned": {"static_every_s": 5}}, "abandoned.static_every_s: must be a number in [0, 2]"),
    ],
)
def test_config_errors_name_the_key(patch: dict[str, object], message: str) -> None:
    with pytest.raises(
        ConfigError, match=r"cam\.yaml: .*" + message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
    ):
        parse_config({**BASE, **patch}, "cam.yaml")


def test_unreadable_yaml_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "cam.yaml"
    bad.write_text("camera: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_file_sampling_follows_the_configured_rate() -> None:
    need(PETS)
    samples = []
    for item in FrameSource(str(PETS), sample_fps=2.5).frames():
        assert isinstance(item, Sample)
        samples.append(item)
        if len(samples) == 10:
            break
    assert [s.index for s in samples] == list(range(0, 40, 4)), "10 fps clip sampled at 2.5 fps: every 4th frame"
    assert samples[1].t == pytest.approx(0.4)


def test_a_missing_file_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="cannot open"):
        list(FrameSource("/nonexistent/clip.avi", 5).frames())


def test_a_dead_stream_reports_loss_and_backs_off() -> None:
    assert is_stream("rtsp://cam/1") and is_stream("http://cam/mjpg") and not is_stream("clip.avi")
    waits: list[float] = []
    src = FrameSource(
        "http://127.0.0.1:9/none.mjpg", 5, backoff_s=0.5, backoff_max_s=2.0, max_retries=4, sleep=waits.append
    )
    lost: list[Lost] = []
    with pytest.raises(SourceError, match="gave up after 4 retries"):
        for item in src.frames():
            assert isinstance(item, Lost)
            lost.append(item)
    assert [x.attempt for x in lost] == [1, 2, 3, 4]
    assert waits == [0.5, 1.0, 2.0, 2.0], "exponential backoff, capped"


@pytest.mark.video
def test_a_stream_that_ends_is_reopened_and_a_dead_one_given_up() -> None:
    """A real HTTP source (the ABODA clip served by a local server): when the stream ends the capture reports the
    loss and reconnects; when the server is gone it backs off and finally gives up."""
    need(ABODA)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ABODA.parent))
    server: http.server.ThreadingHTTPServer | None = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    assert server is not None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{ABODA.name}"
    waits: list[float] = []
    src = FrameSource(url, sample_fps=1000, backoff_s=0.01, max_retries=2, sleep=waits.append)
    kinds: list[str] = []
    try:
        with pytest.raises(SourceError, match="gave up after 2 retries"):
            for item in src.frames():
                kinds.append("lost" if isinstance(item, Lost) else "frame")
                if kinds.count("lost") == 2 and server is not None:  # the second end of stream: the server goes
                    server.shutdown()
                    server.server_close()
                    server = None
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    assert kinds[0] == "frame" and src.reconnects >= 1
    first_lost = kinds.index("lost")
    assert "frame" in kinds[first_lost:], "frames again after reconnecting"
    assert kinds[-2:] == ["lost", "lost"] and len(waits) == kinds.count("lost")
