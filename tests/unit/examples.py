"""One valid event per type of the contract, with realistic Almaty values (a helper, not tests).

Every optional field, nested ones included, is filled, so decoders are exercised on the full shape.
"""

from __future__ import annotations

from typing import Any

_T = "2024-05-14T09:30:12.250Z"
_ADMIN = {"republic": "KZ", "region": "Almaty", "city": "Almaty", "district": "Medeu"}
_LOC = {"lat": 43.2389, "lon": 76.9451, "accuracy_m": 8.5}

# A small square around Republic Square (lon, lat), closed ring.
_RING = [[76.944, 43.238], [76.947, 43.238], [76.947, 43.240], [76.944, 43.240], [76.944, 43.238]]
_HOLE = [[76.9450, 43.2385], [76.9455, 43.2385], [76.9455, 43.2390], [76.9450, 43.2385]]


def _envelope(event_id: str, event_type: str, source: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "source": source,
        "type": event_type,
        "time": _T,
        "received_time": "2024-05-14T15:30:12.731+06:00",
        "location": dict(_LOC),
        "admin": dict(_ADMIN),
        "schema_version": "1.0",
    }


def example_events() -> list[dict[str, Any]]:
    """One JSON-able dict per event type in schemas.EVENT_CLASSES (same order), all fields filled."""
    out = [
        _envelope("vd-0001", "video.detection", "almaty/vms/cam-medeu-014")
        | {
            "data": {
                "camera_id": "cam-medeu-014",
                "analytic": "loitering",
                "label": "person",
                "confidence": 0.87,
                "bbox": {"x": 0.41, "y": 0.22, "w": 0.08, "h": 0.31},
                "track_id": 5512,
                "zone_id": "zone-school-12",
                "line_id": "gate-north",
                "direction": "in",
                "phase": "update",
                "count": 1,
                "dwell_s": 184.5,
                "tamper": "blur",
                "snapshot": "s3://vms/medeu/014/2024-05-14T09-30-12.jpg",
            }
        },
        _envelope("call-0001", "call.112", "almaty/112/cad")
        | {
            "data": {
                "call_id": "112-2024-0514-00871",
                "line": "112",
                "phone": "+77015551234",
                "caller_name": "Айгерим Сапарова",
                "address": "пр. Абая 52, Алматы",
                "geocode": "street",
                "category": "violence",
                "description": "Драка у входа в ТРЦ, двое пострадавших",
                "operator": "op-17",
                "injured": 2,
            }
        },
        _envelope("sos-0001", "sos.press", "almaty/sos/buttons")
        | {"data": {"device_id": "sos-arbat-03", "kind": "fixed_button", "message": "Помогите, нападение"}},
        _envelope("anpr-0001", "anpr.read", "almaty/anpr/al-farabi-05")
        | {
            "data": {
                "camera_id": "anpr-al-farabi-05",
                "plate": "123ABC02",
                "country": "KZ",
                "confidence": 0.96,
                "direction": "approaching",
                "speed_kmh": 87.5,
                "lane": 2,
                "vehicle_class": "sedan",
            }
        },
        _envelope("acc-0001", "accident.record", "almaty/police/dtp")
        | {
            "data": {
                "record_id": "DTP-2024-05-14-0042",
                "severity": "serious_injury",
                "vehicles": 2,
                "injured": 3,
                "killed": 0,
                "source": "police",
                "road": "пр. Аль-Фараби / ул. Навои",
                "factors": ["speeding", "wet_road"],
            }
        },
        _envelope("gps-0001", "unit.gps", "almaty/avl/police")
        | {
            "data": {
                "unit_id": "pp-medeu-07",
                "unit_type": "police",
                "status": "en_route",
                "speed_kmh": 64.0,
                "heading_deg": 271.5,
                "assigned_incident": "inc-7f3a",
                "callsign": "Беркут-7",
            }
        },
        _envelope("da-0001", "dispatch.action", "almaty/cad/actions")
        | {
            "data": {
                "incident_id": "inc-7f3a",
                "action": "assign",
                "operator": "disp-04",
                "unit_id": "pp-medeu-07",
                "note": "Направлен ближайший наряд",
            }
        },
        _envelope("inc-7f3a@2", "incident", "saqshy/rules/fight-near-school")
        | {
            "data": {
                "id": "inc-7f3a",
                "version": 2,
                "rule_id": "fight-near-school",
                "rule_version": 3,
                "category": "violence",
                "status": "escalated",
                "priority": 1,
                "priority_base": 2,
                "priority_terms": [{"name": "injured", "delta": -1}],
                "title": "Драка возле школы №12",
                "summary": "Видеоаналитика + звонок 112 в пределах 300 м",
                "key": "zone-school-12",
                "group": "medeu",
                "location": dict(_LOC),
                "admin": dict(_ADMIN),
                "first_time": "2024-05-14T09:28:40Z",
                "last_time": "2024-05-14T09:30:12.250Z",
                "updated_time": "2024-05-14T15:30:13+06:00",
                "event_ids": ["vd-0001", "call-0001"],
                "event_count": 2,
                "labels": {"zone": "school", "district": "Medeu"},
                "playbook": [
                    {"action": "dispatch", "agency": "police", "unit_type": "police", "units": 2},
                    {"action": "notify", "agency": "ambulance", "unit_type": "ambulance", "units": 1},
                ],
                "close_reason": "resolved_on_scene",
                "schema_version": "1.0",
            }
        },
        _envelope("hl-0001", "ref.hotlist", "almaty/police/hotlist")
        | {
            "data": {
                "plate": "777KZA02",
                "country": "KZ",
                "reason": "stolen",
                "priority": 2,
                "list_id": "stolen-vehicles",
                "valid_from": "2024-05-01T00:00:00+06:00",
                "valid_to": "2024-08-01T00:00:00Z",
                "note": "Toyota Camry, белый",
            },
            "deleted": False,
        },
        _envelope("cam-0001", "ref.camera", "almaty/vms/registry")
        | {
            "data": {
                "camera_id": "cam-medeu-014",
                "location": {"lat": 43.2391, "lon": 76.9457, "accuracy_m": 2.0},
                "owner": "police",
                "kind": "ptz",
                "fov": {"type": "Polygon", "coordinates": [_RING]},
                "status": "online",
                "name": "Площадь Республики, север",
            },
            "deleted": False,
        },
        _envelope("zone-0001", "ref.zone", "almaty/gis/zones")
        | {
            "data": {
                "zone_id": "zone-school-12",
                "name": "Школа-гимназия №12",
                "kind": "school",
                "geometry": {"type": "Polygon", "coordinates": [_RING, _HOLE]},
                "tags": ["school", "medeu"],
            },
            "deleted": False,
        },
        _envelope("area-0001", "ref.admin_area", "almaty/gis/admin")
        | {
            "data": {
                "area_id": "kz-almaty-medeu",
                "name": "Медеуский район",
                "level": "district",
                "parent_id": "kz-almaty",
                "geometry": {"type": "MultiPolygon", "coordinates": [[_RING], [_RING, _HOLE]]},
            },
            "deleted": True,
        },
    ]
    return out
