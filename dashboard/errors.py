"""The hub's errors, in one hierarchy; third-party errors are translated where called.

The kubernetes client's, redis-py's and KFL's errors are caught in the module that calls them
and raised again as one of these; the Django layer turns them into HTTP answers and websocket
messages::

    Exception
     └── DashboardError                    anything the hub reports on purpose
          ├── HubConfigError (ValueError)  a bad global filter or initial targeting
          ├── SessionError                 a viewer's request the registry refuses
          │    ├── SessionLimitError       too many sessions open
          │    ├── RateLimitError          too many filter changes in the last minute
          │    ├── QueryTooLongError       a query over the length limit
          │    └── ScanError               a store scan the hub refuses (an HTTP status too)
          │         ├── ScanBusyError      every scan slot and waiting place is taken (503)
          │         └── FilterCostError    a filter too costly per entry, or a scan too long
          ├── ResourceError (ValueError)   Kubernetes JSON naming cannot use
          ├── WatcherError                 the Kubernetes watch cannot start
          ├── SnapshotError (ValueError)   a cluster snapshot file that cannot be read
          ├── TargetingError (ValueError)  a targeting spec that cannot be used
          ├── BadRequestError (ValueError) an API request answered 400 (or its status)
          ├── EmbeddedCaptureError         the embedded worker cannot capture or read its file
          └── NotAFlowError (ValueError)   internal: an entry that is no flow, with the reason
                                           (defined beside its reasons, dashboard.core.store.flows)
"""

from __future__ import annotations

from typing import Any

# The ``code`` of the API's error for a write without its credential (``PUT /api/targeting``
# with no write token, login or CSRF token): the CLI tells the token's refusal by it.
WRITE_TOKEN_CODE = "writeToken"  # noqa: S105 - an error code, no secret


class DashboardError(Exception):
    """Every error podscope's dashboard package raises on purpose derives from this."""


class HubConfigError(DashboardError, ValueError):
    """A hub setting that cannot be used (a bad global filter or initial targeting)."""


class SessionError(DashboardError):
    """A request the registry refuses; the message is meant for the viewer."""

    def to_dict(self) -> dict[str, Any]:
        """The same JSON shape as a KFL error (line and column 1, no caret context)."""
        return {
            "message": str(self),
            "line": 1,
            "column": 1,
            "endLine": 1,
            "endColumn": 1,
            "context": "",
        }


class SessionLimitError(SessionError):
    """Too many sessions are open."""


class RateLimitError(SessionError):
    """Too many filter changes in the last minute."""


class QueryTooLongError(SessionError):
    """A query over the length limit."""


class ScanError(SessionError):
    """A scan of the store the hub refuses; ``status`` is the HTTP status it answers."""

    status = 400


class ScanBusyError(ScanError):
    """Every scan slot and waiting place is taken."""

    status = 503


class FilterCostError(ScanError):
    """A filter too costly per entry, or a scan that worked past its time limit."""


class ResourceError(DashboardError, ValueError):
    """A Kubernetes object that lacks a field its kind must have, or carries a malformed one."""


class WatcherError(DashboardError):
    """The watcher cannot start: no in-cluster config, no kubeconfig, or an unknown kind."""


class SnapshotError(DashboardError, ValueError):
    """A snapshot file that cannot be read or holds no Kubernetes objects."""


class TargetingError(DashboardError, ValueError):
    """A targeting spec that cannot be used: what is wrong, in words for the user."""


class BadRequestError(DashboardError, ValueError):
    """A request the API refuses with a 400 and this message (or error dict)."""

    def __init__(self, message: str, error: dict[str, Any] | None = None, status: int = 400):
        super().__init__(message)
        self.error = error or {"message": message}
        self.status = status


class EmbeddedCaptureError(DashboardError):
    """The embedded worker cannot start: the capture package's error, in one line."""
