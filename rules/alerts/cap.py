"""OASIS CAP 1.2 XML from a PublicAlert (https://docs.oasis-open.org/emergency/cap/v1.2/).

CAP writes points as "lat,lon" (not GeoJSON's lon,lat), circles as "lat,lon radius_km", and times with an
explicit offset and no fractions; channels travel as <parameter> pairs so a CAP broker can route them. Each
language is one <info> block with the same category, urgency, area and parameters (CAP 1.2, 3.2.2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from schemas import AlertText, GeoPoint, PublicAlert

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER_NAMES = {
    "kk": "Saqshy: Қауіпсіз қала жедел басқару орталығы",
    "ru": "Saqshy: центр оперативного управления «Безопасный город»",
    "en": "Saqshy Safe City operations centre",
}


def cap_time(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def cap_point(p: GeoPoint) -> str:
    return f"{p.lat:.6f},{p.lon:.6f}"


def cap_reference(alert: PublicAlert) -> str:
    """How another CAP message refers to this one: "sender,identifier,sent"."""
    return f"{alert.sender},{alert.id},{cap_time(alert.sent)}"


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def first_text(alert: PublicAlert) -> AlertText:
    """The alert's own language as an AlertText (the first <info> block)."""
    return AlertText(
        language=alert.language,
        event=alert.event,
        headline=alert.headline,
        description=alert.description,
        instruction=alert.instruction,
        area_description=alert.area.description,
    )


def _info(root: ET.Element, alert: PublicAlert, text: AlertText) -> None:
    """One <info> block: the same warning in one language (element order as the XSD's sequence)."""
    info = _sub(root, "info")
    _sub(info, "language", text.language)
    for cat in alert.category:
        _sub(info, "category", cat)
    _sub(info, "event", text.event)
    if alert.response_type is not None:
        _sub(info, "responseType", alert.response_type)
    _sub(info, "urgency", alert.urgency)
    _sub(info, "severity", alert.severity)
    _sub(info, "certainty", alert.certainty)
    if alert.expires is not None:
        _sub(info, "expires", cap_time(alert.expires))
    _sub(info, "senderName", SENDER_NAMES.get(text.language.split("-")[0], SENDER_NAMES["en"]))
    _sub(info, "headline", text.headline)
    if text.description:
        _sub(info, "description", text.description)
    if text.instruction:
        _sub(info, "instruction", text.instruction)
    for ch in alert.channels:
        param = _sub(info, "parameter")
        _sub(param, "valueName", f"saqshy:channel:{ch.kind}")
        _sub(param, "value", " ".join(ch.targets) if ch.targets else "area")
    area = _sub(info, "area")
    _sub(area, "areaDesc", text.area_description)
    if alert.area.polygon is not None:
        _sub(area, "polygon", " ".join(cap_point(p) for p in alert.area.polygon))
    if alert.area.circle_center is not None and alert.area.circle_radius_km is not None:
        _sub(area, "circle", f"{cap_point(alert.area.circle_center)} {alert.area.circle_radius_km:g}")


def to_cap_xml(alert: PublicAlert) -> bytes:
    """The alert as CAP 1.2 XML: one <info> block per language, the first in `alert.language`."""
    ET.register_namespace("", CAP_NS)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", alert.id)
    _sub(root, "sender", alert.sender)
    _sub(root, "sent", cap_time(alert.sent))
    _sub(root, "status", alert.status)
    _sub(root, "msgType", alert.msg_type)
    _sub(root, "scope", "Public")
    if alert.references:
        _sub(root, "references", " ".join(alert.references))
    _sub(root, "incidents", alert.incident_id)
    for text in [first_text(alert), *alert.translations]:
        _info(root, alert, text)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
