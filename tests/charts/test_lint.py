"""helm lint --strict and the Kubernetes API schemas accept the chart for every values set."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.charts.helm import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    VALUE_SET_IDS,
    VALUE_SETS,
    helm,
    render,
)

# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the kubectl shipped
# beside helm by scripts/tools.sh.
KUBERNETES_VERSIONS = ("1.25.0", "1.33.0")
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding"}
# Custom resources, which the Kubernetes API schemas do not hold (test_metrics_token checks the
# ServiceMonitor's shape).
CUSTOM_RESOURCES = {"ServiceMonitor"}


def values_args(values: tuple[str, ...]) -> list[str]:
    """--values arguments for chart-relative values files."""
    return [arg for name in values for arg in ("--values", str(CHART / name))]


def test_there_are_several_ci_values_files() -> None:
    assert len(CI_VALUES) >= 5


@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_SET_IDS)
def test_lint_strict_passes(values: tuple[str, ...]) -> None:
    result = helm("lint", "--strict", str(CHART), *values_args(values))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_lint_strict_rejects_an_unknown_key(tmp_path: Path) -> None:
    values = tmp_path / "typo-values.yaml"
    values.write_text("tap:\n  enabledDisectors: [tcp]\n")
    result = helm("lint", "--strict", str(CHART), "--values", str(values))
    assert result.returncode != 0
    assert "enabledDisectors" in result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_SET_IDS)
def test_every_object_is_valid_for_the_kubernetes_api(
    values: tuple[str, ...], version: str
) -> None:
    for obj in render(*values).objects:
        if obj["kind"] in CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {exc.message}")


@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_SET_IDS)
def test_namespaced_objects_are_in_the_release_namespace(values: tuple[str, ...]) -> None:
    for obj in render(*values).objects:
        namespace = obj["metadata"].get("namespace")
        assert namespace == (None if obj["kind"] in CLUSTER_SCOPED else NAMESPACE), obj["kind"]
