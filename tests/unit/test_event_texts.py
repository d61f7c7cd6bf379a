"""Events are written as JSON once for all the consoles they go to."""

from __future__ import annotations

import json

from jingwu.api.routes.events import EventTexts


def test_a_relayed_event_is_written_once_and_anything_else_each_time() -> None:
    texts = EventTexts()
    event = {"seq": 7, "stream": "incident:INC-1", "kind": "IncidentReceived", "lat": 42.5}
    first = texts.text(event)
    assert json.loads(first) == event
    assert texts.text(dict(event)) is first  # a second console: the same text, not written again
    other = {"seq": 8, "stream": "incident:INC-1", "kind": "IncidentStatusChanged"}
    assert json.loads(texts.text(other)) == other
    no_seq = {"kind": "Note", "text": "雨"}
    assert texts.text(no_seq) == '{"kind": "Note", "text": "雨"}'
    assert texts.text(no_seq) is not texts.text(no_seq)


def test_only_the_newest_texts_are_kept() -> None:
    texts = EventTexts(kept=3)
    events = [{"seq": n, "stream": "unit:U-1", "kind": "UnitMoved"} for n in range(5)]
    written = [texts.text(e) for e in events]
    assert all(texts.text(e) is w for e, w in zip(events[2:], written[2:], strict=True))
    assert texts.text(events[0]) is not written[0]  # forgotten, written again (and equal)
    assert texts.text(events[0]) == written[0]
