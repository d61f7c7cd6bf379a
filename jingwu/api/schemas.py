"""Request and response bodies. Validation here names the field in every refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jingwu.domain.incident import IncidentStatus
from jingwu.domain.unit import UnitStatus


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocationIn(Strict):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class CallerIn(Strict):
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+()\- ]{3,40}$")


class IncidentIn(Strict):
    type: str = Field(min_length=1, max_length=40, description="incident type code, see /api/incident-types")
    priority: int | None = Field(default=None, ge=1, le=4, description="1 highest … 4; default from the type")
    location: LocationIn | None = None
    address: str | None = Field(default=None, min_length=1, max_length=300)
    caller: CallerIn | None = None
    description: str = Field(default="", max_length=4000)
    source: Literal["public_call", "online_report", "officer_initiated", "drill"] = "public_call"


class DuplicateOut(BaseModel):
    incident_id: str
    type_code: str
    status: str
    distance_m: float
    age_s: float


class IncidentOut(BaseModel):
    id: str
    type_code: str
    family: str
    priority: int
    status: str
    lat: float
    lon: float
    station_code: str | None
    address: str | None = None
    street: str | None = None
    description: str = ""
    source: str
    callers: int
    received_at: datetime
    received_by: str
    dispatched_at: datetime | None = None
    en_route_at: datetime | None = None
    arrived_at: datetime | None = None
    cleared_at: datetime | None = None
    closed_at: datetime | None = None
    merged_into: str | None = None
    major_id: str | None = None
    active_units: list[str] = []
    version: int = 0


class IncidentList(BaseModel):
    items: list[IncidentOut]
    total: int


class TimelineEntry(BaseModel):
    at: datetime
    actor: str
    kind: str
    data: dict[str, Any]


class AssignmentOut(BaseModel):
    unit_id: str
    call_sign: str
    assigned_at: datetime
    assigned_by: str
    recommended: bool
    override_reason: str | None
    eta_s: float | None
    ended_at: datetime | None
    end_reason: str | None


class CallerOut(BaseModel):
    id: int
    name: str | None
    phone: str | None
    masked: bool


class IncidentDetail(IncidentOut):
    timeline: list[TimelineEntry]
    assignments: list[AssignmentOut]
    caller_details: list[CallerOut]


class LinkIn(Strict):
    into: str = Field(min_length=1, max_length=40, description="the incident this call duplicates")


class TransitionIn(Strict):
    status: IncidentStatus
    reason: str = Field(default="", max_length=500)


class ReportIn(Strict):
    text: str = Field(min_length=1, max_length=2000)
    at: datetime | None = Field(default=None, description="when it was written (the phone may have been offline)")


class RevealIn(Strict):
    reason: str = Field(min_length=5, max_length=500)


class RecommendationOut(BaseModel):
    unit_id: str
    call_sign: str
    capability: str
    eta_s: float
    distance_m: float | None
    straight_distance_m: float
    method: str
    fills_plan: bool
    reason: str
    route: dict[str, Any] | None = None


class IncidentCreated(IncidentOut):
    possible_duplicates: list[DuplicateOut] = []
    replayed: bool = False
    geocoded_as: str | None = None
    recommendations: list[RecommendationOut] | None = None
    """The units to send, best first, when the request asked with ``?recommend=N``."""


class AssignmentIn(Strict):
    unit_id: str = Field(min_length=1, max_length=40)
    override_reason: str | None = Field(default=None, max_length=500)


class AssignmentCreated(BaseModel):
    incident_id: str
    unit_id: str
    call_sign: str
    recommended: bool
    override_reason: str | None
    eta_s: float | None


class UnitOut(BaseModel):
    id: str
    call_sign: str
    home_station: str
    capabilities: list[str]
    crew_size: int
    status: str
    lat: float | None
    lon: float | None
    position_at: datetime | None
    incident_id: str | None
    status_at: datetime | None
    checkin_at: datetime | None = None


class UnitDetail(UnitOut):
    timeline: list[TimelineEntry]


class UnitStatusIn(Strict):
    status: UnitStatus


class PositionIn(Strict):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    at: datetime | None = None
    speed_mps: float | None = Field(default=None, ge=0, le=120)
    heading: float | None = Field(default=None, ge=0, lt=360)


class IncidentTypeOut(BaseModel):
    code: str
    family: str
    default_priority: int
    capability: str
    names: dict[str, str]
    response_plan: dict[str, dict[str, int]]
    major_plan: str | None


class TargetsOut(BaseModel):
    answer_s: int
    dispatch_s: int
    travel_s: int
    response_s: int


class CatalogueOut(BaseModel):
    types: list[IncidentTypeOut]
    targets: dict[str, TargetsOut]


class MajorIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    link: list[str] = Field(default_factory=list, max_length=100)


class MajorUpdateIn(Strict):
    tick: int | None = Field(default=None, ge=0, le=100)
    link: str | None = Field(default=None, max_length=40)
    commander: str | None = Field(default=None, max_length=64)
    stand_down: bool = False


class ChecklistItemOut(BaseModel):
    text: str
    done_by: str | None
    done_at: datetime | None


class MajorOut(BaseModel):
    id: str
    title: str
    plan: str
    commander: str
    station_code: str | None
    declared_at: datetime
    incident_ids: list[str]
    checklist: list[ChecklistItemOut]
    stood_down_at: datetime | None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    username: str
    role: str
    org: str
    unit_id: str | None = None


class MeOut(BaseModel):
    username: str
    role: str
    org: str
    unit_id: str | None
    permissions: list[str]
    scope: list[str] | None


class OrgUnitOut(BaseModel):
    code: str
    name: str
    names: dict[str, str]
    level: str
    parent_code: str | None
    area: dict[str, Any] | None
    base: dict[str, float] | None


class ErrorItem(BaseModel):
    field: str | None
    message: str


class ErrorOut(BaseModel):
    detail: list[ErrorItem]
