"""``podscope export`` against a real hub that read the recorded lab."""

from __future__ import annotations

import json

import pytest
import yaml

from cli.errors import UsageError
from cli.export import export_url
from tests.cli.conftest import Run
from tests.e2e.hubprocess import free_port


def test_text(podscope: Run, hub_url: str) -> None:
    done = podscope("export", "--url", hub_url)
    assert (done.returncode, done.stderr) == (0, "")
    assert "frontend in namespace shop calls:\n  - cart\n  - api.example.com\n" in done.stdout
    assert "prom in namespace monitoring calls:\n  - api in namespace payments\n" in done.stdout


def test_json_with_a_query(podscope: Run, hub_url: str) -> None:
    done = podscope("export", "--url", hub_url, "-q", 'dst.namespace == ""', "--format", "json")
    assert done.returncode == 0
    callers = {(c["namespace"], c["name"]): c["calls"] for c in json.loads(done.stdout)["callers"]}
    assert {"name": "api.example.com", "namespace": "", "kind": "external"} in callers[
        ("shop", "frontend")
    ]
    assert ("monitoring", "prom") not in callers  # prom only calls inside the cluster
    for calls in callers.values():
        assert all(call["kind"] == "external" for call in calls)


def test_yaml(podscope: Run, hub_url: str) -> None:
    done = podscope("export", "--url", f"{hub_url}/", "--format", "yaml")
    assert done.returncode == 0
    names = {(c["namespace"], c["name"]) for c in yaml.safe_load(done.stdout)["callers"]}
    assert {("shop", "frontend"), ("payments", "api"), ("monitoring", "prom")} <= names


def test_a_bad_query_shows_the_hubs_caret(podscope: Run, hub_url: str) -> None:
    done = podscope("export", "--url", hub_url, "-q", 'dst.namespace = "shop"')
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "podscope: invalid query: line 1, column 15: unexpected character '=': use '==' to "
        'compare\ndst.namespace = "shop"\n              ^\n'
    )


def test_an_unknown_field(podscope: Run, hub_url: str) -> None:
    done = podscope("export", "--url", hub_url, "-q", "src.podname == 1")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "podscope: invalid query: line 1, column 5: unknown field 'src.podname'; "
        "did you mean 'src.name'?",
        "src.podname == 1",
        "    ^^^^^^^",
    ]


def test_an_unreachable_hub(podscope: Run) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = podscope("export", "--url", url)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"podscope: cannot reach the hub at {url}: [Errno 111] Connection ref")
    assert "is 'podscope tap' or 'podscope serve' running?" in line


def test_not_a_hub_url(podscope: Run) -> None:
    done = podscope("export", "--url", "127.0.0.1:8899")
    assert done.returncode == 2
    assert done.stderr == (
        "podscope: bad --url '127.0.0.1:8899': expected http://HOST:PORT of a podscope hub\n"
    )


def test_export_url() -> None:
    assert export_url("http://h:1/", "", "text") == "http://h:1/api/export?format=text"
    assert export_url("https://h", 'a == "b c"', "yaml") == (
        "https://h/api/export?q=a+%3D%3D+%22b+c%22&format=yaml"
    )
    with pytest.raises(UsageError, match="--format"):
        export_url("http://h", "", "csv")
