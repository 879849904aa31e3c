"""Topic names: the one place they are spelled. Deployments may prefix them (e.g. per country)."""

from __future__ import annotations

EVENT_TOPICS: dict[str, str] = {
    "video.detection": "saqshy.events.video",
    "call.112": "saqshy.events.calls",
    "sos.press": "saqshy.events.sos",
    "anpr.read": "saqshy.events.anpr",
    "accident.record": "saqshy.events.accidents",
    "unit.gps": "saqshy.events.units",
    "dispatch.action": "saqshy.events.dispatch",
    "ref.hotlist": "saqshy.reference.hotlist",
    "ref.camera": "saqshy.reference.cameras",
    "ref.zone": "saqshy.reference.zones",
    "ref.admin_area": "saqshy.reference.admin_areas",
}
INCIDENTS = "saqshy.incidents"
INCIDENTS_LATEST = "saqshy.incidents.latest"
ALERTS = "saqshy.alerts"
DEAD_LETTERS = "saqshy.dlq"
AUDIT = "saqshy.audit"  # the operator console's audit log (streams/console/audit.py)
