"""Spatial partitioning: the partition of an anchor receives every event within the radius around it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.loader import load_rules
from streams.partitioning import PartitionPlan, PartitionPlanError, plan_for
from tests.golden.harness import CATALOG
from tests.support import catalog_subset


def _offset(lat: float, lon: float, metres: float, bearing: float) -> tuple[float, float]:
    dlat = metres * math.cos(bearing) / 111_320.0
    dlon = metres * math.sin(bearing) / (111_320.0 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


@settings(max_examples=400, deadline=None)
@given(
    lat=st.floats(-60, 60),
    lon=st.floats(-179, 179),
    cell=st.sampled_from([500.0, 1000.0, 2000.0]),
    frac=st.floats(0, 1),
    bearing=st.floats(0, 2 * math.pi),
)
def test_every_event_within_radius_reaches_the_anchor_cell(
    lat: float, lon: float, cell: float, frac: float, bearing: float
) -> None:
    plan = PartitionPlan("spatial", cell, radius_m=cell * 0.8)
    event = _offset(lat, lon, plan.radius_m * frac, bearing)
    anchor_key = plan.key(lat, lon, "x")
    reached = {plan.key(*event, "x"), *plan.replica_keys(*event)}
    assert anchor_key in reached


def test_replicas_stay_near() -> None:
    plan = PartitionPlan("spatial", 1000.0, 400.0)
    # at most the 8 neighbours, never the own cell
    for lat, lon in [(43.25, 76.95), (43.2545, 76.9555), (0.0, 0.0)]:
        keys = plan.replica_keys(lat, lon)
        assert plan.key(lat, lon, "x") not in keys and len(keys) <= 8
    assert plan.key(43.25, 76.95, "x") != plan.key(43.30, 76.95, "x")


def test_single_plan_puts_everything_in_one_key() -> None:
    plan = plan_for(load_rules([CATALOG]), "single")
    assert plan.key(43.0, 76.0, "a") == plan.key(None, None, "b") and plan.replica_keys(43.0, 76.0) == []


def test_spatial_plan_refuses_rules_that_are_not_cell_local() -> None:
    with pytest.raises(PartitionPlanError) as err:
        plan_for(load_rules([CATALOG]), "spatial")
    text = str(err.value)
    assert "calls.repeat_phone" in text and "dispatch.unacknowledged" in text and "fire.camera_and_call" not in text


def test_spatial_plan_cell_covers_the_largest_radius(tmp_path: Path) -> None:
    root = catalog_subset(
        tmp_path, ["fire", "calls/mass_incident.yaml", "traffic/accident_confirmed.yaml", "traffic/mass_casualty.yaml"]
    )
    plan = plan_for(load_rules([root]), "spatial")
    # traffic.mass_casualty matches within 2 km and (no key) merges within 2 km: replicas reach 2 + 2 + 2 km,
    # and cells are as wide, so an event has at most 8 neighbours to be copied to
    assert plan.cell_m == 6000.0 and plan.radius_m == 6000.0
