"""San Francisco Fire Department calls for service -> call.112 + unit.gps status changes.

One row per dispatched unit. One call.112 per distinct Call Number (from its first row); one unit.gps
per unit and timestamp: Dispatch -> dispatched, Response -> en_route, On Scene -> on_scene,
Available -> available. Only on_scene and available are placed (at the call): the file has no unit GPS.
Times are America/Los_Angeles local.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from schemas import (
    CallCategory,
    EmergencyCall,
    EmergencyCallEvent,
    GeoPoint,
    UnitGps,
    UnitGpsEvent,
    UnitStatus,
    UnitType,
)
from streams.importers import ImportResult, Layout, detect_layout, local_time, paren_lat_lon, read_rows

TZ = ZoneInfo("America/Los_Angeles")
FMT = "%m/%d/%Y %I:%M:%S %p"

# Call Type -> CallCategory. Anything not listed is OTHER.
CALL_TYPES: dict[str, CallCategory] = {
    "Medical Incident": CallCategory.MEDICAL,
    "Structure Fire": CallCategory.FIRE,
    "Outside Fire": CallCategory.FIRE,
    "Vehicle Fire": CallCategory.FIRE,
    "Smoke Investigation (Outside)": CallCategory.FIRE,
    "Explosion": CallCategory.FIRE,
    "Alarms": CallCategory.FIRE,
    "Electrical Hazard": CallCategory.RESCUE,
    "Traffic Collision": CallCategory.ACCIDENT,
    "Gas Leak (Natural and LP Gases)": CallCategory.GAS,
    "Odor (Strange / Unknown)": CallCategory.GAS,
    "Fuel Spill": CallCategory.GAS,
    "HazMat": CallCategory.GAS,
    "Elevator / Escalator Rescue": CallCategory.RESCUE,
    "Water Rescue": CallCategory.RESCUE,
    "Industrial Accidents": CallCategory.RESCUE,
    "High Angle Rescue": CallCategory.RESCUE,
    "Confined Space / Structure Collapse": CallCategory.RESCUE,
    "Assist Police": CallCategory.PUBLIC_ORDER,
    "Suspicious Package": CallCategory.SUSPICIOUS_OBJECT,
    "Citizen Assist / Service Call": CallCategory.INFO,
    "Water Leak": CallCategory.OTHER,
    "Other": CallCategory.OTHER,
}
# Unit Type -> UnitType.
UNIT_TYPES: dict[str, UnitType] = {
    "ENGINE": UnitType.FIRE,
    "TRUCK": UnitType.FIRE,
    "CHIEF": UnitType.FIRE,
    "SUPPORT": UnitType.FIRE,
    "INVESTIGATION": UnitType.FIRE,
    "MEDIC": UnitType.AMBULANCE,
    "PRIVATE": UnitType.AMBULANCE,
    "RESCUE CAPTAIN": UnitType.RESCUE,
    "RESCUE SQUAD": UnitType.RESCUE,
}
STATUS_COLUMNS = (
    ("Dispatch DtTm", UnitStatus.DISPATCHED),
    ("Response DtTm", UnitStatus.EN_ROUTE),
    ("On Scene DtTm", UnitStatus.ON_SCENE),
    ("Available DtTm", UnitStatus.AVAILABLE),
)
SOURCE = "datasf/fire-calls-for-service"
LAYOUTS = (
    Layout("Fire Department Calls for Service", ("Call Number", "Unit ID", "Call Type", "Received DtTm", "Location")),
)


def import_sf_fire(path: str | Path) -> ImportResult:
    detect_layout(path, "SFFD calls for service", LAYOUTS)  # refuses another file, naming the missing columns
    res = ImportResult()
    calls: set[str] = set()
    for row in read_rows(path):
        res.rows += 1
        number = row["Call Number"].strip()
        where = paren_lat_lon(row.get("Location"))
        received = local_time(row["Received DtTm"], FMT, TZ)
        if not number:
            res.skip("no call number")
            continue
        if received is None:
            res.skip("no received time")
            continue
        if where is None:
            res.skip("no location")
            continue
        point = GeoPoint(lat=where[0], lon=where[1])
        if number not in calls:
            calls.add(number)
            res.add(
                EmergencyCallEvent(
                    id=f"sffire-{number}",
                    source=SOURCE,
                    time=received,
                    location=point,
                    data=EmergencyCall(
                        call_id=number,
                        address=row.get("Address") or None,
                        category=CALL_TYPES.get(row["Call Type"].strip(), CallCategory.OTHER),
                        description=row["Call Type"].strip() or None,
                    ),
                )
            )
        unit = row["Unit ID"].strip()
        if not unit:
            continue
        unit_type = UNIT_TYPES.get(row.get("Unit Type", "").strip().upper(), UnitType.FIRE)
        for column, status in STATUS_COLUMNS:
            at = local_time(row.get(column, ""), FMT, TZ)
            if at is None:
                continue
            placed = status in (UnitStatus.ON_SCENE, UnitStatus.AVAILABLE)
            res.add(
                UnitGpsEvent(
                    id=f"sffire-{number}-{unit}-{status.value}",
                    source=SOURCE,
                    time=at,
                    location=point if placed else None,
                    data=UnitGps(
                        unit_id=unit,
                        unit_type=unit_type,
                        status=status,
                        assigned_incident=None if status == UnitStatus.AVAILABLE else f"sffire-{number}",
                    ),
                )
            )
    return res
