"""San Francisco Police Department incident reports -> call.112, one per incident (first row wins; later
rows of one incident are extra offence codes of the same report). Times are America/Los_Angeles. The SFPD
police district becomes the admin path's district (United States > California > San Francisco), so per-area
views (the crime map's region filter, forecasts by area) work on this data.

Two export layouts, told apart by the header:
  2018+     "Police Department Incident Reports: 2018 to Present": Incident ID, Incident Datetime, Incident
            Category, Latitude, Longitude, ... (ids sfpd-<Incident ID>)
  pre-2018  "Police Department Incidents" (2003 to May 2018): IncidntNum, Category, Descript, DayOfWeek, Date,
            Time, PdDistrict, Resolution, Address, X, Y, Location, PdId; X is the longitude, Y the latitude
            (Y = 90 marks no place); categories and districts in capitals (ids sfpd-n<IncidntNum>)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from schemas import AdminPath, CallCategory, EmergencyCall, EmergencyCallEvent, GeoPoint
from streams.importers import ImportResult, Layout, detect_layout, lat_lon, local_time, read_rows

TZ = ZoneInfo("America/Los_Angeles")
FMT = "%Y/%m/%d %I:%M:%S %p"
SOURCE = "datasf/police-incident-reports"
SOURCE_PRE_2018 = "datasf/police-incidents-2003-2018"
CURRENT = Layout("2018+", ("Incident ID", "Incident Datetime", "Incident Category", "Latitude", "Longitude"))
PRE_2018 = Layout("pre-2018", ("IncidntNum", "Category", "Descript", "Date", "Time", "PdDistrict", "X", "Y"))
LAYOUTS = (CURRENT, PRE_2018)

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


# The pre-2018 layout's categories (capitals, older names) -> CallCategory; unlisted ones are CRIME.
CATEGORIES_PRE_2018: dict[str, CallCategory] = {
    "ASSAULT": CallCategory.VIOLENCE,
    "ROBBERY": CallCategory.VIOLENCE,
    "KIDNAPPING": CallCategory.VIOLENCE,
    "SEX OFFENSES, FORCIBLE": CallCategory.VIOLENCE,
    "SEX OFFENSES, NON FORCIBLE": CallCategory.VIOLENCE,
    "FAMILY OFFENSES": CallCategory.VIOLENCE,
    "WEAPON LAWS": CallCategory.VIOLENCE,
    "DISORDERLY CONDUCT": CallCategory.PUBLIC_ORDER,
    "DRUNKENNESS": CallCategory.PUBLIC_ORDER,
    "LIQUOR LAWS": CallCategory.PUBLIC_ORDER,
    "LOITERING": CallCategory.PUBLIC_ORDER,
    "PROSTITUTION": CallCategory.PUBLIC_ORDER,
    "GAMBLING": CallCategory.PUBLIC_ORDER,
    "PORNOGRAPHY/OBSCENE MAT": CallCategory.PUBLIC_ORDER,
    "DRIVING UNDER THE INFLUENCE": CallCategory.ACCIDENT,
    "ARSON": CallCategory.FIRE,
    "SUICIDE": CallCategory.MEDICAL,
    "MISSING PERSON": CallCategory.RESCUE,
    "RUNAWAY": CallCategory.RESCUE,
    "SUSPICIOUS OCC": CallCategory.SUSPICIOUS_OBJECT,
    "NON-CRIMINAL": CallCategory.INFO,
    "RECOVERED VEHICLE": CallCategory.INFO,
    "SECONDARY CODES": CallCategory.OTHER,
    "OTHER OFFENSES": CallCategory.OTHER,
}
DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d")


def import_sf_police(path: str | Path) -> ImportResult:
    """Either layout, detected from the header (ImportFormatError names the missing columns otherwise)."""
    if detect_layout(path, "SFPD incident reports", LAYOUTS) is PRE_2018:
        return _import_pre_2018(path)
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


def _pre_2018_time(date: str, time: str) -> datetime | None:
    """Date as 01/29/2016, 01/29/2016 12:00:00 AM or 2016-01-29(T00:00:00); Time as 11:00."""
    day = date.strip().replace("T", " ").split(" ")[0]
    for fmt in DATE_FORMATS:
        at = local_time(f"{day} {time.strip()}", f"{fmt} %H:%M", TZ)
        if at is not None:
            return at
    return None


def _import_pre_2018(path: str | Path) -> ImportResult:
    res = ImportResult()
    seen: set[str] = set()
    for row in read_rows(path):
        res.rows += 1
        incident = row["IncidntNum"].strip()
        if not incident:
            res.skip("no incident id")
            continue
        if incident in seen:
            res.skip("further offence of an imported incident")
            continue
        at = _pre_2018_time(row["Date"], row["Time"])
        if at is None:
            res.skip("no incident time")
            continue
        where = lat_lon(row.get("Y"), row.get("X"))
        if where is None or where[0] >= 90.0:
            res.skip("no location")
            continue
        seen.add(incident)
        category = row["Category"].strip().upper()
        district = (row.get("PdDistrict") or "").strip().title() or None  # "MISSION" -> "Mission", as in 2018+
        admin = AdminPath(republic="United States", region="California", city="San Francisco", district=district)
        res.add(
            EmergencyCallEvent(
                id=f"sfpd-n{incident}",
                source=SOURCE_PRE_2018,
                time=at,
                location=GeoPoint(lat=where[0], lon=where[1]),
                admin=admin,
                data=EmergencyCall(
                    call_id=incident,
                    line="102",
                    address=(row.get("Address") or "").strip() or None,
                    geocode="street",
                    category=CATEGORIES_PRE_2018.get(category, CallCategory.CRIME),
                    description=(row.get("Descript") or "").strip() or category.title() or None,
                ),
            )
        )
    return res
