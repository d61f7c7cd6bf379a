"""Major incidents (重大突發案事件): a commander takes charge, a checklist plan is attached, and linked
incidents roll up under it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from jingwu.domain import events as ev
from jingwu.domain.errors import DomainError, IllegalTransition


@dataclass
class ChecklistItem:
    text: str
    done_by: str | None = None
    done_at: datetime | None = None


@dataclass
class MajorIncident:
    id: str
    title: str
    plan: str
    commander: str
    station_code: str | None
    declared_at: datetime
    incident_ids: list[str]
    checklist: list[ChecklistItem]
    stood_down_at: datetime | None = None
    events: list[ev.Event] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def declare(
        cls, major_id: str, title: str, plan: str, items: tuple[str, ...], commander: str,
        incident_id: str, station_code: str | None, at: datetime,
    ) -> MajorIncident:
        if not items:
            raise DomainError(f"no checklist plan {plan!r}", field="plan")
        m = cls(major_id, title, plan, commander, station_code, at, [incident_id],
                [ChecklistItem(t) for t in items])
        m.events.append(
            ev.MajorIncidentDeclared(at=at, actor=commander, station_code=station_code, major_id=major_id,
                                     incident_id=incident_id, commander=commander, plan=plan, title=title)
        )
        return m

    def _changed(self, at: datetime, actor: str, change: str, **detail: object) -> None:
        self.events.append(
            ev.MajorIncidentUpdated(at=at, actor=actor, station_code=self.station_code, major_id=self.id,
                                    change=change, detail=dict(detail))
        )

    def _open(self) -> None:
        if self.stood_down_at is not None:
            raise IllegalTransition(f"major incident {self.id} has been stood down", field="major_id")

    def link(self, incident_id: str, at: datetime, actor: str) -> None:
        self._open()
        if incident_id not in self.incident_ids:
            self.incident_ids.append(incident_id)
            self._changed(at, actor, "linked", incident_id=incident_id)

    def tick(self, index: int, at: datetime, actor: str) -> None:
        self._open()
        if not 0 <= index < len(self.checklist):
            raise DomainError(f"checklist item {index} does not exist", field="item")
        item = self.checklist[index]
        if item.done_at is None:
            item.done_by, item.done_at = actor, at
            self._changed(at, actor, "checked", item=index, text=item.text)

    def hand_over(self, commander: str, at: datetime, actor: str) -> None:
        self._open()
        self.commander = commander
        self._changed(at, actor, "commander", commander=commander)

    def stand_down(self, at: datetime, actor: str) -> None:
        self._open()
        self.stood_down_at = at
        self._changed(at, actor, "stood_down")
