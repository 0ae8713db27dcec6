"""Per-client request budgets: spending, waiting without spending, the 429 answer."""

from __future__ import annotations

from dashboard.core.sessions.ratelimit import ClientLimiter, refusal
from tests.dashboard.fakeclock import FakeClock


def test_a_client_spends_its_budget_then_waits_for_the_refill() -> None:
    clock = FakeClock()
    limiter = ClientLimiter(60, clock=clock)  # one a second
    assert all(limiter.take("a") == 0.0 for _ in range(60))
    assert limiter.take("a") == 1.0
    assert limiter.take("b") == 0.0  # another client has its own
    clock.now += 1.0
    assert limiter.take("a") == 0.0
    assert limiter.refused == 1


def test_wait_says_how_long_without_spending() -> None:
    clock = FakeClock()
    limiter = ClientLimiter(60, clock=clock)
    assert limiter.wait("new") == 0.0
    for _ in range(60):
        limiter.take("a")
    assert limiter.wait("a") == 1.0
    clock.now += 0.5
    assert limiter.wait("a") == 0.5
    assert limiter.wait("a") == 0.5  # nothing spent by asking
    clock.now += 0.5
    assert limiter.wait("a") == 0.0
    assert limiter.take("a") == 0.0
    assert limiter.refused == 0


def test_a_refusal_says_when_to_retry() -> None:
    assert refusal(0.2) == (
        {"error": {"message": "too many requests from this client; retry in 0 s"}},
        "1",
    )
    assert refusal(12.6)[1] == "13"
