"""What intake needs from a geocoder, independent of how it is built (``geo`` implements it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from jingwu.domain.geography import GeoPoint


@dataclass(frozen=True, slots=True)
class PlaceCandidate:
    label: str
    point: GeoPoint
    kind: str  # "street", "intersection", "place", "poi"
    score: float  # 0..1, higher is better


@dataclass(frozen=True, slots=True)
class ReversePlace:
    street: str | None
    distance_m: float | None


class AddressResolver(Protocol):
    def forward(self, text: str, limit: int = 5) -> list[PlaceCandidate]: ...

    def reverse(self, point: GeoPoint) -> ReversePlace: ...
