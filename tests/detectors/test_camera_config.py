"""Camera configs refuse mistakes: unknown keys with a did-you-mean, wrong values in the project's words, every
error at file:line:col with its dotted key; zones and lines checked against the frame size (at load when the
config states it, by the worker at the first frame)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from detectors.capture import FrameSource, Sample
from detectors.config import HealthConfig, Zone, check_frame, load_config
from detectors.errors import ConfigError
from detectors.model import load_detector
from detectors.pipeline import Pipeline
from saqshy.cli import main
from tests.detectors.conftest import MODEL, PETS, T0, need

HEAD = """camera:
  id: cam-1
  location: {lat: 43.2, lon: 76.9}
model:
  path: MODEL
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "cam.yaml"
    path.write_text(HEAD.replace("MODEL", str(MODEL)) + body)
    return path


def position(path: Path, needle: str, nth: int = 0, at: str = "") -> str:
    """file:line:col of the nth occurrence of `needle` in the file (of `at` inside it, if given)."""
    lines = path.read_text().splitlines()
    hits = [(i, line.index(needle)) for i, line in enumerate(lines) if needle in line]
    line, col = hits[nth]
    return f"{path}:{line + 1}:{col + needle.index(at) + 1}"


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value).splitlines()


def test_typos_are_refused_with_the_key_they_meant(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """  score_treshold: 0.4
crowd_treshold: 30
zonez: []
zones:
  - id: hall
    polygon: [[0, 0], [100, 0], [100, 100]]
    crowd_treshold: 30
""",
    )
    assert errors(path) == [
        f"{position(path, 'score_treshold')}: model.score_treshold: unknown key 'score_treshold' "
        "(did you mean 'score_threshold'?)",
        f"{position(path, 'crowd_treshold')}: crowd_treshold: unknown key 'crowd_treshold' "
        "(did you mean zones[].crowd_threshold?)",
        f"{position(path, 'zonez')}: zonez: unknown key 'zonez' (did you mean 'zones'?)",
        f"{position(path, 'crowd_treshold', 1)}: zones[0].crowd_treshold: unknown key 'crowd_treshold' "
        "(did you mean 'crowd_threshold'?)",
    ]


def test_wrong_values_are_explained_in_the_projects_words(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """  input_size: 416.0
sample_fps: "5"
health: 3
lines:
  - {id: door, points: [[0, 0], [1, 1], [2, 2]]}
  - {id: gate, pionts: [[0, 0], [1, 1]]}
zones:
  - id: hall
    polygon: [[0, 0], [100, 0], [100, 100]]
    schedule: [{days: [mon, tuesday], end: "25:00"}]
""",
    )
    found = errors(path)
    fps, end = position(path, '"5"'), position(path, '"25:00"')
    assert found == [
        f"{position(path, '416.0')}: model.input_size: must be an integer >= 32, got 416.0",
        f"{fps}: sample_fps: must be a number in [0.1, 120], got '5'",
        f"{position(path, 'health: 3', at='3')}: health: must be a mapping, got 3",
        f"{position(path, '[[0, 0], [1, 1], [2, 2]]')}: lines[0].points: a line has exactly two points",
        f"{position(path, 'pionts')}: lines[1].pionts: unknown key 'pionts' (did you mean 'points'?)",
        f"{position(path, '[mon, tuesday]')}: zones[0].schedule[0].days: must be a list of mon, tue, wed, thu, fri, "
        "sat, sun, got ['mon', 'tuesday']",
        f"{end}: zones[0].schedule[0].end: must be HH:MM (in quotes: \"20:00\"), got '25:00'",
    ]
    assert not any("Input should" in e or "pydantic" in e for e in found), "no raw pydantic wording"


def test_an_unquoted_time_is_read_as_the_time_it_looks_like(tmp_path: Path) -> None:
    """YAML 1.1 reads `start: 20:00` as the base-60 number 1200; the schedule reads it as 20:00."""
    path = write(tmp_path, "zones:\n  - id: z\n    polygon: [[0, 0], [9, 0], [9, 9]]\n    schedule: [{start: 20:00}]\n")
    (zone,) = load_config(path).zones
    assert str(zone.schedules[0].start) == "20:00:00"


def test_configs_built_in_code_are_validated_too() -> None:
    assert replace(HealthConfig(), hold_s=1).hold_s == 1.0
    with pytest.raises(ValidationError):
        replace(HealthConfig(), hold_s=-1)
    with pytest.raises(ValidationError):
        Zone("z", ((0, 0), (1, 0)))  # two points are not a polygon


FRAMED = """frame: {width: 720, height: 480}
zones:
  - id: near
    polygon: [[600, 300], [800, 300], [800, 400], [600, 400]]
  - id: far
    polygon: [[900, 0], [1000, 0], [1000, 100]]
"""


def test_a_zone_outside_the_stated_frame_is_an_error_and_partly_outside_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, FRAMED)
    with caplog.at_level(logging.WARNING, "saqshy.detectors.config"):
        assert errors(path) == [
            f"{position(path, '[[900')}: zones[1].polygon: zone 'far' lies entirely outside the 720x480 frame "
            "(x 900..1000, y 0..100); coordinates are pixels of the source frame"
        ]
    assert [r.getMessage() for r in caplog.records] == [
        f"{position(path, '[[600')}: zones[0].polygon: zone 'near' is partly outside the 720x480 frame "
        "(x 600..800, y 300..400)"
    ]
    inside = write(tmp_path, FRAMED.replace("[[900, 0], [1000, 0], [1000, 100]]", "[[0, 0], [10, 0], [10, 10]]"))
    assert [z.id for z in load_config(inside).zones] == ["near", "far"]


def test_a_line_outside_the_frame_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "lines:\n  - {id: gate, points: [[500, 10], [500, 300]]}\n")
    cfg = load_config(path)
    check_frame(cfg, 640, 480)
    with pytest.raises(ConfigError) as info:
        check_frame(cfg, 480, 360)
    assert str(info.value).startswith(
        f"{position(path, '[[500')}: lines[0].points: line 'gate' lies entirely outside the 480x360 frame"
    )


@pytest.mark.video
def test_the_worker_checks_zones_against_the_first_frame(tmp_path: Path) -> None:
    """No frame size in the config: the worker checks at the first frame (the PETS clip is 480x360), and
    `saqshy detect` stops with one line naming the file, the key's position and the zone."""
    need(PETS, MODEL)
    path = write(tmp_path, "zones:\n  - id: far\n    polygon: [[500, 0], [600, 0], [600, 100]]\n")
    cfg = load_config(path)
    first = next(iter(FrameSource(str(PETS), cfg.sample_fps).frames()))
    assert isinstance(first, Sample)
    expected = f"{position(path, '[[500')}: zones[0].polygon: zone 'far' lies entirely outside the 480x360 frame"
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace(".", r"\.")):
        Pipeline(cfg, load_detector(cfg.model), start=T0).process(first)

    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(main, ["detect", "--config", str(path), "--source", str(PETS), "--out", str(out)])
    assert result.exit_code == 1 and result.output.startswith(f"Error: {expected} "), result.output
    assert len(result.output.strip().splitlines()) == 1

    stated = write(tmp_path, "frame: {width: 720, height: 480}\n")
    with pytest.raises(ConfigError, match=r"frame: the config is for 720x480 frames, the source delivers 480x360"):
        Pipeline(load_config(stated), load_detector(cfg.model), start=T0).process(first)
