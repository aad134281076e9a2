"""The errors of the agency registry: each carries an HTTP status, an OAuth-style
``error`` code and a sentence that says what was wrong and what to do."""

from __future__ import annotations


class AdminError(Exception):
    """A request the registry cannot carry out; ``description`` explains why."""

    status = 400
    code = "invalid_request"

    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


class InvalidRequest(AdminError):
    """The values given cannot be accepted (validation explains itself)."""


class NotFound(AdminError):
    status = 404
    code = "not_found"


class Conflict(AdminError):
    """The target is not in a state where this can happen (e.g. approving a decided proposal)."""

    status = 409
    code = "conflict"


class Forbidden(AdminError):
    """The actor may not do this (e.g. approve their own proposal: the two-person rule)."""

    status = 403
    code = "forbidden"


__all__ = ["AdminError", "Conflict", "Forbidden", "InvalidRequest", "NotFound"]
