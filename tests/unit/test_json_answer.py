"""``fields_of`` cuts a row to a model's fields: a column the model does not name never leaves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from jingwu.api.json_answer import JSONAnswer, fields_of


class Answer(BaseModel):
    id: str
    at: datetime
    note: str | None = None
    tags: list[str] = []


def test_fields_of_keeps_the_models_fields_in_its_order_with_defaults() -> None:
    row = {"tags": ["a"], "caller_phone": "+376 600 000", "at": datetime(2026, 12, 7, 6, 0, tzinfo=UTC), "id": "X"}
    got = fields_of(row, Answer, note="seen")
    assert list(got) == ["id", "at", "note", "tags"] and "caller_phone" not in got
    assert got["note"] == "seen" and got["tags"] == ["a"]
    assert fields_of({"id": "Y", "at": row["at"]}, Answer)["tags"] == []
    with pytest.raises(KeyError, match=r"Answer\.at"):
        fields_of({"id": "Z"}, Answer)


def test_json_answer_writes_as_pydantic_does() -> None:
    at = datetime(2026, 12, 7, 6, 0, 1, 250, tzinfo=UTC)
    for moment in (at, at.replace(microsecond=0)):
        row = fields_of({"id": "X", "at": moment}, Answer)
        assert JSONAnswer(row).body == Answer(**row).model_dump_json().encode()
    assert JSONAnswer([1.5, None, float("nan")]).body == b"[1.5,null,null]"
