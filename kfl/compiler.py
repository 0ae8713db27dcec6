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

from kfl import fields, helpers, macros, nodes
from kfl.access import (
    FieldTest,
    Predicate,
    fused_conjunction,
    fused_disjunction,
    fused_test,
    getter,
)
from kfl.comparisons import (
    MIRRORED,
    Field,
    against_constant,
    between_fields,
    computed_test,
    constant_result,
    equality,
    field_test,
)
from kfl.constants import Constant, Network, Regex
from kfl.errors import KflError, LocatedError
from kfl.logic import all_of, always, any_of, negation
from kfl.lookup import Equalities, FieldKeys, lookup, merged
from kfl.operands import ConstantOperand, DynamicOperand, Operand, OperandCompiler
from kfl.parser import parse
from kfl.values import holds, truthy
from kfl.variables import variable

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
    Both hold for entries whose fields have their schema types (every entry the hub holds): a
    malformed entry with a list in a name or a numeric string in a port may match by KFL's
    value rules without holding one of the required values.
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


RecordT = TypeVar("RecordT")


class _Compiler(OperandCompiler):
    """One compilation: the time ``now()`` stands for, and the tree walk."""

    def __init__(self, now_ms: int) -> None:
        super().__init__(now_ms)
        self.rewritten: dict[int, nodes.Node] = {}  # id(node) -> the node compiled in its place
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
        node = self.rewritten.get(id(node), node)
        recorded = self.equalities.get(id(node))
        rows = [recorded] if recorded is not None else None
        if rows is None and isinstance(node, nodes.AnyOf):
            rows = _recorded(self.equalities, node.items)
        if not rows or any(len(row) != 1 for row in rows):
            return False
        return len({keys for row in rows for keys in row}) == 1

    def _requirements(self, node: nodes.Node) -> dict[FieldKeys, frozenset[Hashable]]:
        """Field values a compiled node cannot be true without (see Filter.required)."""
        node = self.rewritten.get(id(node), node)
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
        count = helpers.limit_count(call, self.arguments(call.arguments))
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
            tests = _recorded(self.field_tests, node.items)
            return (
                (lookup(rows) if rows else None)
                or (fused_disjunction(tests) if tests else None)
                or any_of(predicates)
            )
        if isinstance(node, nodes.AllOf):
            return self._conjunction(node)
        if isinstance(node, nodes.Not):
            return negation(self.predicate(node.operand))
        if isinstance(node, nodes.Compare):
            return self._compare(node)
        if isinstance(node, nodes.Membership):
            return self._membership(node)
        if isinstance(node, nodes.Method) and node.name not in helpers.ENTRY_METHODS:
            return self._method(node)
        if isinstance(node, nodes.Path):
            return self._field_condition(node)
        operand = self.operand(node)
        if isinstance(operand, ConstantOperand) and isinstance(operand.value, bool):
            return always(operand.value)
        if isinstance(operand, DynamicOperand):
            if operand.condition:
                return operand.field.get  # type: ignore[return-value]
            if operand.field.kind in {"bool", "any", None} and not isinstance(
                node, nodes.Arithmetic | nodes.Minus
            ):
                get = operand.field.get
                return lambda entry: get(entry) is True
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
            return computed_test(op, field, value) or against_constant(op, field, value)
        self.field_tests[id(node)] = test
        return fused_test(test)

    def _field_condition(self, path: nodes.Path) -> Predicate:
        head = path.segments[0].key
        alias = fields.alias(str(head)) if len(path.segments) == 1 else None
        if alias is not None and head not in self.scope:
            keys = tuple(alias.path.split("."))
            field = Field(getter(keys), keys, fields.SCHEMA_TYPES[alias.path])
            return self._field_against_constant(path, "==", field, alias.value)
        get = self.field(path).field.get
        return lambda entry: truthy(get(entry))

    def _compare(self, node: nodes.Compare) -> Predicate:
        for side in (node.left, node.right):
            if isinstance(side, nodes.ListLiteral):
                message = "a list can only follow 'in', as in x in [1, 2], or go to size()"
                raise LocatedError(message, side.start, side.end)
        left, right, op = self.operand(node.left), self.operand(node.right), node.op
        if isinstance(right, ConstantOperand):
            return self._with_constant(node, op, left, right)
        if isinstance(left, ConstantOperand):
            return self._with_constant(node, MIRRORED[op], right, left)
        _check_comparable(left, right)
        _check_comparable(right, left)
        return between_fields(op, left.field.get, right.field.get)

    def _with_constant(
        self, node: nodes.Compare, op: str, left: Operand, right: ConstantOperand
    ) -> Predicate:
        """``left OP right`` for a constant ``right``."""
        value = self.resolve(right.value, left)
        _check_operator(op, value, node)
        if isinstance(left, ConstantOperand):
            return always(self._constant_comparison(op, left, value, node))
        _check_comparable(left, right)
        return self._field_against_constant(node, op, left.field, value)

    def _constant_comparison(
        self, op: str, left: ConstantOperand, right: Constant, node: nodes.Compare
    ) -> bool:
        value = self.resolve(left.value, None)
        if isinstance(value, Regex | Network):
            if isinstance(right, Regex | Network):
                raise LocatedError("cannot compare two regexes or networks", node.start, node.end)
            return constant_result(MIRRORED[op], right, value)
        return constant_result(op, value, right)

    def _method(self, node: nodes.Method) -> Predicate:
        helpers.check_known(node)
        target = self.operand(node.target)
        test = helpers.method_test(node, self.arguments(node.arguments))
        if isinstance(target, ConstantOperand):
            return always(holds(test.test, self.resolve(target.value, None)))
        _check_comparable(target, None)
        field = target.field
        if test.string_test is not None and field.kind == "str" and field.keys is not None:
            value_test = test.test
            string_test = FieldTest(
                field.keys,
                test.string_test,
                test.argument,
                str,
                lambda value: holds(value_test, value),
            )
            self.field_tests[id(node)] = string_test
            return fused_test(string_test)
        get, value_test = field.get, test.test
        return lambda entry: holds(value_test, get(entry))

    def _membership(self, node: nodes.Membership) -> Predicate:
        """``item in container`` for a container other than a non-empty list literal."""
        item = self.operand(node.item)
        if isinstance(node.container, nodes.ListLiteral):  # ``x in []``
            return always(False)
        rewritten = self._members(node, item)
        if rewritten is not None:
            self.rewritten[id(node)] = rewritten
            return self.predicate(rewritten)
        container = self.operand(node.container)
        kind = container.field.kind if isinstance(container, DynamicOperand) else None
        if isinstance(container, ConstantOperand) or kind in {"str", "int", "float", "bool"}:
            message = "'in' needs a list or a map on its right; for text, use .contains()"
            raise LocatedError(message, node.container.start, node.container.end)
        item_get, container_get = self.value_getter(item), container.field.get
        contains = macros.contains
        return lambda entry: contains(container_get(entry), item_get(entry))

    def _members(self, node: nodes.Membership, item: Operand) -> nodes.Node | None:
        """``"shop" in namespaces`` as ``src.namespace == "shop" || dst.namespace == "shop"``
        (an empty string is in no such list); None for other memberships."""
        container = node.container
        if not isinstance(container, nodes.Path) or container.segments[0].key in self.scope:
            return None
        found = variable(container.dotted)
        if found is None or not found.members or not isinstance(item, ConstantOperand):
            return None
        if item.value == "":
            return nodes.Literal(node.start, node.end, 1, False)
        compares = tuple(
            nodes.Compare(
                node.start, node.end, 2, "==", node.op_start, _path(member, container), item.node
            )
            for member in found.members
        )
        if len(compares) == 1:
            return compares[0]
        return nodes.AnyOf(node.start, node.end, 3, compares)


def _path(dotted: str, at: nodes.Node) -> nodes.Path:
    """A path node for a schema field, located at ``at`` (for error messages)."""
    segments = tuple(nodes.Segment(key, at.start, at.end) for key in dotted.split("."))
    return nodes.Path(at.start, at.end, 1, segments)


def _recorded(table: dict[int, RecordT], items: Sequence[nodes.Node]) -> list[RecordT] | None:
    """What ``table`` recorded for each (already compiled) item; None if an item has nothing."""
    records = []
    for item in items:
        record = table.get(id(item))
        if record is None:
            return None
        records.append(record)
    return records


def _check_comparable(operand: DynamicOperand, other: Operand | None) -> None:
    """Reject comparisons that can never be meaningful: whole objects, conditions vs values."""
    node = operand.node
    if operand.field.kind == "object" and isinstance(node, nodes.Path):
        example = next(name for name in fields.SCHEMA_TYPES if name.startswith(f"{node.dotted}."))
        message = f"{node.dotted} is an object: compare one of its fields, such as {example}"
        raise LocatedError(message, node.start, node.end)
    if operand.condition and isinstance(other, ConstantOperand) and type(other.value) is not bool:
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
