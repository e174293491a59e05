"""S4's refusals, each with the HTTP status ``POST /orders`` / ``POST /cancel`` answer with."""

from __future__ import annotations

from chimera.http import BadRequest, Conflict, HttpError, ServiceBusy, Unprocessable


class IntentInvalid(BadRequest):
    """The intent is malformed or impossible at the venue (400); nothing was written."""


class IntentUnsupported(Unprocessable):
    """The intent asks for an execution this router does not offer (422); nothing was written."""


class IntentUnprocessable(Unprocessable):
    """The intent is well-formed but its brackets cannot work as asked (422); nothing written."""


class IntentConflict(Conflict):
    """The intent id was used before for a different intent (409)."""


class IntentBusy(ServiceBusy):
    """Another process is routing this intent right now; send it again (503)."""


class IntentNotFound(HttpError):
    """No intent with this id was ever accepted (404)."""

    status_code = 404


__all__ = [
    "IntentBusy",
    "IntentConflict",
    "IntentInvalid",
    "IntentNotFound",
    "IntentUnprocessable",
    "IntentUnsupported",
]
