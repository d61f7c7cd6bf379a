"""Identifiers people can read over the radio: a prefix, the date and a random tail."""

from __future__ import annotations

import secrets
from datetime import datetime


def new_id(prefix: str, at: datetime) -> str:
    return f"{prefix}-{at:%Y%m%d}-{secrets.token_hex(4).upper()}"
