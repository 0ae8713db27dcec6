"""Compile a KFL syntax tree into a predicate over wire entries: a tree of closures, never eval.

Every check happens here, once per query: fields against the schema, helpers and their
arguments, regexes, value types. Constant sub-expressions (``now() - seconds(30)``) are folded,
so a predicate only reads the entry and compares.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

from kfl import fields, helpers, nodes
from kfl.access import (
    Entry,
    FieldTest,
    Getter,
    Predicate,
    fused_conjunction,
    fused_test,
    getter,
)
from kfl.comparisons import (
    MIRRORED,
    Field,
    against_constant,
    between_fields,
    constant_result,
    equality,
    field_test,
)
from kfl.constants import Constant, Duration, Network, Regex, compile_regex
from kfl.errors import KflError, LocatedError
from kfl.logic import all_of, always, any_of, negation
from kfl.lookup import Equalities, FieldKeys, lookup, merged
from kfl.parser import parse
from kfl.values import MISSING, as_number, holds, truthy

Requirements = Mapping[FieldKeys, frozenset[Hashable]]


class Filter(functools.partial[bool]):
    """A compiled query: call it on a wire entry dict to get a bool.

    ``query`` is the source text and ``limit`` the n of ``limit(n)`` (None without one). It is
    a ``functools.partial`` of the compiled predicate so that calling it adds no Python frame.
    ``required`` maps plain fields to the values one of which an entry's field must equal for
    the query to match (``src.namespace == "a" and tcp`` requires ``src.namespace`` in
    ``{"a"}`` and ``protocol.name`` in ``{"tcp"}``), so that many filters can be indexed by
    those values and only the candidates evaluated. ``exact`` says the query is nothing but
    such a requirement on one field (``dst.namespace == ""``, ``tcp``, ``dst.port == 80 or
    dst.port == 443``): an entry whose field has a required value matches without running it.
    """

    __slots__ = ("exact", "limit", "query", "required")
    query: str
    limit: int | None
    required: Requirements
    exact: bool

    def __new__(
        cls,
        predicate: Predicate,
        query: str,
        limit: int | None,
        required: Requirements | None = None,
        *,
        exact: bool = False,
    ) -> Filter:
        """Wrap a compiled predicate with its query text, limit and required field values."""
        self = super().__new__(cls, predicate)
        self.query = query
        self.limit = limit
        self.required = required or {}
        self.exact = exact and len(self.required) == 1
        return self

    def __repr__(self) -> str:
        return f"Filter({self.query!r}, limit={self.limit})"


def compile_filter(query: str) -> Filter:
    """Compile a KFL query into a Filter; raise KflError if the query is invalid."""
    if not isinstance(query, str):
        raise TypeError(f"a KFL query is a str, not {type(query).__name__}")
    try:
        tree = parse(query)
        compiler = _Compiler(time.time_ns() // 1_000_000)
        predicate, limit = compiler.compile(tree)
    except LocatedError as problem:
        raise KflError.from_problem(query, problem) from None
    return Filter(predicate, query, limit, compiler.required, exact=compiler.exact)


class _Constant:
    """An operand known at compile time."""

    __slots__ = ("node", "value")

    def __init__(self, value: Constant, node: nodes.Node) -> None:
        self.value = value
        self.node = node


class _Dynamic:
    """An operand read from the entry; ``condition`` when it is itself a true/false test."""

    __slots__ = ("condition", "field", "node")

    def __init__(self, field: Field, node: nodes.Node, *, condition: bool = False) -> None:
        self.field = field
        self.node = node
        self.condition = condition


_Operand = _Constant | _Dynamic
RecordT = TypeVar("RecordT")


class _Compiler:
    """One compilation: the time ``now()`` stands for, and the tree walk."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.equalities: dict[int, Equalities] = {}  # id(node) -> its set-testable equalities
        self.field_tests: dict[int, FieldTest] = {}  # id(node) -> its fusable field test
        self.required: Requirements = {}  # what the whole query requires (Filter.required)
        self.exact = False  # the query is its requirement on one field (Filter.exact)

    def compile(self, tree: nodes.Node | None) -> tuple[Predicate, int | None]:
        """The predicate of a whole query and its limit."""
        if tree is None:
            return always(True), None
        body, limit = self._split_limit(tree)
        if body is None:
            return always(True), limit
        predicate = self.predicate(body)
        self.required = self._requirements(body)
        self.exact = self._is_one_field_equality(body)
        return predicate, limit

    def _is_one_field_equality(self, node: nodes.Node) -> bool:
        """True for an equality on a plain field, or an ``or`` of such on one field."""
        recorded = self.equalities.get(id(node))
        rows = [recorded] if recorded is not None else None
        if rows is None and isinstance(node, nodes.AnyOf):
            rows = _recorded(self.equalities, node.items)
        if not rows or any(len(row) != 1 for row in rows):
            return False
        return len({keys for row in rows for keys in row}) == 1

    def _requirements(self, node: nodes.Node) -> dict[FieldKeys, frozenset[Hashable]]:
        """Field values a compiled node cannot be true without (see Filter.required)."""
        equalities = self.equalities.get(id(node))
        if equalities is not None:
            return {keys: frozenset((value,)) for keys, value in equalities.items()}
        if isinstance(node, nodes.AllOf):  # every item's requirements hold at once
            required: dict[FieldKeys, frozenset[Hashable]] = {}
            for item in node.items:
                for keys, values in self._requirements(item).items():
                    required[keys] = required[keys] & values if keys in required else values
            return required
        if isinstance(node, nodes.AnyOf):  # a field every branch requires, any of its values
            branches = [self._requirements(item) for item in node.items]
            common = set(branches[0]).intersection(*branches[1:])
            return {keys: frozenset().union(*(b[keys] for b in branches)) for keys in common}
        return {}

    def _split_limit(self, tree: nodes.Node) -> tuple[nodes.Node | None, int | None]:
        items = tree.items if isinstance(tree, nodes.AllOf) else (tree,)
        limits = [item for item in items if isinstance(item, nodes.Call) and item.name == "limit"]
        if not limits:
            return tree, None
        if len(limits) > 1:
            raise LocatedError("limit(n) is given more than once", limits[1].start, limits[1].end)
        call = limits[0]
        count = helpers.limit_count(call, self._arguments(call.arguments))
        rest = tuple(item for item in items if item is not call)
        if not rest:
            return None, count
        if len(rest) == 1:
            return rest[0], count
        return nodes.AllOf(rest[0].start, rest[-1].end, tree.depth, rest), count

    # --- conditions ---------------------------------------------------------------------------

    def predicate(self, node: nodes.Node) -> Predicate:
        """The predicate of a node used as a condition."""
        if isinstance(node, nodes.AnyOf):
            predicates = [self.predicate(item) for item in node.items]
            rows = _recorded(self.equalities, node.items)
            return (lookup(rows) if rows else None) or any_of(predicates)
        if isinstance(node, nodes.AllOf):
            return self._conjunction(node)
        if isinstance(node, nodes.Not):
            return negation(self.predicate(node.operand))
        if isinstance(node, nodes.Compare):
            return self._compare(node)
        if isinstance(node, nodes.Method):
            return self._method(node)
        if isinstance(node, nodes.Path):
            return self._field_condition(node)
        operand = self._operand(node)
        if isinstance(operand, _Constant) and isinstance(operand.value, bool):
            return always(operand.value)
        raise LocatedError(_not_a_condition(node), node.start, node.end)

    def _conjunction(self, node: nodes.AllOf) -> Predicate:
        predicates = [self.predicate(item) for item in node.items]
        rows = _recorded(self.equalities, node.items)
        conjunction = merged(rows) if rows else None
        if conjunction is not None:
            self.equalities[id(node)] = conjunction
            merged_lookup = lookup([conjunction])
            if merged_lookup is not None:
                return merged_lookup
        tests = _recorded(self.field_tests, node.items)
        return (fused_conjunction(tests) if tests else None) or all_of(predicates)

    def _field_against_constant(
        self, node: nodes.Node, op: str, field: Field, value: Constant
    ) -> Predicate:
        """``field OP value``, remembering ``node``'s equality and field test for its parent."""
        found = equality(op, field, value)
        if found is not None:
            self.equalities[id(node)] = found
        test = field_test(op, field, value)
        if test is None:
            return against_constant(op, field, value)
        self.field_tests[id(node)] = test
        return fused_test(test)

    def _field_condition(self, path: nodes.Path) -> Predicate:
        alias = fields.alias(str(path.segments[0].key)) if len(path.segments) == 1 else None
        if alias is not None:
            keys = tuple(alias.path.split("."))
            field = Field(getter(keys), keys, fields.SCHEMA_TYPES[alias.path])
            return self._field_against_constant(path, "==", field, alias.value)
        get = self._field(path).field.get
        return lambda entry: truthy(get(entry))

    def _compare(self, node: nodes.Compare) -> Predicate:
        left, right, op = self._operand(node.left), self._operand(node.right), node.op
        if isinstance(right, _Constant):
            return self._with_constant(node, op, left, right)
        if isinstance(left, _Constant):
            return self._with_constant(node, MIRRORED[op], right, left)
        _check_comparable(left, right)
        _check_comparable(right, left)
        return between_fields(op, left.field.get, right.field.get)

    def _with_constant(
        self, node: nodes.Compare, op: str, left: _Operand, right: _Constant
    ) -> Predicate:
        """``left OP right`` for a constant ``right``."""
        value = self._resolve(right.value, left)
        _check_operator(op, value, node)
        if isinstance(left, _Constant):
            return always(self._constant_comparison(op, left, value, node))
        _check_comparable(left, right)
        return self._field_against_constant(node, op, left.field, value)

    def _constant_comparison(
        self, op: str, left: _Constant, right: Constant, node: nodes.Compare
    ) -> bool:
        value = self._resolve(left.value, None)
        if isinstance(value, Regex | Network):
            if isinstance(right, Regex | Network):
                raise LocatedError("cannot compare two regexes or networks", node.start, node.end)
            return constant_result(MIRRORED[op], right, value)
        return constant_result(op, value, right)

    def _method(self, node: nodes.Method) -> Predicate:
        target = self._field(node.target)
        _check_comparable(target, None)
        test = helpers.method_test(node, self._arguments(node.arguments))
        field = target.field
        if test.string_test is not None and field.kind == "str" and field.keys is not None:
            string_test = FieldTest(field.keys, test.string_test, test.argument)
            self.field_tests[id(node)] = string_test
            return fused_test(string_test)
        get, value_test = field.get, test.test
        return lambda entry: holds(value_test, get(entry))

    # --- values -------------------------------------------------------------------------------

    def _operand(self, node: nodes.Node) -> _Operand:
        if isinstance(node, nodes.Literal):
            return _Constant(node.value, node)
        if isinstance(node, nodes.RegexLiteral):
            return _Constant(compile_regex(node.pattern, node.start + 2, node.end - 1), node)
        if isinstance(node, nodes.Call):
            arguments = self._arguments(node.arguments)
            return _Constant(helpers.call_function(node, arguments, self.now_ms), node)
        if isinstance(node, nodes.Path):
            return self._path_operand(node)
        if isinstance(node, nodes.Arithmetic):
            return self._arithmetic(node)
        condition = self.predicate(node)
        return _Dynamic(Field(condition, None, "bool"), node, condition=True)

    def _path_operand(self, path: nodes.Path) -> _Dynamic:
        if len(path.segments) == 1 and fields.alias(str(path.segments[0].key)) is not None:
            return _Dynamic(Field(self._field_condition(path), None, "bool"), path, condition=True)
        return self._field(path)

    def _field(self, path: nodes.Path) -> _Dynamic:
        kind = fields.resolve(path)
        keys = tuple(segment.key for segment in path.segments)
        plain_keys = tuple(key for key in keys if isinstance(key, str))
        field_keys = plain_keys if len(plain_keys) == len(keys) else None
        return _Dynamic(Field(getter(keys), field_keys, kind), path)

    def _arithmetic(self, node: nodes.Arithmetic) -> _Operand:
        left, right = self._operand(node.left), self._operand(node.right)
        sign = 1 if node.op == "+" else -1
        for side in (left, right):
            if isinstance(side, _Constant) and not _is_number_like(side.value):
                raise LocatedError(
                    f"{node.op!r} needs numbers or durations", side.node.start, side.node.end
                )
        if isinstance(left, _Constant) and isinstance(right, _Constant):
            return _Constant(_fold(left.value, right.value, sign), node)
        left_get, right_get = self._number_getter(left), self._number_getter(right)

        def compute(entry: Entry) -> object:
            left_number, right_number = as_number(left_get(entry)), as_number(right_get(entry))
            if left_number is None or right_number is None:
                return MISSING
            return left_number + sign * right_number

        return _Dynamic(Field(compute, None, None), node)

    def _number_getter(self, operand: _Operand) -> Getter:
        if isinstance(operand, _Dynamic):
            return operand.field.get
        value = operand.value
        number = value.ms if isinstance(value, Duration) else value
        return lambda _entry: number

    def _arguments(self, arguments: Sequence[nodes.Node]) -> list[helpers.Argument]:
        result = []
        for argument in arguments:
            operand = self._operand(argument)
            if not isinstance(operand, _Constant):
                message = "helper arguments must be constants, not fields"
                raise LocatedError(message, argument.start, argument.end)
            result.append(helpers.Argument(operand.value, argument))
        return result

    def _resolve(self, value: Constant, other: _Operand | None) -> Constant:
        """A duration compared with a time field means now + offset; elsewhere, milliseconds."""
        if not isinstance(value, Duration):
            return value
        node = other.node if isinstance(other, _Dynamic) else None
        if isinstance(node, nodes.Path) and fields.is_time_field(node):
            return self.now_ms + value.ms
        return value.ms


def _recorded(table: dict[int, RecordT], items: Sequence[nodes.Node]) -> list[RecordT] | None:
    """What ``table`` recorded for each (already compiled) item; None if an item has nothing."""
    records = []
    for item in items:
        record = table.get(id(item))
        if record is None:
            return None
        records.append(record)
    return records


def _check_comparable(operand: _Dynamic, other: _Operand | None) -> None:
    """Reject comparisons that can never be meaningful: whole objects, conditions vs values."""
    node = operand.node
    if operand.field.kind == "object" and isinstance(node, nodes.Path):
        example = next(name for name in fields.SCHEMA_TYPES if name.startswith(f"{node.dotted}."))
        message = f"{node.dotted} is an object: compare one of its fields, such as {example}"
        raise LocatedError(message, node.start, node.end)
    if operand.condition and isinstance(other, _Constant) and type(other.value) is not bool:
        if isinstance(node, nodes.Not):
            message = "'!' applies only to what follows it: write !(a == b), or use '!='"
        else:
            message = "a condition can only be compared with true or false"
        raise LocatedError(message, node.start, node.end)


def _check_operator(op: str, value: Constant, node: nodes.Compare) -> None:
    if isinstance(value, Regex | Network) and op not in {"==", "!="}:
        what = "a regex" if isinstance(value, Regex) else "cidr()"
        raise LocatedError(
            f"{what} can only be compared with '==' or '!='", node.op_start, node.op_start + len(op)
        )


def _not_a_condition(node: nodes.Node) -> str:
    if isinstance(node, nodes.RegexLiteral):
        return 'a regex alone is not a condition: compare a field with it, field == r"..."'
    if isinstance(node, nodes.Arithmetic):
        return "arithmetic gives a number, not a condition: compare it, e.g. a - b > 0"
    return "a value alone is not a condition: compare a field with it"


def _is_number_like(value: Constant) -> bool:
    return isinstance(value, Duration) or (type(value) is int or type(value) is float)


def _fold(left: Constant, right: Constant, sign: int) -> Constant:
    """``left ± right`` at compile time: durations stay durations, anything with a number is one."""
    if isinstance(left, Duration) and isinstance(right, Duration):
        return Duration(left.ms + sign * right.ms)
    left_ms = left.ms if isinstance(left, Duration) else left
    right_ms = right.ms if isinstance(right, Duration) else right
    return left_ms + sign * right_ms  # type: ignore[operator]
