"""The chart values ``podscope tap`` sets from its options (and the targeting ``podscope target``
sends), checked before anything runs.

The pod regex and namespaces go through the hub's own
:class:`~dashboard.core.targeting.spec.TargetingSpec` (RE2, the hub's length limit), so a regex the
hub would refuse never reaches the cluster. Namespaces and release names must be DNS-1123 labels,
dissectors one of the chart's, and each ``--set`` a helm ``key=value`` with a well-formed key. Every
problem is a UsageError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cli.errors import UsageError
from contract.schema import PROTOCOLS
from contract.vocabulary import CAPTURE_MODES
from dashboard.core.targeting.spec import TargetingSpec
from dashboard.errors import TargetingError

DISSECTORS = tuple(PROTOCOLS)
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_LABEL_MAX = 63
RELEASE_NAME_MAX = 53  # helm's limit
# A helm --set key: dot-separated names (a backslash escapes a dot), each with optional [N].
# An image reference without a digest: [host[:port]/]path[:tag].
IMAGE_REPOSITORY = re.compile(r"[a-z0-9]+(?:[._:-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
IMAGE_NAME = "podscope"
SET_KEY = re.compile(
    r"(?:[^.=\[\],{}\\]|\\.)+(?:\[\d+\])*(?:\.(?:[^.=\[\],{}\\]|\\.)+(?:\[\d+\])*)*"
)


def dns_label(value: str, what: str, limit: int = DNS_LABEL_MAX) -> str:
    """``value`` if it is a DNS-1123 label (Kubernetes namespace or helm release name)."""
    if len(value) > limit or not DNS_LABEL.fullmatch(value):
        raise UsageError(
            f"bad {what} {value!r}: use at most {limit} lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def targeting_spec(
    pod_regex: str, namespaces: tuple[str, ...], excluded_namespaces: tuple[str, ...]
) -> TargetingSpec:
    """The hub's targeting spec for these options: names DNS-1123 labels, the regex RE2."""
    for namespace in (*namespaces, *excluded_namespaces):
        dns_label(namespace, "namespace")
    try:
        return TargetingSpec(pod_regex, namespaces, excluded_namespaces)
    except TargetingError as exc:
        raise UsageError(str(exc)) from None


def parse_dissectors(text: str) -> tuple[str, ...]:
    """``tcp,dns`` as a tuple, each name known and none repeated."""
    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in DISSECTORS]
    if unknown:
        raise UsageError(
            f"bad --dissectors {text!r}: a comma-separated list of {', '.join(DISSECTORS)}"
        )
    if len(set(names)) != len(names):
        raise UsageError(f"bad --dissectors {text!r}: a dissector is listed twice")
    return names


def image_values(registry: str | None, tag: str | None, image: str | None) -> tuple[str, str]:
    """The chart's ``image.repository`` and ``image.tag`` (empty: the chart's default) from
    Kubeshark's ``--docker-registry`` and ``--docker-tag``, or from a whole ``--image``."""
    if image is not None and (registry is not None or tag is not None):
        raise UsageError("--image names the whole image: leave out --docker-registry/--docker-tag")
    repository = ""
    if image is not None:
        last = image.rsplit("/", 1)[-1]
        repository, _, tag = image.rpartition(":") if ":" in last else (image, "", None)
    elif registry is not None:
        repository = f"{registry.rstrip('/')}/{IMAGE_NAME}"
    if repository and not IMAGE_REPOSITORY.fullmatch(repository):
        raise UsageError(f"bad image repository {repository!r}: e.g. registry.example:5000/team")
    if tag is not None and not IMAGE_TAG.fullmatch(tag):
        raise UsageError(f"bad image tag {tag!r}: letters, digits, '_', '.' and '-'")
    return repository, tag or ""


def split_names(values: list[str]) -> tuple[str, ...]:
    """Repeated and comma-separated names (``-n a,b -n c``) as one tuple, in order."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def check_set(assignment: str) -> str:
    """``assignment`` if it is a helm ``--set`` ``key=value`` (helm parses the rest)."""
    key, equals, _ = assignment.partition("=")
    if not equals or not SET_KEY.fullmatch(key):
        raise UsageError(
            f"bad --set {assignment!r}: expected key=value, e.g. tap.mode=full or "
            "hub.resources.limits.memory=2Gi"
        )
    return assignment


@dataclass(frozen=True, slots=True)
class TapValues:
    """What ``podscope tap`` asks of the chart; ``None`` and empty mean the chart's default."""

    pod_regex: str = ""
    namespaces: tuple[str, ...] = ()
    excluded_namespaces: tuple[str, ...] = ()
    mode: str | None = None
    dissectors: tuple[str, ...] = ()
    image_repository: str = ""
    image_tag: str = ""
    extra_sets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        targeting_spec(self.pod_regex, self.namespaces, self.excluded_namespaces)
        if self.mode is not None and self.mode not in CAPTURE_MODES:
            raise UsageError(f"bad --mode {self.mode!r}: one of {', '.join(CAPTURE_MODES)}")
        for name in self.dissectors:
            if name not in DISSECTORS:
                raise UsageError(f"unknown dissector {name!r}: one of {', '.join(DISSECTORS)}")
        for assignment in self.extra_sets:
            check_set(assignment)
