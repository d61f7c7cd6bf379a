"""What the calls are about: the incident-type mix, priorities, time on scene, duplicate calls, and
the pace of the command centre (call processing, turnout, closing), from ``jingwu/data/drill_mix.json``.

The types are the agency's catalogue; the mix file only adds shares and times, and is checked
against the catalogue so a renamed type cannot silently drop out of a drill. Times are lognormal,
given as a mean and a coefficient of variation (CV), the usual shape of service times.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from jingwu.domain.incident_types import PRIORITIES, IncidentTypeCatalogue

SURFACES = ("people", "traffic", "remote")


@dataclass(frozen=True, slots=True)
class Lognormal:
    mean: float
    cv: float

    def draw(self, rng: np.random.Generator) -> float:
        if self.mean <= 0:
            return 0.0
        if self.cv <= 0:
            return self.mean
        sigma2 = math.log(1 + self.cv**2)
        return float(rng.lognormal(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2)))

    @classmethod
    def parse(cls, raw: Any, what: str) -> Lognormal:
        if isinstance(raw, int | float):
            return cls(float(raw), 0.0)
        mean, cv = float(raw["mean"]), float(raw.get("cv", 0.0))
        if mean < 0 or cv < 0:
            raise ValueError(f"{what}: mean and cv must not be negative")
        return cls(mean, cv)


@dataclass(frozen=True, slots=True)
class TypeMix:
    code: str
    share: float
    priorities: tuple[tuple[int, float], ...]
    on_scene: Lognormal
    surface: str
    visibility: float
    """Relative chance that more people call about the same event (a fire is seen by many)."""


@dataclass(frozen=True)
class IncidentMix:
    types: tuple[TypeMix, ...]
    duplicate_share: float
    """Share of all calls that are extra calls about an event already reported."""
    duplicate_delay: Lognormal
    duplicate_max_delay_s: float
    duplicate_offset_m: float
    processing: Mapping[int, Lognormal]
    """Receipt to the dispatcher's decision (call-taking and dispatching), per priority."""
    turnout_s: Mapping[int, float]
    """Assignment to moving off, per priority."""
    backup_on_scene_factor: float
    """Units beyond the first leave the scene after this share of the first one's time."""
    close_after_s: float | None
    """The dispatcher closes a cleared incident this long after the last unit clears."""
    meta: dict[str, Any]
    shares: np.ndarray = field(init=False, repr=False, compare=False)
    """Normalised type shares, in the order of ``types``."""
    duplicate_scale: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.types:
            raise ValueError("the mix needs at least one incident type")
        if not 0 <= self.duplicate_share < 1:
            raise ValueError("duplicate_share must be in [0, 1)")
        total = sum(t.share for t in self.types)
        if total <= 0:
            raise ValueError("type shares must add up to something positive")
        shares = np.array([t.share for t in self.types]) / total
        object.__setattr__(self, "shares", shares)
        vis = float(np.dot(shares, [t.visibility for t in self.types]))
        # Extra calls per event ~ Poisson(k * visibility); the mean over types must give the share.
        extra = self.duplicate_share / (1 - self.duplicate_share)
        object.__setattr__(self, "duplicate_scale", extra / vis if vis > 0 else 0.0)

    def extra_calls_mean(self, t: TypeMix) -> float:
        return self.duplicate_scale * t.visibility

    def events_per_call(self) -> float:
        """Distinct events per call: calls per day / (1 + mean extra calls) is the event rate."""
        return 1 - self.duplicate_share

    def priority_shares(self) -> dict[int, float]:
        out = dict.fromkeys(PRIORITIES, 0.0)
        for share, t in zip(self.shares, self.types, strict=True):
            for p, w in t.priorities:
                out[p] += float(share) * w
        return out


def _parse_priorities(raw: Mapping[str, float], default: int, code: str) -> tuple[tuple[int, float], ...]:
    pairs = [(int(p), float(w)) for p, w in raw.items()] if raw else [(default, 1.0)]
    if any(p not in PRIORITIES or w < 0 for p, w in pairs):
        raise ValueError(f"{code}: priorities must be 1-4 with non-negative weights")
    total = sum(w for _, w in pairs)
    if total <= 0:
        raise ValueError(f"{code}: priority weights add up to zero")
    return tuple((p, w / total) for p, w in sorted(pairs))


def parse_mix(data: Mapping[str, Any], catalogue: IncidentTypeCatalogue) -> IncidentMix:
    types = []
    for raw in data["types"]:
        code = raw["code"]
        itype = catalogue.get(code)  # refuses a type the catalogue does not know
        surface = raw.get("surface", "people")
        if surface not in SURFACES:
            raise ValueError(f"{code}: surface must be one of {SURFACES}")
        types.append(TypeMix(
            code=code, share=float(raw["share"]),
            priorities=_parse_priorities(raw.get("priorities", {}), itype.default_priority, code),
            on_scene=Lognormal.parse(raw["on_scene_s"], f"{code}.on_scene_s"), surface=surface,
            visibility=float(raw.get("visibility", 1.0)),
        ))
    dup = data.get("duplicates", {})
    return IncidentMix(
        types=tuple(types),
        duplicate_share=float(dup.get("share", 0.0)),
        duplicate_delay=Lognormal.parse(dup.get("delay_s", {"mean": 150, "cv": 1.0}), "duplicates.delay_s"),
        duplicate_max_delay_s=float(dup.get("max_delay_s", 1200)),
        duplicate_offset_m=float(dup.get("max_offset_m", 120)),
        processing={int(p): Lognormal.parse(v, f"processing_s.{p}") for p, v in data["processing_s"].items()},
        turnout_s={int(p): float(v) for p, v in data["turnout_s"].items()},
        backup_on_scene_factor=float(data.get("backup_on_scene_factor", 1.0)),
        close_after_s=None if data.get("close_after_s") is None else float(data["close_after_s"]),
        meta={k: v for k, v in data.items() if k.startswith("_")},
    )


def load_mix(catalogue: IncidentTypeCatalogue, path: Path | None = None) -> IncidentMix:
    if path is None:
        text = resources.files("jingwu.data").joinpath("drill_mix.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return parse_mix(json.loads(text), catalogue)


def single_type_mix(code: str, priority: int, on_scene_mean_s: float, on_scene_cv: float = 1.0) -> IncidentMix:
    """One type, one priority, no duplicates, no delays: the configuration queueing theory describes.

    CV 1 makes the lognormal's first two moments those of an exponential; the Erlang C check uses
    exactly exponential times instead (see ``jingwu.sim.queueing``)."""
    t = TypeMix(code, 1.0, ((priority, 1.0),), Lognormal(on_scene_mean_s, on_scene_cv), "people", 0.0)
    return IncidentMix(
        types=(t,), duplicate_share=0.0, duplicate_delay=Lognormal(0, 0), duplicate_max_delay_s=0,
        duplicate_offset_m=0, processing=dict.fromkeys(PRIORITIES, Lognormal(0, 0)),
        turnout_s=dict.fromkeys(PRIORITIES, 0.0), backup_on_scene_factor=1.0, close_after_s=None, meta={},
    )
