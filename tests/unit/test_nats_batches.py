"""The NATS bus's wire format: a relay batch as few messages as the server's max_payload allows."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from jingwu.bus.nats import decode_batch, encode_batch

EVENTS = st.lists(st.fixed_dictionaries({
    "seq": st.integers(min_value=1, max_value=2**62),
    "kind": st.sampled_from(["IncidentReceived", "UnitMoved"]),
    "note": st.text(max_size=80),
}), max_size=30)


@given(EVENTS, st.integers(min_value=1, max_value=2_000))
def test_batches_carry_every_event_in_order_within_the_limit(events: list[dict], limit: int) -> None:
    sent = encode_batch(events, limit)
    assert [m for data in sent for m in decode_batch(data)] == events
    one_each = [len(json.dumps(e, ensure_ascii=False).encode()) for e in events]
    for data in sent:
        # over the limit only when a single event is larger than it (NATS then refuses it, as before)
        assert len(data) <= limit or len(decode_batch(data)) == 1
    if events and max(one_each) + 1 <= limit // 2:
        assert len(sent) < len(events) or len(events) == 1


def test_a_quiet_relay_sends_nothing_and_values_are_written_as_the_socket_writes_them() -> None:
    assert encode_batch([]) == []
    (data,) = encode_batch([{"text": "警\n", "n": 1.5}])
    assert data == '{"text": "警\\n", "n": 1.5}'.encode()
