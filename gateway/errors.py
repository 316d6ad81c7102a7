"""The small exception tree of Doorstep; adapters translate vendor errors into these."""

from __future__ import annotations


class DoorstepError(Exception):
    """Base of every error Doorstep raises on purpose."""


class SendError(DoorstepError):
    """An outbound message could not be sent. `permanent` ones are not retried."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class NotConfigured(DoorstepError):
    """A feature needs settings that are missing (a vendor token, a model path)."""


class Unavailable(DoorstepError):
    """A dependency (the database) is away for now: the request can be tried again."""
