"""Property tests: grammar-built queries compile or raise KflError; ``!(q)`` negates ``q``."""

from __future__ import annotations

import copy
import json
from collections.abc import Hashable
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from bench.entrygen import generate
from contract.schema import field_paths
from kfl import Filter, KflError, compile_filter
from kfl.fields import aliases
from kfl.variables import VARIABLES
from tests.kfl.wire import dns_wire, tcp_wire

SCHEMA = field_paths()
LEAF_PATHS = sorted(path for path, kind in SCHEMA.items() if kind != "object")
STRING_PATHS = sorted(path for path, kind in SCHEMA.items() if kind in {"str", "list[str]"})
ALIASES = [alias.name for alias in aliases()]
KFL2_NAMES = sorted(VARIABLES)
BASE_ENTRIES = [tcp_wire(), dns_wire(), *generate(40, seed=3)]

# --- queries built from the grammar ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
strings = st.one_of(
    st.text(max_size=8).map(lambda text: json.dumps(text, ensure_ascii=False)),
    st.text(max_size=6).map(lambda text: "'" + text.replace("\\", "").replace("'", "") + "'"),
)
regex_patterns = st.sampled_from(
    ["a", "^api", "\\.com$", "[0-9]+", "(a+)+$", "RST|FIN", "(", "a**", "(?<=x)", "\\", "é+"]
)
regexes = regex_patterns.map(lambda pattern: f'r"{pattern}"')
numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "443", "8080", "1678675066172", "1.5", "1e999", "-30"]),
)
keywords = st.sampled_from(["true", "false", "null", "nil"])
helper_calls = st.one_of(
    st.sampled_from(["now()", "seconds(-30)", "minutes(1.5)", "hours(2)", "days(1)"]),
    st.sampled_from(['datetime("3/13/2023, 2:37:46.172 AM")', 'datetime("nope")']),
    st.sampled_from(['cidr("10.0.0.0/8")', 'cidr("2001:db8::/32")', 'cidr("bad")']),
    st.sampled_from(["seconds()", 'seconds("x")', "json()", "limit(3)", "now() - seconds(30)"]),
    st.sampled_from(["weeks(1)", "months(-2)", "years(0.5)", 'duration("1h30m")', 'duration("x")']),
    st.sampled_from(['timestamp("2026-03-14T22:00:00Z")', 'timestamp("2026-03-14")', "[]"]),
)
field_names = st.one_of(
    st.sampled_from(LEAF_PATHS + ALIASES + ["src", "tcp.flags[0]", 'src["namespace"]']),
    st.sampled_from([*KFL2_NAMES, 'local_labels["app"]', "src.labels.app", "src.pod.name.x"]),
    st.sampled_from(["nope", "dst.namspace", "tcp.event.x", "dns.answers[x]", "tcp.flags[-1]"]),
)
values = st.one_of(strings, regexes, numbers, keywords, helper_calls)
operands = st.one_of(field_names, values)
comparators = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
methods = st.sampled_from(["startsWith", "endsWith", "contains", "matches", "startWith"])
spaces = st.sampled_from([" ", "", "  ", "\n", "\t"])


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    left, right = draw(operands), draw(operands)
    if draw(st.booleans()):
        right = f"{right} {draw(st.sampled_from(['+', '-']))} {draw(numbers)}"
    return f"{left}{draw(spaces)}{draw(comparators)}{draw(spaces)}{right}"


@st.composite
def method_calls(draw: st.DrawFn) -> str:
    return f"{draw(field_names)}.{draw(methods)}({draw(st.one_of(strings, regexes, numbers))})"


def combined(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pairs = st.tuples(inner, st.sampled_from(["and", "or", "&&", "||"]), inner)
    return st.one_of(
        pairs.map(" ".join),
        st.tuples(st.sampled_from(["!", "not ", "! "]), inner).map("".join),
        inner.map(lambda query: f"({query})"),
    )


@st.composite
def cel_expressions(draw: st.DrawFn) -> str:
    """KFL2's (CEL's) operators over any operands, valid or not."""
    a, b, c = draw(operands), draw(operands), draw(operands)
    name = draw(st.sampled_from(["x", "a", "tcp", "dst"]))
    return draw(
        st.sampled_from(
            [
                f"{a} in [{b}, {c}]",
                f"{a} in {b}",
                f"{a} in []",
                f"size({a}) > {b}",
                f"{a}.size() == {b}",
                f"map_get({a}, {b}, {c}) == {b}",
                f"({a} ? {b} : {c})",
                f"({a} ? {b} : {c}) == {a}",
                f"-{a} < {b}",
                f"{a} * {b} > {c}",
                f"{a} / {b} == {c}",
                f"{a} % {b} != {c}",
                f"{a}.exists({name}, {name} == {b})",
                f"{a}.all({name}, {name}.startsWith({b}))",
                f"{a}.exists_one({name}, {name} > {b})",
                f"{a}.filter({name}, {name} != {b}).size() >= {c}",
                f"{a}.exists({name}, {b}.exists(y, y == {name}))",
            ]
        )
    )


grammar_queries = st.recursive(
    st.one_of(field_names, comparisons(), method_calls(), keywords, values, cel_expressions()),
    combined,
    max_leaves=12,
)
limited_queries = st.tuples(grammar_queries, st.integers(-2, 20)).map(
    lambda parts: f"{parts[0]} and limit({parts[1]})"
)
token_soup = st.lists(
    st.sampled_from(
        [
            "(",
            ")",
            "[",
            "]",
            "!",
            "not",
            "and",
            "or",
            "&&",
            "||",
            "==",
            "!=",
            "<",
            ">=",
            "+",
            "-",
            ".",
            ",",
            '"x"',
            'r"a+"',
            '"',
            "'",
            "=",
            "1",
            "-2.5",
            "1e5",
            "tcp",
            "dst",
            "name",
            "port",
            "startsWith",
            "seconds",
            "limit",
            "now",
            "\x00",
            "é",
            "\\",
            "r",
            "0",
            "true",
            "nil",
            "?",
            ":",
            "*",
            "/",
            "%",
            "in",
            "'x'",
            "r'a'",
            "size",
            "exists",
            "x",
            "namespaces",
        ]
    ),
    max_size=12,
).flatmap(lambda tokens: spaces.map(lambda space: space.join(tokens)))


def compile_outcome(query: str) -> Filter | KflError:
    try:
        return compile_filter(query)
    except KflError as error:
        return error


def compiles_or_raises_kfl_error(query: str) -> None:
    outcome = compile_outcome(query)
    if isinstance(outcome, KflError):
        assert outcome.line >= 1
        assert outcome.column >= 1
        assert outcome.context
        return
    for wire in BASE_ENTRIES[:5]:
        assert outcome(wire) in {True, False}


@given(st.one_of(grammar_queries, limited_queries))
def test_grammar_queries_compile_or_raise_kfl_error(query: str) -> None:
    compiles_or_raises_kfl_error(query)


@given(token_soup)
def test_token_soup_compiles_or_raises_kfl_error(query: str) -> None:
    compiles_or_raises_kfl_error(query)


@given(st.text(max_size=40))
def test_any_text_compiles_or_raises_kfl_error(query: str) -> None:
    compiles_or_raises_kfl_error(query)


# --- negation on random entries -----------------------------------------------------------------

string_values = st.one_of(
    st.text(max_size=6).map(json.dumps),
    st.sampled_from(['"tcp"', '"shop"', '"ns1"', '""', '"8080"', '"RST"', '"api.stripe.com"']),
)
valid_values = st.one_of(
    string_values,
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.sampled_from(["0", "443", "1.5", "-30", "true", "false", "null"]),
    st.sampled_from(['datetime("1/1/2026, 12:00:00.000 AM")', "seconds(5)", "2 + 3"]),
)


@st.composite
def valid_conditions(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return draw(st.sampled_from(LEAF_PATHS + ALIASES))
    if kind == 1:
        path, op = draw(st.sampled_from(LEAF_PATHS)), draw(comparators)
        return f"{path} {op} {draw(valid_values)}"
    if kind == 2:
        path, op = draw(st.sampled_from(LEAF_PATHS)), draw(st.sampled_from(["==", "!="]))
        pattern = draw(st.sampled_from(['r"^a"', 'r"\\.com$"', 'r"[0-9]"', 'cidr("10.0.0.0/8")']))
        return f"{path} {op} {pattern}"
    if kind == 3:
        method = draw(st.sampled_from(["startsWith", "endsWith", "contains", "matches"]))
        return f"{draw(st.sampled_from(STRING_PATHS))}.{method}({draw(string_values)})"
    if kind == 4:
        left, right = draw(st.sampled_from(LEAF_PATHS)), draw(st.sampled_from(LEAF_PATHS))
        return f"{left} {draw(comparators)} {right}"
    if kind == 5:
        return draw(kfl2_conditions())
    return draw(st.sampled_from(["true", "false", "tcp.flags[1]", 'src["namespace"]']))


NUMBER_PATHS = sorted(path for path, kind in SCHEMA.items() if kind in {"int", "float"})
LIST_NAMES = sorted(
    [path for path, kind in SCHEMA.items() if kind.startswith(("list[", "map["))]
    + [name for name, variable in VARIABLES.items() if variable.kind.startswith(("list", "map"))]
)
VALUE_NAMES = LEAF_PATHS + KFL2_NAMES


@st.composite
def kfl2_conditions(draw: st.DrawFn) -> str:
    """Valid conditions with KFL2's operators, over entry fields and KFL2 variables."""
    name, other = draw(st.sampled_from(VALUE_NAMES)), draw(st.sampled_from(VALUE_NAMES))
    number, items = draw(st.sampled_from(NUMBER_PATHS)), draw(st.sampled_from(LIST_NAMES))
    value, op = draw(valid_values), draw(comparators)
    return draw(
        st.sampled_from(
            [
                f"{name} in [{value}, {draw(valid_values)}]",
                f"{value} in {items}",
                f"{name} in {items}",
                f"size({items}) {op} {draw(st.integers(-1, 3))}",
                f"({name} {op} {value} ? {other} : {value}) == {value}",
                f"-{number} {op} {value}",
                f"{number} * {draw(numbers)} {op} {other}",
                f"{number} / {draw(st.integers(-3, 3))} {op} {value}",
                f"{number} % {draw(st.integers(-3, 3))} {op} {value}",
                f"map_get({items}, {value}, {value}) {op} {other}",
                f"map_get({items}, [{name}, {items}], {value}) {op} {other}",
                f"[{name}, {items}].exists(x, x in {items})",
                f"{items}.exists(x, x {op} {value})",
                f"{items}.all(x, x == {value} || {name} {op} x)",
                f"{items}.exists_one(x, x.startsWith({draw(string_values)}))",
                f"{items}.filter(x, x != {value}).size() {op} 0",
                f"{items}.exists(x, {items}.exists(y, x == y))",
                f'timestamp {op} timestamp("2026-03-14T22:00:00Z") - duration("5m")',
                f'elapsed_time {op} duration("250ms") * 2',
            ]
        )
    )


valid_queries = st.recursive(valid_conditions(), combined, max_leaves=8)


@st.composite
def wire_entries(draw: st.DrawFn) -> dict[str, Any]:
    wire: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASE_ENTRIES)))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(LEAF_PATHS)).split(".")
        target: Any = wire
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(target, dict) else {}
        if isinstance(target, dict):
            if draw(st.booleans()):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = draw(json_values)
    return wire


def compiled_or_none(query: str) -> Filter | None:
    outcome = compile_outcome(query)
    return None if isinstance(outcome, KflError) else outcome


@given(valid_queries, st.lists(wire_entries(), min_size=1, max_size=4))
def test_negation_is_the_complement_on_every_entry(query: str, wires: list[dict[str, Any]]) -> None:
    matcher = compiled_or_none(query)
    assume(matcher is not None)
    assert matcher is not None
    negated = compile_filter(f"!({query})")
    for wire in wires:
        assert negated(wire) is (not matcher(wire))


@given(valid_queries, json_values)
def test_filters_never_raise_on_arbitrary_json(query: str, value: object) -> None:
    matcher = compiled_or_none(query)
    assume(matcher is not None)
    assert matcher is not None
    assert matcher({"src": value, "dst": value, "tcp": value, "timestamp": value}) in {True, False}
    assert matcher(value) in {True, False}


# --- required field values (Filter.required) are implied by a match -----------------------------

equality_conditions = st.one_of(
    st.sampled_from(["tcp", "udp", "dns", "icmp", "!tcp"]),
    st.builds(
        "{} == {}".format,
        st.sampled_from(["src.namespace", "dst.namespace", "protocol.name", "tcp.event"]),
        st.sampled_from(['"shop"', '"payments"', '""', '"tcp"', '"connect"', '"ns1"']),
    ),
    st.builds(
        "{} == {}".format,
        st.sampled_from(["dst.port", "src.port"]),
        st.sampled_from(["443", '"53"']),
    ),
)
indexable_queries = st.recursive(
    st.one_of(equality_conditions, valid_conditions()), combined, max_leaves=6
)


def field_value(wire: object, keys: tuple[str, ...]) -> object:
    for key in keys:
        if not isinstance(wire, dict) or key not in wire:
            return None
        wire = wire[key]
    return wire


SCHEMA_CLASSES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}


def schema_typed(wire: object, keys: tuple[str, ...]) -> bool:
    """Whether the field at ``keys`` is missing or has its schema type, as in every entry the
    hub holds (it validates them): Filter.required and Filter.exact are about such entries; a
    list in a name field, or a string in a port, may match by KFL's value rules without
    being one of the required values."""
    value = field_value(wire, keys)
    classes = SCHEMA_CLASSES.get(SCHEMA[".".join(keys)], ())
    return value is None or type(value) in classes


@given(indexable_queries, st.lists(wire_entries(), min_size=1, max_size=6))
def test_a_match_has_every_required_field_value(query: str, wires: list[dict[str, Any]]) -> None:
    matcher = compiled_or_none(query)
    assume(matcher is not None and matcher.required)
    assert matcher is not None
    for wire in wires:
        if not all(schema_typed(wire, keys) for keys in matcher.required):
            continue
        if matcher(wire):
            for keys, allowed in matcher.required.items():
                assert field_value(wire, keys) in allowed, (keys, allowed)


@given(indexable_queries, st.lists(wire_entries(), min_size=1, max_size=6))
def test_an_exact_filter_matches_exactly_its_required_values(
    query: str, wires: list[dict[str, Any]]
) -> None:
    matcher = compiled_or_none(query)
    assume(matcher is not None and matcher.exact)
    assert matcher is not None
    ((keys, allowed),) = matcher.required.items()
    for wire in wires:
        if not schema_typed(wire, keys):
            continue
        value = field_value(wire, keys)
        assert matcher(wire) == (isinstance(value, Hashable) and value in allowed), (keys, value)


# --- one rule: the fast paths agree with the general value rules on any value -------------------

TYPED_PATHS = sorted(path for path, kind in SCHEMA.items() if kind in SCHEMA_CLASSES)
TWO_KEY_PATHS = [path for path in TYPED_PATHS if path.count(".") == 1]
constants = st.one_of(
    string_values,
    st.sampled_from(["0", "1", "443", "-1", "1.5", "true", "false", "null", "8080"]),
)


def with_value(path: str, value: object) -> dict[str, Any]:
    wire = tcp_wire()
    *parents, last = path.split(".")
    target = wire
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    return wire


@st.composite
def fast_and_general(draw: st.DrawFn) -> tuple[str, str, str]:
    """A query the compiler gives a fast path (a fused test, a set lookup, a fused ``and``),
    the same query written so that every comparison goes through the general rules (against
    a macro variable), and the field the test sets to any value."""
    first, second = draw(constants), draw(constants)
    shape = draw(st.integers(0, 3))
    if shape == 0:
        path, op = draw(st.sampled_from(TYPED_PATHS)), draw(comparators)
        return f"{path} {op} {first}", f"[{first}].exists(c, {path} {op} c)", path
    if shape == 1:
        path = draw(st.sampled_from(TYPED_PATHS))
        fast = f"{path} == {first} or {path} == {second}"
        return fast, f"[{first}, {second}].exists(c, {path} == c)", path
    path, other = draw(st.sampled_from(TWO_KEY_PATHS)), draw(st.sampled_from(TWO_KEY_PATHS))
    op, other_op = draw(comparators), draw(comparators)
    joint = "and" if shape == 2 else "or"  # a fused conjunction, a fused disjunction
    fast = f"{path} {op} {first} {joint} {other} {other_op} {second}"
    general = (
        f"[{first}].exists(c, {path} {op} c) {joint} [{second}].exists(d, {other} {other_op} d)"
    )
    return fast, general, path


@given(fast_and_general(), json_values)
def test_fast_paths_follow_the_value_rules_on_any_value(
    queries: tuple[str, str, str], value: object
) -> None:
    fast_query, general_query, path = queries
    fast = compiled_or_none(fast_query)
    assume(fast is not None)
    assert fast is not None
    general = compile_filter(general_query)
    wire = with_value(path, value)
    assert fast(wire) == general(wire), (fast_query, value)
