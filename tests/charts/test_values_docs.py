"""values.yaml has a comment on every key, and the chart README's table lists exactly its keys."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.charts.helm import CHART

# Maps handed to Kubernetes as they are: documented as one key, their contents are examples.
PASS_THROUGH = {"resources", "podAnnotations", "nodeSelector", "affinity", "annotations"}
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][\w.-]*):")
TABLE_KEY = re.compile(r"^\| `(?P<key>[^`]+)` \|", re.MULTILINE)


def documented_keys(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the values a user sets: sections are walked, pass-through maps are not."""
    keys: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in PASS_THROUGH:
            keys += documented_keys(value, f"{path}.")
        else:
            keys.append(path)
    return keys


def test_every_key_has_a_comment_above_it() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    uncommented = []
    pass_through_indent: int | None = None
    for number, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        if pass_through_indent is not None and indent > pass_through_indent:
            continue
        pass_through_indent = indent if match["key"] in PASS_THROUGH else None
        if not lines[number - 1].lstrip().startswith("#"):
            uncommented.append(f"line {number + 1}: {line.strip()}")
    assert uncommented == []


def test_readme_table_lists_exactly_the_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    table = TABLE_KEY.findall((CHART / "README.md").read_text())
    assert table == documented_keys(values)
