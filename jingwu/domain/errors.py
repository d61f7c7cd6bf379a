"""Domain errors. The API maps them to 4xx answers that name the field and the reason."""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse. ``field`` names what was wrong, for the caller."""

    status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    """The request was valid but the world moved on (unit taken, incident closed)."""

    status = 409


class IllegalTransition(Conflict):
    pass


class Forbidden(DomainError):
    status = 403
