"""The incident type catalogue (警情類別): what each kind of call needs and how fast.

Loaded from ``jingwu/data/incident_types.json`` by an adapter; parsing is pure so tests can feed
any catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from jingwu.domain.errors import DomainError

LANGUAGES = ("zh-Hant", "zh-Hans", "en")
PRIORITIES = (1, 2, 3, 4)


class Capability(StrEnum):
    PATROL = "patrol"
    TRAFFIC = "traffic"
    COMMUNITY = "community"
    CRIMINAL_INVESTIGATION = "criminal_investigation"
    SPECIAL = "special"


@dataclass(frozen=True, slots=True)
class StageTargets:
    """Target seconds for each stage of an incident of one priority."""

    answer_s: int
    dispatch_s: int
    travel_s: int
    response_s: int
    """From receipt to first unit on scene."""


@dataclass(frozen=True, slots=True)
class IncidentType:
    code: str
    family: str
    default_priority: int
    capability: Capability
    names: Mapping[str, str]
    response_plan: Mapping[int, Mapping[Capability, int]] = field(default_factory=dict)
    """Units needed by capability, per priority (run card). Missing priority → one primary unit."""
    major_plan: str | None = None
    """Code of the checklist plan used if this incident is escalated to a major incident."""

    def name(self, lang: str = "en") -> str:
        return self.names.get(lang) or self.names.get("en") or self.code

    def plan_for(self, priority: int) -> dict[Capability, int]:
        plan = self.response_plan.get(priority)
        if plan:
            return dict(plan)
        return {self.capability: 1}


@dataclass(frozen=True, slots=True)
class IncidentTypeCatalogue:
    types: Mapping[str, IncidentType]
    targets: Mapping[int, StageTargets]
    major_plans: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, code: str, field: str = "type") -> IncidentType:
        t = self.types.get(code)
        if t is None:
            raise DomainError(f"unknown incident type {code!r}", field=field)
        return t

    def known_type(self, code: str | None, field: str = "type") -> str | None:
        """A filter's type code if the catalogue has it (``None`` for no filter); else refused,
        naming the field: a typo must not read as "no incidents of this type"."""
        return self.get(code, field).code if code else None

    def known_family(self, family: str | None, field: str = "family") -> str | None:
        if not family:
            return None
        if family not in self.families():
            raise DomainError(f"unknown incident family {family!r}; one of {', '.join(sorted(self.families()))}",
                              field=field)
        return family

    def targets_for(self, priority: int) -> StageTargets:
        return self.targets[priority]

    def families(self) -> set[str]:
        return {t.family for t in self.types.values()}


def check_priority(value: int, field_name: str = "priority") -> int:
    if value not in PRIORITIES:
        raise DomainError(f"{field_name} must be 1 (highest) to 4, got {value}", field=field_name)
    return value


def parse_catalogue(data: Mapping[str, Any]) -> IncidentTypeCatalogue:
    """Build the catalogue from its JSON form, refusing anything inconsistent."""
    targets = {}
    for key, t in data["targets"].items():
        p = check_priority(int(key))
        targets[p] = StageTargets(
            answer_s=int(t["answer_s"]),
            dispatch_s=int(t["dispatch_s"]),
            travel_s=int(t["travel_s"]),
            response_s=int(t["response_s"]),
        )
    if set(targets) != set(PRIORITIES):
        raise ValueError("catalogue targets must cover priorities 1-4")
    major_plans = {code: tuple(items) for code, items in data.get("major_plans", {}).items()}
    types: dict[str, IncidentType] = {}
    for raw in data["types"]:
        code = raw["code"]
        if code in types:
            raise ValueError(f"duplicate incident type {code!r}")
        names = dict(raw["names"])
        missing = [lang for lang in LANGUAGES if lang not in names]
        if missing:
            raise ValueError(f"incident type {code!r} lacks names in {missing}")
        plan = {
            check_priority(int(p)): {Capability(c): int(n) for c, n in caps.items()}
            for p, caps in raw.get("response_plan", {}).items()
        }
        major = raw.get("major_plan")
        if major is not None and major not in major_plans:
            raise ValueError(f"incident type {code!r} names unknown major plan {major!r}")
        types[code] = IncidentType(
            code=code,
            family=raw["family"],
            default_priority=check_priority(int(raw["default_priority"])),
            capability=Capability(raw["capability"]),
            names=names,
            response_plan=plan,
            major_plan=major,
        )
    return IncidentTypeCatalogue(types=types, targets=targets, major_plans=major_plans)
