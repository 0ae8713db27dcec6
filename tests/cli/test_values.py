"""The checks on tap's values: RE2 regex as the hub checks it, names, dissectors, --set syntax."""

from __future__ import annotations

import pytest

from cli.errors import EXIT_USAGE, UsageError
from cli.values import (
    TapValues,
    check_set,
    dns_label,
    image_values,
    parse_dissectors,
    split_names,
)


@pytest.mark.parametrize(
    ("regex", "reason"),
    [
        ("(unclosed", r"missing \)"),
        ("a**", "bad repetition operator"),
        ("(?<=lookbehind)x", "invalid perl operator"),  # RE2 has no lookaround
        ("x" * 1025, "at most 1024"),
    ],
)
def test_a_regex_the_hub_would_refuse_is_a_usage_error(regex: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason) as caught:
        TapValues(pod_regex=regex)
    assert caught.value.exit_code == EXIT_USAGE


def test_a_regex_with_helm_syntax_characters_is_accepted() -> None:
    values = TapValues(pod_regex=r"^(shop|pay),x{2}\d=[a-z]$")
    assert values.pod_regex == r"^(shop|pay),x{2}\d=[a-z]$"


@pytest.mark.parametrize(
    "namespace", ["", "Shop", "shop_1", "-shop", "shop-", "a" * 64, "shop,pay", "{x}"]
)
def test_namespaces_must_be_dns_labels(namespace: str) -> None:
    with pytest.raises(UsageError, match="bad namespace"):
        TapValues(namespaces=("ok", namespace))
    with pytest.raises(UsageError, match="bad namespace"):
        TapValues(excluded_namespaces=(namespace,))


def test_release_names_have_helms_limit() -> None:
    assert dns_label("a" * 53, "release name", 53) == "a" * 53
    with pytest.raises(UsageError, match="at most 53"):
        dns_label("a" * 54, "release name", 53)


def test_dissectors_are_parsed_and_checked() -> None:
    assert parse_dissectors("tcp,dns") == ("tcp", "dns")
    assert parse_dissectors(" udp , icmp ") == ("udp", "icmp")
    for bad in ("", "tcp,", "http", "tcp,tcp", "TCP"):
        with pytest.raises(UsageError, match="--dissectors"):
            parse_dissectors(bad)


def test_unknown_mode_and_dissector_are_refused() -> None:
    with pytest.raises(UsageError, match="--mode"):
        TapValues(mode="everything")
    with pytest.raises(UsageError, match="unknown dissector"):
        TapValues(dissectors=("tcp", "http"))


@pytest.mark.parametrize(
    "assignment",
    [
        "tap.mode=full",
        "hub.resources.limits.memory=2Gi",
        "a=",
        "worker.tolerations[0].operator=Exists",
        r"hub.podAnnotations.example\.com/team=net",
        "ingress.hosts={a.example,b.example}",
        "a=1,b=2",
    ],
)
def test_well_formed_sets_pass(assignment: str) -> None:
    assert check_set(assignment) == assignment
    assert TapValues(extra_sets=(assignment,)).extra_sets == (assignment,)


@pytest.mark.parametrize(
    "assignment", ["tap.mode", "=full", "tap..mode=full", ".mode=x", "tap.mode.=x", "a[x]=1"]
)
def test_malformed_sets_are_refused(assignment: str) -> None:
    with pytest.raises(UsageError, match="expected key=value"):
        check_set(assignment)
    with pytest.raises(UsageError, match="bad --set"):
        TapValues(extra_sets=("tap.mode=full", assignment))


@pytest.mark.parametrize(
    ("registry", "tag", "image", "expected"),
    [
        (None, None, None, ("", "")),
        ("registry.example:5000/team", "1.2", None, ("registry.example:5000/team/podscope", "1.2")),
        ("registry.example/team/", None, None, ("registry.example/team/podscope", "")),
        (None, "dev", None, ("", "dev")),
        (
            None,
            None,
            "registry.example:5000/podscope:dev",
            ("registry.example:5000/podscope", "dev"),
        ),
        (None, None, "localhost:5000/podscope", ("localhost:5000/podscope", "")),
        (None, None, "podscope", ("podscope", "")),
    ],
)
def test_image_options_give_the_charts_image_values(
    registry: str | None, tag: str | None, image: str | None, expected: tuple[str, str]
) -> None:
    assert image_values(registry, tag, image) == expected


@pytest.mark.parametrize(
    ("registry", "tag", "image", "reason"),
    [
        ("registry.example", None, "podscope:dev", "--image names the whole image"),
        (None, "v1", "podscope:dev", "--image names the whole image"),
        ("Registry.Example", None, None, "bad image repository"),
        (None, "v 1", None, "bad image tag"),
        (None, None, "podscope@sha256:abc", "bad image"),
    ],
)
def test_bad_image_options_are_usage_errors(
    registry: str | None, tag: str | None, image: str | None, reason: str
) -> None:
    with pytest.raises(UsageError, match=reason):
        image_values(registry, tag, image)


def test_namespaces_may_be_comma_separated_and_repeated() -> None:
    assert split_names(["shop,payments", "web", " ,api"]) == ("shop", "payments", "web", "api")
