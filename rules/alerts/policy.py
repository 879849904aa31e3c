"""Alert policies (YAML, validated like the rules) and warning devices (boards, loudspeakers).

An incident asks for a public warning either through its label `public_alert: <alert id>` (set by a rule)
or by matching an alert's categories, priority, labels and nearby zone kinds. The decision is a pure
function of the incident version and the reference data, so every runtime emits the same alerts.

Wording is the policy's, per language (CAP <info> blocks), never the rule's title: templates may only name
{place}, {radius} and the alert's public_labels, which the loader checks, so internal ids stay internal.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules.alerts.cap import cap_reference, first_text
from rules.geo import distance_m, metres_per_degree
from rules.privacy import PERSONAL_LABELS
from rules.units import parse_duration
from schemas import AlertArea, AlertChannel, AlertText, GeoPoint, Incident, PublicAlert

DEFAULT_POLICY = Path(__file__).with_name("default_policy.yaml")
CIRCLE_POINTS = 24


class AlertError(ValueError):
    """A bad alert policy or warning-device file."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CapCategory = Literal[
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"
]


class Wording(_Spec):
    event: str
    headline: str
    description: str = ""
    instruction: str = ""


class AllClear(_Spec):
    headline: str
    description: str = ""
    instruction: str = ""


ResponseType = Literal["Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "None"]


class AlertSpec(_Spec):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    categories: list[str] = Field(default_factory=list)
    max_priority: Annotated[int, Field(ge=1, le=5)] = 2
    labels: dict[str, str] = Field(default_factory=dict)
    near_zone_kinds: list[str] = Field(default_factory=list)
    near_m: Annotated[float, Field(ge=0.0)] = 0.0
    cap_category: Annotated[list[CapCategory], Field(min_length=1)]
    response_type: ResponseType | None = None
    urgency: Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
    severity: Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
    certainty: Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
    radius_m: Annotated[float, Field(gt=0.0, le=100_000.0)]
    expires_after: str = "2h"
    public_labels: list[str] = Field(default_factory=list)  # incident labels a template may show
    text: dict[str, Wording]  # language -> wording


class AlertPolicySpec(_Spec):
    sender: Annotated[str, Field(pattern=r"^[^\s,<&]+$")]
    languages: Annotated[list[Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]], Field(min_length=1)]
    area: dict[str, str]  # language -> area description template
    all_clear: dict[str, AllClear]  # language -> the cancel's wording
    alerts: list[AlertSpec]


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise AlertError(f"template {template!r}: {e}") from None


def _check_wording(spec: AlertPolicySpec) -> None:
    """Every language has every text, and templates name only what may be public."""
    langs = set(spec.languages)

    def check(where: str, texts: Mapping[str, Any], allowed: set[str]) -> None:
        if set(texts) != langs:
            raise AlertError(f"{where}: languages {sorted(texts)} differ from languages {spec.languages}")
        for lang, text in texts.items():
            parts = text.model_dump() if isinstance(text, BaseModel) else {"text": text}
            for key, template in parts.items():
                bad = _fields(template) - allowed
                if bad:
                    raise AlertError(
                        f"{where}.{lang}.{key}: {{{', '.join(sorted(bad))}}} may not appear in public text "
                        f"(allowed: {', '.join(sorted(allowed))}; add a label to public_labels to show it)"
                    )

    check("area", spec.area, {"place", "radius"})
    check("all_clear", spec.all_clear, {"event"})
    for a in spec.alerts:
        check(f"alert {a.id}: text", a.text, {"place", "radius", *a.public_labels})


@dataclass(frozen=True, slots=True)
class WarningDevice:
    device_id: str
    kind: Literal["information_board", "loudspeaker"]
    lat: float
    lon: float


class _SafeFormat(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, slots=True)
class ZoneNear:
    zone_id: str
    name: str
    kind: str
    distance_m: float


class AlertPolicy:
    def __init__(self, spec: AlertPolicySpec, devices: Iterable[WarningDevice] = ()) -> None:
        self.spec = spec
        _check_wording(spec)
        self.by_id = {a.id: a for a in spec.alerts}
        if len(self.by_id) != len(spec.alerts):
            raise AlertError("alert ids must be unique")
        for a in spec.alerts:
            try:
                parse_duration(a.expires_after)
            except ValueError as e:
                raise AlertError(f"alert {a.id}: expires_after: {e}") from None
        self.devices = sorted(devices, key=lambda d: d.device_id)

    def may_apply(self, incident: Incident) -> bool:
        """A cheap pre-check (no spatial work): could any alert apply to this incident version?"""
        if incident.labels.get("public_alert"):
            return True
        return any(
            (not a.categories or incident.category in a.categories)
            and incident.priority <= a.max_priority
            and all(incident.labels.get(k) == v for k, v in a.labels.items())
            for a in self.spec.alerts
        )

    def choose(self, incident: Incident, zones_near: list[ZoneNear]) -> AlertSpec | None:
        asked = incident.labels.get("public_alert")
        if asked:
            return self.by_id.get(asked)
        for a in self.spec.alerts:
            if a.categories and incident.category not in a.categories:
                continue
            if incident.priority > a.max_priority:
                continue
            if any(incident.labels.get(k) != v for k, v in a.labels.items()):
                continue
            if a.near_zone_kinds and not any(
                z.kind in a.near_zone_kinds and z.distance_m <= a.near_m for z in zones_near
            ):
                continue
            return a
        return None

    def build(self, spec: AlertSpec, incident: Incident, zones_near: list[ZoneNear], place: str) -> PublicAlert:
        loc = incident.location
        assert loc is not None
        public = {k: v for k, v in incident.labels.items() if k in spec.public_labels and k not in PERSONAL_LABELS}
        values = _SafeFormat({**public, "place": place, "radius": f"{spec.radius_m:g}"})
        ring = circle_ring(loc.lat, loc.lon, spec.radius_m)
        texts = [
            AlertText(
                language=lang,
                event=spec.text[lang].event,
                headline=spec.text[lang].headline.format_map(values)[:160],
                description=spec.text[lang].description.format_map(values),
                instruction=spec.text[lang].instruction.format_map(values),
                area_description=self.spec.area[lang].format_map(values),
            )
            for lang in self.spec.languages
        ]
        first = texts[0]
        area = AlertArea(
            description=first.area_description,
            polygon=[GeoPoint(lat=lat, lon=lon) for lat, lon in ring],
            circle_center=GeoPoint(lat=loc.lat, lon=loc.lon),
            circle_radius_km=spec.radius_m / 1000.0,
        )
        inside = [d for d in self.devices if distance_m(loc.lat, loc.lon, d.lat, d.lon) <= spec.radius_m]
        channels = [AlertChannel(kind="cell_broadcast")]
        for kind in ("information_board", "loudspeaker"):
            ids = [d.device_id for d in inside if d.kind == kind]
            if ids:
                channels.append(AlertChannel(kind=kind, targets=ids))
        sent = incident.updated_time
        return PublicAlert(
            id=f"{incident.id}.{spec.id}",
            incident_id=incident.id,
            incident_version=incident.version,
            sender=self.spec.sender,
            sent=sent,
            category=list(spec.cap_category),
            event=first.event,
            response_type=spec.response_type,
            urgency=spec.urgency,
            severity=spec.severity,
            certainty=spec.certainty,
            headline=first.headline,
            description=first.description,
            instruction=first.instruction,
            language=first.language,
            expires=sent + timedelta(seconds=parse_duration(spec.expires_after)),
            area=area,
            channels=channels,
            translations=texts[1:],
        )

    def cancel(self, sent: PublicAlert, incident: Incident) -> PublicAlert:
        """The all-clear for an alert sent earlier: CAP msgType Cancel referencing it, responseType AllClear,
        urgency Past and severity Minor (the event no longer poses a threat), the policy's all-clear wording in
        every language, and the same area and channels so the devices that warned now release."""
        texts = [first_text(sent), *sent.translations]

        def clear(t: AlertText) -> AlertText:
            words = self.spec.all_clear.get(t.language)
            if words is None:  # a language the current policy dropped: keep the event, say it is over
                words = self.spec.all_clear[self.spec.languages[0]]
            values = _SafeFormat({"event": t.event})
            return t.model_copy(
                update={
                    "headline": words.headline.format_map(values)[:160],
                    "description": words.description.format_map(values),
                    "instruction": words.instruction.format_map(values),
                }
            )

        first, *rest = [clear(t) for t in texts]
        return sent.model_copy(
            update={
                "id": sent.id + ".cancel",
                "msg_type": "Cancel",
                "sent": incident.updated_time,
                "incident_version": incident.version,
                "references": [cap_reference(sent)],
                "response_type": "AllClear",
                "urgency": "Past",
                "severity": "Minor",
                "certainty": "Observed",
                "expires": None,
                "headline": first.headline,
                "description": first.description,
                "instruction": first.instruction,
                "translations": rest,
            }
        )


def circle_ring(lat: float, lon: float, radius_m: float, points: int = CIRCLE_POINTS) -> list[tuple[float, float]]:
    """A closed (lat, lon) ring approximating a circle on the ground, rounded to 6 decimals (~0.1 m)."""
    north, east = metres_per_degree(lat)
    dlat = radius_m / north
    dlon = radius_m / max(east, 1e-6 * north)
    angles = [2 * math.pi * i / points for i in range(points)]
    ring = [(round(lat + dlat * math.cos(a), 6), round(lon + dlon * math.sin(a), 6)) for a in angles]
    return [*ring, ring[0]]


def load_alert_policy(path: Path | str = DEFAULT_POLICY, devices: Iterable[WarningDevice] = ()) -> AlertPolicy:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return AlertPolicy(AlertPolicySpec.model_validate(doc), devices)
    except (OSError, yaml.YAMLError) as e:
        raise AlertError(f"{path}: {e}") from None
    except ValidationError as e:
        raise AlertError(f"{path}: {e}") from None


def load_warning_devices(path: Path | str) -> list[WarningDevice]:
    """GeoJSON FeatureCollection of Points with properties device_id and kind (information_board|loudspeaker)."""
    path = Path(path)
    try:
        doc: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        out = []
        for i, feat in enumerate(doc["features"]):
            props, geom = feat["properties"], feat["geometry"]
            if geom["type"] != "Point" or props["kind"] not in ("information_board", "loudspeaker"):
                raise AlertError(f"{path}: feature {i}: a Point with kind information_board|loudspeaker expected")
            lon, lat = geom["coordinates"][:2]
            out.append(WarningDevice(str(props["device_id"]), props["kind"], float(lat), float(lon)))
        return out
    except (OSError, ValueError, KeyError, TypeError) as e:
        if isinstance(e, AlertError):
            raise
        raise AlertError(f"{path}: {e}") from None
