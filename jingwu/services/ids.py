"""Identifiers people can read over the radio: a prefix, the date and a random tail.

The tail is 12 hex digits (48 bits). It was 8 (32 bits), and ids of one day collide by the
birthday bound: a centre taking 50,000 calls a day would have had a second call's insert refused
(a duplicate incident id, answered 500) on about one day in four, and the intake benchmark, at
~6,000 incidents a run, met one (docs/benchmarks.md). With 48 bits that is about one day in
200,000 at that load.
"""

from __future__ import annotations

import secrets
from datetime import datetime

TAIL_BYTES = 6


def new_id(prefix: str, at: datetime) -> str:
    return f"{prefix}-{at:%Y%m%d}-{secrets.token_hex(TAIL_BYTES).upper()}"
