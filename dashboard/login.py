"""The login page, throttled: failed logins per client address and per user name are bounded.

After ``MAX_FAILURES`` failed attempts within ``WINDOW_SECONDS`` from one address, or for one
user name, further attempts are answered 429 (with ``Retry-After``) without checking the
password, until the oldest failure leaves the window. A successful login clears its address's
count. Counts are per process and bounded in number (:data:`MAX_TRACKED`).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

MAX_FAILURES = 5
WINDOW_SECONDS = 300.0
MAX_TRACKED = 10_000


class FailureLog:
    """Recent failure times per key (an address or a user name), at most ``MAX_TRACKED`` keys."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""
        failures = self._recent(key)
        if len(failures) < MAX_FAILURES:
            return 0.0
        return failures[0] + WINDOW_SECONDS - self._clock()

    def fail(self, key: str) -> None:
        """Count a failed attempt of ``key``."""
        self._recent(key).append(self._clock())
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (it logged in)."""
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        cutoff = self._clock() - WINDOW_SECONDS
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures


FAILURES = FailureLog()


class ThrottledLoginView(auth_views.LoginView):
    """Django's login view behind :data:`FAILURES` (see the module docstring)."""

    template_name = "dashboard/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Check the password unless this address or user name is throttled."""
        address = "address:" + str(request.META.get("REMOTE_ADDR", ""))
        user = "user:" + str(request.POST.get("username", ""))[:150]
        wait = max(FAILURES.wait(address), FAILURES.wait(user))
        if wait > 0:
            response = HttpResponse(
                f"too many failed logins; try again in {wait:.0f} s\n",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(max(1, round(wait)))
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form again, with its error: a failure
            FAILURES.fail(address)
            FAILURES.fail(user)
        else:
            FAILURES.clear(address)
        return response
