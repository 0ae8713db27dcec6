"""Shared pytest configuration: a Hypothesis profile that tolerates a loaded 2-core CI machine."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "podscope",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    max_examples=200,
)
settings.load_profile("podscope")
