"""City simulator: a seeded, deterministic stream of contract events, planted incidents and their truth."""

from streams.sim.city import City, load_city
from streams.sim.generator import SimConfig, SimResult, default_truth_path, generate, simulate
from streams.sim.truth import TruthItem, read_truth, write_truth

__all__ = [
    "City",
    "SimConfig",
    "SimResult",
    "TruthItem",
    "default_truth_path",
    "generate",
    "load_city",
    "read_truth",
    "simulate",
    "write_truth",
]
