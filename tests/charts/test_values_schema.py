"""Values the chart refuses: the schema's type and key checks, and the chart's own checks."""

from __future__ import annotations

import pytest

from tests.charts.helm import failure

SCHEMA_ERROR = "values don't meet the specifications of the schema"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("tap.enabledDisectors={tcp}", "additional properties 'enabledDisectors' not allowed"),
        ("verbose=true", "additional properties 'verbose' not allowed"),
        ("hub.replicas=two", "at '/hub/replicas': got string, want integer"),
        ("demoMode=yes", "at '/demoMode': got string, want boolean"),
        ("tap.namespaces=shop", "at '/tap/namespaces': got string, want array"),
        ("tap.enabledDissectors={tcp,http}", "'/tap/enabledDissectors/1': value must be one of"),
        ("tap.mode=fast", "at '/tap/mode': value must be one of 'connections', 'full'"),
        ("tap.storageLimit=1.5Gi", "'1.5Gi' does not match pattern"),
        ("tap.namespaces={Shop}", "at '/tap/namespaces/0'"),
        ("metrics.workerPort=70000", "at '/metrics/workerPort'"),
        ("metrics.token.existingSecretKey=", "at '/metrics/token/existingSecretKey'"),
        ("metrics.token.secret=x", "additional properties 'secret' not allowed"),
        ("metrics.serviceMonitor.enabled=yes", "at '/metrics/serviceMonitor/enabled'"),
        ("metrics.serviceMonitor.interval=soon", "at '/metrics/serviceMonitor/interval'"),
        ("metrics.serviceMonitor.interval=30", "at '/metrics/serviceMonitor/interval'"),
        ("metrics.serviceMonitor.interval=30s1m", "at '/metrics/serviceMonitor/interval'"),
        ("metrics.serviceMonitor.interval=", "at '/metrics/serviceMonitor/interval'"),
        ("metrics.serviceMonitor.labels.release=1", "at '/metrics/serviceMonitor/labels/release'"),
        ("metrics.serviceMonitor.port=9000", "additional properties 'port' not allowed"),
        ("ingress.hosts={bad_host}", "at '/ingress/hosts/0'"),
        ("redis.external.url=http://redis:6379", "at '/redis/external/url'"),
        ("hub.resources.limits.memory=lots", "at '/hub/resources/limits/memory'"),
    ],
)
def test_schema_rejects(setting: str, message: str) -> None:
    error = failure(sets=(setting,))
    assert SCHEMA_ERROR in error
    assert message in error


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            ("tap.enabledDissectors={udp}",),
            "in connections mode udp alone captures nothing",
        ),
        (("redis.enabled=false",), "redis.enabled is false: set redis.external.url"),
        (
            ("redis.external.url=redis://r:6379",),
            "redis.external.url is set but redis.enabled is true",
        ),
        (
            ("redis.enabled=false", "redis.external.url=redis://user:secret@r:6379"),
            "redis.external.url must not carry a password",
        ),
        (("tap.storageLimit=512Ki",), 'tap.storageLimit "512Ki": at least 1Mi is needed'),
        (("ingress.enabled=true",), "ingress.enabled needs at least one host"),
    ],
)
def test_chart_refuses_settings_that_would_not_work(
    settings: tuple[str, ...], message: str
) -> None:
    assert message in failure(sets=settings)
