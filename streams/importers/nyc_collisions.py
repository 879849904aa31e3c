"""NYC Motor Vehicle Collisions (NYPD crashes) -> accident.record. Times are America/New_York.

Severity: any killed -> fatal; 3+ injured -> serious_injury (the file does not grade injuries, so this
is a GUESS); 1-2 injured -> minor_injury; else property_damage. Vehicles: non-empty VEHICLE_TYPE_n."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from schemas import AccidentRecord, AccidentRecordEvent, GeoPoint, Severity
from streams.importers import ImportResult, Layout, detect_layout, lat_lon, local_time, read_rows

TZ = ZoneInfo("America/New_York")
FMT = "%m/%d/%Y %H:%M"
SOURCE = "nyc-open-data/mv-collisions"
LAYOUTS = (
    Layout("Motor Vehicle Collisions - Crashes", ("COLLISION_ID", "CRASH_DATE", "CRASH_TIME", "LATITUDE", "LONGITUDE")),
)


def _int(value: str | None) -> int:
    try:
        return max(0, int(float(value or 0)))
    except ValueError:
        return 0


def severity(injured: int, killed: int) -> Severity:
    if killed:
        return Severity.FATAL
    if injured >= 3:
        return Severity.SERIOUS_INJURY
    return Severity.MINOR_INJURY if injured else Severity.PROPERTY_DAMAGE


def import_nyc_collisions(path: str | Path) -> ImportResult:
    detect_layout(path, "NYC collisions", LAYOUTS)  # refuses another file, naming the missing columns
    res = ImportResult()
    seen: set[str] = set()
    for row in read_rows(path):
        res.rows += 1
        cid = row["COLLISION_ID"].strip()
        if not cid:
            res.skip("no collision id")
            continue
        if cid in seen:
            res.skip("duplicate collision id")
            continue
        at = local_time(f"{row['CRASH_DATE']} {row['CRASH_TIME']}", FMT, TZ)
        if at is None:
            res.skip("no crash time")
            continue
        where = lat_lon(row.get("LATITUDE"), row.get("LONGITUDE"))
        if where is None:
            res.skip("no location")
            continue
        seen.add(cid)
        injured, killed = _int(row.get("INJURED_PERSONS")), _int(row.get("KILLED_PERSONS"))
        vehicles = sum(1 for i in range(1, 6) if (row.get(f"VEHICLE_TYPE_{i}") or "").strip())
        factors = [
            f
            for i in range(1, 6)
            if (f := (row.get(f"CONTRIBUTING_FACTOR_VEHICLE_{i}") or "").strip()) and f != "Unspecified"
        ]
        road = " ".join((row.get("ON_STREET_NAME") or "").split()) or None
        res.add(
            AccidentRecordEvent(
                id=f"nyc-{cid}",
                source=SOURCE,
                time=at,
                location=GeoPoint(lat=where[0], lon=where[1]),
                data=AccidentRecord(
                    record_id=cid,
                    severity=severity(injured, killed),
                    vehicles=max(vehicles, 1),
                    injured=injured,
                    killed=killed,
                    source="nypd",
                    road=road,
                    factors=list(dict.fromkeys(factors)),
                ),
            )
        )
    return res
