"""Parity of the msgspec records (rules.records) with the pydantic contract (schemas)."""

from __future__ import annotations

import copy
import re
import typing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

import schemas
from rules import records
from rules.records import (
    RecordDecodeError,
    decode_record,
    encode_record,
    record_class,
    record_from_builtins,
    record_from_model,
    record_to_builtins,
    record_to_model,
)
from schemas import EVENT_CLASSES, RejectStage, decode_event, encode_event
from tests.unit.examples import example_events

EXAMPLES = example_events()
EXAMPLE_IDS = [e["type"] for e in EXAMPLES]


def _raw(doc: Any) -> bytes:
    return msgspec.json.encode(doc)


def _fast(raw: bytes | str) -> Any:
    """The msgspec fast path alone (no pydantic fallback); raises msgspec.DecodeError."""
    return records._decode_fast(raw)


def _pydantic(raw: bytes | str) -> BaseModel | None:
    try:
        return decode_event(raw)
    except ValidationError:
        return None


def _same(rec: Any, model: BaseModel) -> None:
    back = record_to_model(rec)
    assert back == model
    assert back.model_dump_json() == model.model_dump_json()


# --- generation ----------------------------------------------------------------------------------


def _reachable_models() -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.add(tp)
            for info in tp.model_fields.values():
                walk(info.annotation)
            return
        for arg in typing.get_args(tp):
            walk(arg)

    for cls in EVENT_CLASSES.values():
        walk(cls)
    return seen


def test_every_reachable_model_has_a_struct_with_the_same_fields() -> None:
    models = _reachable_models()
    assert {schemas.GeoPolygon, schemas.GeoMultiPolygon, schemas.Incident, schemas.BBox} <= models
    for model in models:
        struct = records._STRUCTS[model]
        fields = set(struct.__struct_fields__)
        tag = struct.__struct_config__.tag
        if tag is not None:
            fields.add("type")
            assert struct.type == tag  # type: ignore[attr-defined]
        assert fields == set(model.model_fields), model.__name__
        config = struct.__struct_config__
        assert config.frozen and config.forbid_unknown_fields and not config.omit_defaults
        with pytest.raises(TypeError, match="positional"):  # kw_only
            struct(*range(len(struct.__struct_fields__)))


def test_record_class_and_tags() -> None:
    for event_type, model in EVENT_CLASSES.items():
        cls = record_class(event_type)
        assert cls is records._STRUCTS[model]
        assert cls.__struct_config__.tag == event_type
    with pytest.raises(KeyError):
        record_class("nope")


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _WithValidator(_Base):
    x: int

    @field_validator("x")
    @classmethod
    def _check(cls, v: int) -> int:
        return v


class _WithSet(_Base):
    x: set[int]


class _WithDecimal(_Base):
    x: Decimal


class _WithAlias(_Base):
    x: int = Field(alias="X")


class _WithCustomAfter(_Base):
    x: Annotated[int, AfterValidator(lambda v: v)]


class _ExtraAllow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    x: int


class _Untagged1(_Base):
    a: int


class _Untagged2(_Base):
    b: int


class _UntaggedUnion(_Base):
    u: _Untagged1 | _Untagged2


class _MultipleOf(_Base):
    x: Annotated[int, Field(multiple_of=2)]


@pytest.mark.parametrize(
    "model",
    [
        _WithValidator,
        _WithSet,
        _WithDecimal,
        _WithAlias,
        _WithCustomAfter,
        _ExtraAllow,
        _UntaggedUnion,
        _MultipleOf,
    ],
)
def test_generation_fails_loudly_on_unknown_constructs(model: type[BaseModel]) -> None:
    with pytest.raises(records.RecordGenerationError):
        records._struct_for(model)


def test_pattern_end_anchor_is_rust_like() -> None:
    # Python's `$` would accept "1.0\n"; pydantic (Rust regex) does not, and neither must records.
    doc = copy.deepcopy(EXAMPLES[0]) | {"schema_version": "1.0\n"}
    with pytest.raises(msgspec.DecodeError):
        _fast(_raw(doc))
    assert _pydantic(_raw(doc)) is None


# --- accepted values -----------------------------------------------------------------------------


def test_examples_cover_every_event_type() -> None:
    assert list(EVENT_CLASSES) == EXAMPLE_IDS


@pytest.mark.parametrize("doc", EXAMPLES, ids=EXAMPLE_IDS)
def test_example_decodes_to_the_same_values(doc: dict[str, Any]) -> None:
    raw = _raw(doc)
    model = decode_event(raw)
    rec = _fast(raw)  # canonical input must not need the slow path
    expected_class: Any = record_class(doc["type"])
    assert type(rec) is expected_class
    _same(rec, model)
    assert decode_record(raw) == rec
    assert decode_record(raw.decode()) == rec
    assert rec.type == doc["type"]
    assert rec.time.tzinfo is not None


def test_attributes_read_like_the_model() -> None:
    rec = decode_record(_raw(EXAMPLES[0]))
    assert rec.location.lat == pytest.approx(43.2389)
    assert rec.data.analytic == "loitering" and type(rec.data.analytic) is str
    assert rec.data.bbox.x == 0.41
    assert rec.time.timestamp() == datetime(2024, 5, 14, 9, 30, 12, 250000, tzinfo=UTC).timestamp()
    # received_time was sent at +06:00; like pydantic's UtcDatetime the record holds it in UTC
    assert rec.received_time.utcoffset().total_seconds() == 0
    assert rec.received_time == datetime(2024, 5, 14, 9, 30, 12, 731000, tzinfo=UTC)
    inc = decode_record(_raw(EXAMPLES[7]))
    assert inc.data.updated_time.utcoffset().total_seconds() == 0
    assert inc.data.playbook[0].unit_type == "police"


def test_defaults_are_the_models() -> None:
    doc = {
        "id": "e",
        "source": "s",
        "type": "accident.record",
        "time": "2024-05-14T09:30:12Z",
        "data": {"record_id": "r", "severity": "fatal"},
    }
    rec = _fast(_raw(doc))
    model = decode_event(_raw(doc))
    _same(rec, model)
    assert rec.data.factors == [] and rec.data.vehicles == 1 and rec.schema_version == "1.0"
    assert rec.location is None


def _json_normalised(raw: bytes) -> Any:
    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)", v):
            return datetime.fromisoformat(v)
        return v

    return norm(orjson.loads(raw))


@pytest.mark.parametrize("doc", EXAMPLES, ids=EXAMPLE_IDS)
def test_round_trips(doc: dict[str, Any]) -> None:
    raw = _raw(doc)
    rec = decode_record(raw)
    model = decode_event(raw)
    # encode/decode
    encoded = encode_record(rec)
    assert decode_record(encoded) == rec
    assert _json_normalised(encoded) == _json_normalised(encode_event(model))
    # builtins, datetimes included, exactly
    built = record_to_builtins(rec)
    orjson.dumps(built)  # JSON-able
    back = record_from_builtins(built)
    assert back == rec
    assert [back.time.tzinfo, back.time.microsecond] == [rec.time.tzinfo, rec.time.microsecond]
    assert record_to_builtins(back) == built
    # model <-> record
    assert record_from_model(model) == rec
    assert record_to_model(record_from_model(model)) == model


def test_encode_leaves_out_none_like_encode_event() -> None:
    doc = {
        "id": "e",
        "source": "s",
        "type": "sos.press",
        "time": "2024-05-14T09:30:12Z",
        "data": {"device_id": "d"},
    }
    rec = decode_record(_raw(doc))
    out = orjson.loads(encode_record(rec))
    assert out == orjson.loads(encode_event(decode_event(_raw(doc))))
    assert "location" not in out and "message" not in out["data"] and out["data"]["kind"] == "fixed_button"


def test_record_from_model_of_a_nested_model_and_errors() -> None:
    point = schemas.GeoPoint(lat=43.24, lon=76.9)
    rec = record_from_model(point)
    assert (rec.lat, rec.lon, rec.accuracy_m) == (43.24, 76.9, None)
    assert record_to_model(rec) == point
    with pytest.raises(TypeError):
        record_from_model(schemas.SourcePosition())
    with pytest.raises(TypeError):
        record_to_model(object())


# --- rejects -------------------------------------------------------------------------------------


def _vd(**changes: Any) -> bytes:
    doc = copy.deepcopy(EXAMPLES[0])
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = doc
        for p in parents:
            target = target[p]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return _raw(doc)


_DELETE = object()

REJECTS: list[tuple[str, bytes, RejectStage, str]] = [
    ("bad json", b'{"id": "x",', RejectStage.DECODE, "not JSON"),
    ("not utf-8", b'{"id": "\xff"}', RejectStage.DECODE, "not JSON"),
    ("trailing data", _vd() + b" x", RejectStage.DECODE, "not JSON"),
    ("array", b"[1, 2]", RejectStage.DECODE, "not a JSON object"),
    ("string", b'"video.detection"', RejectStage.DECODE, "not a JSON object"),
    ("empty", b"", RejectStage.DECODE, "not JSON"),
    ("missing type", _vd(type=_DELETE), RejectStage.UNKNOWN_TYPE, "type"),
    ("unknown type", _vd(type="video.teleport"), RejectStage.UNKNOWN_TYPE, "video.teleport"),
    ("type not a string", _vd(type=5), RejectStage.UNKNOWN_TYPE, "type"),
    ("unknown extra field", _vd(colour="red"), RejectStage.VALIDATE, "colour"),
    ("unknown nested field", _vd(data__colour="red"), RejectStage.VALIDATE, "data.colour"),
    ("naive datetime", _vd(time="2024-05-14T09:30:12"), RejectStage.VALIDATE, "time"),
    ("not a datetime", _vd(time="yesterday"), RejectStage.VALIDATE, "time"),
    ("confidence 1.7", _vd(data__confidence=1.7), RejectStage.VALIDATE, "data.confidence"),
    ("lat 91", _vd(location__lat=91), RejectStage.VALIDATE, "location.lat"),
    ("bbox w negative", _vd(data__bbox__w=-0.1), RejectStage.VALIDATE, "data.bbox.w"),
    ("empty id", _vd(id=""), RejectStage.VALIDATE, "id"),
    ("wrong enum", _vd(data__analytic="ufo"), RejectStage.VALIDATE, "data.analytic"),
    ("wrong literal", _vd(data__direction="sideways"), RejectStage.VALIDATE, "data.direction"),
    ("missing required", _vd(data__camera_id=_DELETE), RejectStage.VALIDATE, "data.camera_id"),
    ("wrong nested type", _vd(data__bbox="big"), RejectStage.VALIDATE, "data.bbox"),
    ("list for object", _vd(location=[43.2, 76.9]), RejectStage.VALIDATE, "location"),
    ("str for number", _vd(data__confidence="high"), RejectStage.VALIDATE, "data.confidence"),
    ("float for int", _vd(data__track_id=1.5), RejectStage.VALIDATE, "data.track_id"),
    ("null for required", _vd(data__label=None), RejectStage.VALIDATE, "data.label"),
    ("bad schema_version", _vd(schema_version="2.0"), RejectStage.VALIDATE, "schema_version"),
    ("label too long", _vd(data__label="x" * 65), RejectStage.VALIDATE, "data.label"),
    ("negative count", _vd(data__count=-1), RejectStage.VALIDATE, "data.count"),
]


def _doc(i: int, **data: Any) -> bytes:
    doc = copy.deepcopy(EXAMPLES[i])
    doc["data"].update(data)
    return _raw(doc)


REJECTS += [
    ("empty plate", _doc(3, plate=""), RejectStage.VALIDATE, "data.plate"),
    ("heading 360", _doc(5, heading_deg=360), RejectStage.VALIDATE, "data.heading_deg"),
    ("priority 0", _doc(7, priority=0), RejectStage.VALIDATE, "data.priority"),
    ("labels not str", _doc(7, labels={"a": 1}), RejectStage.VALIDATE, "data.labels.a"),
    (
        "short ring",
        _doc(10, geometry={"type": "Polygon", "coordinates": [[[76.9, 43.2]] * 3]}),
        RejectStage.VALIDATE,
        "data.geometry",
    ),
    (
        "polygon tag with multipolygon coords",
        _doc(11, geometry={"type": "Polygon", "coordinates": [[[[1, 2]] * 4]]}),
        RejectStage.VALIDATE,
        "data.geometry",
    ),
    (
        "position of 3",
        _doc(9, fov={"type": "Polygon", "coordinates": [[[1.0, 2.0, 3.0]] * 4]}),
        RejectStage.VALIDATE,
        "data.fov.coordinates",
    ),
    (
        "year 1 with offset",
        _vd(time="0001-01-01T00:00:00+01:00"),
        RejectStage.VALIDATE,
        "outside the representable range",
    ),
]


@pytest.mark.parametrize(("name", "raw", "stage", "mentions"), REJECTS, ids=[r[0] for r in REJECTS])
def test_both_decoders_reject(name: str, raw: bytes, stage: RejectStage, mentions: str) -> None:
    with pytest.raises(msgspec.DecodeError):
        _fast(raw)
    with pytest.raises(ValidationError):
        decode_event(raw)
    with pytest.raises(RecordDecodeError) as info:
        decode_record(raw)
    err = info.value
    assert err.stage is stage
    assert mentions in err.reason
    assert "\n" not in err.reason


def test_reason_reads_like_pydantic() -> None:
    with pytest.raises(RecordDecodeError) as info:
        decode_record(_vd(data__confidence=1.7))
    assert info.value.reason == "data.confidence: Input should be less than or equal to 1 (got 1.7)"
    assert str(info.value) == "validate: " + info.value.reason


# --- lax input: pydantic accepts, the fast path does not, decode_record follows pydantic ----------------

LAX: list[tuple[str, bytes]] = [
    ("int as string", _vd(data__track_id="5512")),
    ("integral float for int", _vd(data__track_id=5512.0)),
    ("float as string", _vd(data__confidence="0.5")),
    ("bool for float", _vd(data__confidence=True)),
    ("bool as 0/1", _raw(EXAMPLES[8] | {"deleted": 1})),
    ("bool as 'yes'", _raw(EXAMPLES[8] | {"deleted": "yes"})),
    ("unix time", _vd(time=1715679012)),
    ("unix time in ms", _vd(time=1715679012250)),
    ("time without seconds", _vd(time="2024-05-14T09:30Z")),
    (
        "geometry without type",
        _doc(10, geometry={"coordinates": [EXAMPLES[10]["data"]["geometry"]["coordinates"][0]]}),
    ),
    (
        "multipolygon without type",
        _doc(11, geometry={"coordinates": EXAMPLES[11]["data"]["geometry"]["coordinates"]}),
    ),
]


@pytest.mark.parametrize(("name", "raw"), LAX, ids=[r[0] for r in LAX])
def test_lax_input_follows_pydantic(name: str, raw: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        _fast(raw)
    model = decode_event(raw)
    rec = decode_record(raw)
    _same(rec, model)
    assert rec.time.tzinfo is UTC


def test_divergence_sub_microsecond_rounding() -> None:
    """Documented: msgspec rounds fractions past 6 digits, pydantic truncates (at most 1 µs apart)."""
    raw = _vd(time="2024-05-14T09:30:12.9999999Z")
    assert _fast(raw).time == datetime(2024, 5, 14, 9, 30, 13, tzinfo=UTC)
    assert decode_event(raw).time == datetime(2024, 5, 14, 9, 30, 12, 999999, tzinfo=UTC)


# --- fuzz ----------------------------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "1", "0.5", "true", "null", "person", "2024-05-14T09:30:12Z", "Polygon", "video.detection"])
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _check_parity(raw: bytes) -> None:
    model = _pydantic(raw) if _decodes_safely(raw) else None
    try:
        fast = _fast(raw)
    except msgspec.DecodeError:
        fast = None
    if fast is not None:  # whatever the fast path accepts, the contract accepts, with the same values
        assert model is not None, raw
        _same(fast, model)
    try:
        rec = decode_record(raw)
    except RecordDecodeError as err:
        assert model is None, raw
        assert err.reason and "\n" not in err.reason
        return
    assert model is not None, raw
    _same(rec, model)


def _decodes_safely(raw: bytes) -> bool:
    """pydantic either accepts or raises ValidationError: nothing else escapes the contract."""
    try:
        decode_event(raw)
    except ValidationError:
        return True
    return True


_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(raw: bytes) -> None:
    _check_parity(raw)


@_FUZZ
@given(_json_values)
def test_fuzz_random_json(value: Any) -> None:
    _check_parity(_raw(value))


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    doc = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)[1:]))
        *parents, last = path
        target = doc
        for p in parents:
            target = target[p]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del target[last]
        elif action == "add" and isinstance(target, dict):
            target[draw(st.text(max_size=6))] = draw(_json_values)
        else:
            target[last] = draw(_json_values)
    return _raw(doc)


@_FUZZ
@given(_mutated())
def test_fuzz_mutated_examples(raw: bytes) -> None:
    _check_parity(raw)
