"""Who makes the request being served, for the patches that treat carveout's own sessions
apart from test setup.

moto's backends never learn the caller's principal. The middleware reads it from the
request's credentials (recorder.principal) and keeps it here for the duration of the
request: werkzeug serves each request on its own thread, and moto carries it out on that
thread, so a thread-local is the request's scope.
"""

from __future__ import annotations

import threading
from typing import Any

from .consistency import is_carveout

_LOCAL = threading.local()


def set_current(principal: dict[str, Any]) -> None:
    """Set by the middleware at the start of every request (`{}` when unknown)."""
    _LOCAL.principal = principal


def current() -> dict[str, Any]:
    return getattr(_LOCAL, "principal", None) or {}


def is_carveout_call() -> bool:
    """Whether the request being served comes from one of carveout's sessions (`carveout-…`)."""
    return is_carveout(current())
