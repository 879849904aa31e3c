"""San Francisco Police Department incident reports -> call.112, one per Incident ID (first row wins;
later rows of one incident are extra offence codes of the same report). Times are America/Los_Angeles. The
SFPD police district becomes the admin path's district (United States > California > San Francisco), so
per-area views (the crime map's region filter, forecasts by area) work on this data."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from schemas import AdminPath, CallCategory, EmergencyCall, EmergencyCallEvent, GeoPoint
from streams.importers import ImportResult, lat_lon, local_time, read_rows

TZ = ZoneInfo("America/Los_Angeles")
FMT = "%Y/%m/%d %I:%M:%S %p"
SOURCE = "datasf/police-incident-reports"

# Incident Category -> CallCategory. Anything not listed is CRIME (most of the file is offences).
CATEGORIES: dict[str, CallCategory] = {
    "Assault": CallCategory.VIOLENCE,
    "Robbery": CallCategory.VIOLENCE,
    "Homicide": CallCategory.VIOLENCE,
    "Rape": CallCategory.VIOLENCE,
    "Sex Offense": CallCategory.VIOLENCE,
    "Offences Against The Family And Children": CallCategory.VIOLENCE,
    "Family Offense": CallCategory.VIOLENCE,
    "Weapons Offense": CallCategory.VIOLENCE,
    "Weapons Carrying Etc": CallCategory.VIOLENCE,
    "Disorderly Conduct": CallCategory.PUBLIC_ORDER,
    "Liquor Laws": CallCategory.PUBLIC_ORDER,
    "Civil Sidewalks": CallCategory.PUBLIC_ORDER,
    "Prostitution": CallCategory.PUBLIC_ORDER,
    "Gambling": CallCategory.PUBLIC_ORDER,
    "Juvenile Offenses": CallCategory.PUBLIC_ORDER,
    "Traffic Collision": CallCategory.ACCIDENT,
    "Traffic Violation Arrest": CallCategory.ACCIDENT,
    "Arson": CallCategory.FIRE,
    "Fire Report": CallCategory.FIRE,
    "Suicide": CallCategory.MEDICAL,
    "Missing Person": CallCategory.RESCUE,
    "Suspicious Occ": CallCategory.SUSPICIOUS_OBJECT,
    "Suspicious": CallCategory.SUSPICIOUS_OBJECT,
    "Non-Criminal": CallCategory.INFO,
    "Lost Property": CallCategory.INFO,
    "Courtesy Report": CallCategory.INFO,
    "Case Closure": CallCategory.INFO,
    "Vehicle Misplaced": CallCategory.INFO,
    "Vehicle Impounded": CallCategory.INFO,
    "Other Miscellaneous": CallCategory.OTHER,
    "Other": CallCategory.OTHER,
    "Miscellaneous Investigation": CallCategory.OTHER,
}


def import_sf_police(path: str | Path) -> ImportResult:
    res = ImportResult()
    seen: set[str] = set()
    for row in read_rows(path):
        res.rows += 1
        incident = row["Incident ID"].strip()
        if not incident:
            res.skip("no incident id")
            continue
        if incident in seen:
            res.skip("further offence of an imported incident")
            continue
        at = local_time(row["Incident Datetime"], FMT, TZ)
        if at is None:
            res.skip("no incident time")
            continue
        where = lat_lon(row.get("Latitude"), row.get("Longitude"))
        if where is None:
            res.skip("no location")
            continue
        seen.add(incident)
        category = row["Incident Category"].strip()
        district = (row.get("Police District") or "").strip() or None
        admin = AdminPath(republic="United States", region="California", city="San Francisco", district=district)
        res.add(
            EmergencyCallEvent(
                id=f"sfpd-{incident}",
                source=SOURCE,
                time=at,
                location=GeoPoint(lat=where[0], lon=where[1]),
                admin=admin,
                data=EmergencyCall(
                    call_id=row.get("CAD Number") or incident,
                    line="102",
                    address=row.get("Intersection") or None,
                    geocode="street",
                    category=CATEGORIES.get(category, CallCategory.CRIME),
                    description=(row.get("Incident Description") or category or None),
                ),
            )
        )
    return res
