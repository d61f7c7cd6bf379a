"""Reference data: the incident type catalogue and the organisation tree with its jurisdictions."""

from __future__ import annotations

from fastapi import APIRouter

from jingwu.api.deps import ActorDep, DepsDep
from jingwu.api.schemas import CatalogueOut, IncidentTypeOut, OrgUnitOut, TargetsOut

router = APIRouter(prefix="/api", tags=["reference"])


@router.get("/incident-types", response_model=CatalogueOut)
def incident_types(_actor: ActorDep, deps: DepsDep) -> CatalogueOut:
    cat = deps.catalogue
    return CatalogueOut(
        types=[
            IncidentTypeOut(
                code=t.code, family=t.family, default_priority=t.default_priority, capability=t.capability.value,
                names=dict(t.names), major_plan=t.major_plan,
                response_plan={str(p): {c.value: n for c, n in plan.items()} for p, plan in t.response_plan.items()},
            )
            for t in cat.types.values()
        ],
        targets={
            str(p): TargetsOut(answer_s=tg.answer_s, dispatch_s=tg.dispatch_s, travel_s=tg.travel_s,
                               response_s=tg.response_s)
            for p, tg in cat.targets.items()
        },
    )


@router.get("/org", response_model=list[OrgUnitOut])
def org_units(actor: ActorDep, deps: DepsDep) -> list[OrgUnitOut]:
    """The org units this user may see, with their jurisdiction areas (GeoJSON)."""
    out = []
    above = set(deps.org.ancestors(actor.org_code))
    for u in deps.org.units.values():
        if actor.scope is not None and u.code not in actor.scope and u.code not in above:
            continue
        out.append(OrgUnitOut(
            code=u.code, name=u.name, names=u.names, level=u.level.value, parent_code=u.parent_code,
            area=u.area.to_geojson() if u.area and (actor.scope is None or u.code in actor.scope) else None,
            base={"lat": u.base.lat, "lon": u.base.lon} if u.base else None,
        ))
    return out
