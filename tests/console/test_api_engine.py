"""The operators' actions through the REAL engine: the embedded runner with the packaged catalog, fed through the
console's HTTP API, as `saqshy console --replay` runs it."""

from __future__ import annotations

from schemas import IncidentStatus
from tests.console.api_support import act, by_rule, clock_ticks, console, fire, gps, login

FIRE = "fire.camera_and_call"
UNACK = "dispatch.unacknowledged"


def test_an_acknowledged_incident_does_not_escalate_and_an_unacknowledged_one_does() -> None:
    with console(fire("medeu", 0) + fire("turksib", 0) + clock_ticks(60, 90)) as run:
        fires = {i.admin.district: i for i in by_rule(run.incidents(), FIRE)}
        assert set(fires) == {"Medeu district", "Turksib district"}
        csrf = login(run.client, "op_medeu")
        assert act(run.client, csrf, fires["Medeu district"].id, "ack").status_code == 202
        run.feed(clock_ticks(120, 600))  # well past the 3-minute timeout of both
        escalated = {i.labels["incident"] for i in by_rule(run.incidents(), UNACK)}
        assert escalated == {fires["Turksib district"].id}


def test_an_assigned_units_arrival_updates_the_incident() -> None:
    with console([*fire("medeu", 0), gps("f-7", 70, "medeu"), *clock_ticks(90, 120)]) as run:
        (inc,) = by_rule(run.incidents(), FIRE)
        csrf = login(run.client, "op_medeu")
        assert act(run.client, csrf, inc.id, "assign", unit_id="f-7").status_code == 202
        assert act(run.client, csrf, inc.id, "arrive", unit_id="f-7").status_code == 202
        run.feed(clock_ticks(150, 210))
        after = run.incidents()[inc.id]
        assert after.version > inc.version
        assert [a.unit_id for a in after.arrivals] == ["f-7"]
        assert after.time_to_arrive_s is not None
        card = run.client.get(f"/api/incidents/{inc.id}").json()
        assert [a["data"]["action"] for a in card["actions"]] == ["assign", "arrive"]
        assert card["incident"]["arrivals"][0]["unit_id"] == "f-7"


def test_a_units_own_on_scene_report_updates_the_incident() -> None:
    with console(fire("medeu", 0) + clock_ticks(60, 90)) as run:
        (inc,) = by_rule(run.incidents(), FIRE)
        on_scene = gps("f-9", 90, "medeu", status="on_scene")
        on_scene = on_scene.replace(
            b'"status":"on_scene"', b'"status":"on_scene","assigned_incident":"%s"' % inc.id.encode()
        )
        run.feed([on_scene, *clock_ticks(120, 150)])
        assert [a.unit_id for a in run.incidents()[inc.id].arrivals] == ["f-9"]


def test_a_closed_incident_stays_closed() -> None:
    with console(fire("medeu", 0) + clock_ticks(60, 90)) as run:
        (inc,) = by_rule(run.incidents(), FIRE)
        csrf = login(run.client, "op_medeu")
        assert act(run.client, csrf, inc.id, "close").status_code == 400  # a close needs a reason
        assert act(run.client, csrf, inc.id, "close", reason="false alarm").status_code == 202
        run.feed(clock_ticks(120, 150))
        closed = run.incidents()[inc.id]
        assert closed.status == IncidentStatus.CLOSED
        # the same fire reported again: the closed incident is not reopened (a new one may open)
        run.feed(fire("medeu", 200) + clock_ticks(270, 400))
        assert run.incidents()[inc.id].status == IncidentStatus.CLOSED
        assert run.incidents()[inc.id].version == closed.version
        assert act(run.client, csrf, inc.id, "ack").status_code == 409
