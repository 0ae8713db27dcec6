"""Compile the values of a KFL query: constants, entry fields, KFL2 variables, macro variables,
arithmetic, ``?:``, list literals, ``size``, ``map_get`` and the list macros.

A value is either a :class:`ConstantOperand`, known at compile time (folded: ``now() -
seconds(30)`` is one number), or a :class:`DynamicOperand` whose getter reads the entry and
gives MISSING when the value does not exist or cannot be computed. :class:`OperandCompiler` is
the half of the compiler that builds them; kfl.compiler adds conditions.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Sequence

from kfl import arithmetic, fields, helpers, macros, nodes
from kfl.access import Getter, Predicate, getter
from kfl.comparisons import Field
from kfl.constants import Constant, Duration, Network, Regex, compile_regex, duration
from kfl.errors import LocatedError
from kfl.variables import VARIABLES, variable


class ConstantOperand:
    """An operand known at compile time."""

    __slots__ = ("node", "value")

    def __init__(self, value: Constant, node: nodes.Node) -> None:
        self.value = value
        self.node = node


class DynamicOperand:
    """An operand read from the entry; ``condition`` when it is itself a true/false test."""

    __slots__ = ("condition", "field", "node")

    def __init__(self, field: Field, node: nodes.Node, *, condition: bool = False) -> None:
        self.field = field
        self.node = node
        self.condition = condition


Operand = ConstantOperand | DynamicOperand


class OperandCompiler(ABC):
    """Compile value nodes; ``scope`` maps each enclosing macro's variable to its slot."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.scope: dict[str, tuple[int, str]] = {}  # macro variable -> (slot, element kind)

    @abstractmethod
    def predicate(self, node: nodes.Node) -> Predicate:
        """The predicate of a node used as a condition."""

    def operand(self, node: nodes.Node) -> Operand:
        """The operand of any node: a constant, or a getter over the entry."""
        if isinstance(node, nodes.Literal):
            return ConstantOperand(node.value, node)
        if isinstance(node, nodes.RegexLiteral):
            return ConstantOperand(compile_regex(node.pattern, node.start + 2, node.end - 1), node)
        if isinstance(node, nodes.Call):
            return self._call(node)
        if isinstance(node, nodes.Path):
            return self.path_operand(node)
        if isinstance(node, nodes.Arithmetic):
            return self._arithmetic(node)
        if isinstance(node, nodes.Minus):
            return self._minus(node)
        if isinstance(node, nodes.Conditional):
            return self._conditional(node)
        if isinstance(node, nodes.ListLiteral):
            return self._list(node)
        if isinstance(node, nodes.Method) and node.name in helpers.ENTRY_METHODS:
            return self._entry_method(node)
        condition = self.predicate(node)
        return DynamicOperand(Field(condition, None, "bool"), node, condition=True)

    # --- names --------------------------------------------------------------------------------

    def path_operand(self, path: nodes.Path) -> DynamicOperand:
        """A path as a value: a macro variable, an alias (a condition), a variable or a field."""
        head = path.segments[0].key
        if len(path.segments) == 1 and head not in self.scope and fields.alias(str(head)):
            return DynamicOperand(Field(self.predicate(path), None, "bool"), path, condition=True)
        return self.field(path)

    def field(self, path: nodes.Path) -> DynamicOperand:
        """A path read from the entry: a macro variable, a KFL2 variable or an entry field."""
        head = path.segments[0].key
        if isinstance(head, str) and head in self.scope:
            slot, kind = self.scope[head]
            kind = fields.resolve_segments(path, head, kind, 1)
            return DynamicOperand(Field(_then(macros.bound(slot), path, 1), None, kind), path)
        found = self._variable(path)
        if found is not None:
            return found
        try:
            kind = fields.resolve(path)
        except LocatedError as problem:
            near = _near_variable(path) if "has no field" in problem.message else None
            raise near or problem from None
        keys = tuple(segment.key for segment in path.segments)
        plain_keys = tuple(key for key in keys if isinstance(key, str))
        field_keys = plain_keys if len(plain_keys) == len(keys) else None
        return DynamicOperand(Field(getter(keys), field_keys, kind), path)

    def _variable(self, path: nodes.Path) -> DynamicOperand | None:
        """The KFL2 variable the path starts with (the longest such name), if any; an entry
        field below an object of the same name wins (``protocol.name`` is the entry's)."""
        segments = path.segments
        for count in range(len(segments), 0, -1):
            if not all(isinstance(segment.key, str) for segment in segments[:count]):
                continue
            name = ".".join(str(segment.key) for segment in segments[:count])
            found = variable(name)
            if found is None:
                continue
            if count < len(segments) and fields.SCHEMA_TYPES.get(name) == "object":
                return None
            if found.renames is not None:
                kind = fields.resolve_segments(
                    path, found.renames, fields.SCHEMA_TYPES[found.renames], count
                )
                head = tuple(found.renames.split("."))
                keys = (*head, *(segment.key for segment in segments[count:]))
                plain = tuple(key for key in keys if isinstance(key, str))
                field_keys = plain if len(plain) == len(keys) else None
                return DynamicOperand(Field(getter(keys), field_keys, kind), path)
            assert found.computed is not None  # a variable renames or computes
            kind = fields.resolve_segments(path, name, found.kind, count)
            return DynamicOperand(Field(_then(found.computed, path, count), None, kind), path)
        return None

    # --- computed values ----------------------------------------------------------------------

    def _arithmetic(self, node: nodes.Arithmetic) -> Operand:
        left, right = self.operand(node.left), self.operand(node.right)
        for side in (left, right):
            if isinstance(side, ConstantOperand) and not _is_number_like(side.value):
                raise LocatedError(
                    f"{node.op!r} needs numbers or durations", side.node.start, side.node.end
                )
        if isinstance(left, ConstantOperand) and isinstance(right, ConstantOperand):
            return ConstantOperand(_fold(node, left.value, right.value), node)
        left_get, right_get, op = self.value_getter(left), self.value_getter(right), node.op
        calculate = arithmetic.calculate
        return DynamicOperand(
            Field(lambda entry: calculate(op, left_get(entry), right_get(entry)), None, None), node
        )

    def _minus(self, node: nodes.Minus) -> Operand:
        inner = self.operand(node.operand)
        if isinstance(inner, ConstantOperand):
            value = inner.value
            if isinstance(value, Duration):
                return ConstantOperand(Duration(-value.ms), node)
            if not _is_number_like(value):
                raise LocatedError("'-' needs a number or a duration", node.start, node.end)
            return ConstantOperand(_fold(node, 0, value), node)
        get, negated = inner.field.get, arithmetic.negated
        return DynamicOperand(Field(lambda entry: negated(get(entry)), None, None), node)

    def _conditional(self, node: nodes.Conditional) -> Operand:
        condition = self.predicate(node.condition)
        when_true, when_false = self.operand(node.when_true), self.operand(node.when_false)
        true_get, false_get = self.value_getter(when_true), self.value_getter(when_false)
        kinds = {_kind(when_true), _kind(when_false)}
        kind = kinds.pop() if len(kinds) == 1 else None
        is_condition = all(_is_condition(side) for side in (when_true, when_false))

        def choose(entry: object) -> object:
            return true_get(entry) if condition(entry) else false_get(entry)

        return DynamicOperand(Field(choose, None, kind), node, condition=is_condition)

    def _list(self, node: nodes.ListLiteral) -> DynamicOperand:
        getters = [self.value_getter(self.operand(item)) for item in node.items]
        return DynamicOperand(
            Field(lambda entry: tuple(get(entry) for get in getters), None, "list[any]"), node
        )

    def _call(self, node: nodes.Call) -> Operand:
        helpers.check_known(node)
        if node.name == "size":
            (target,) = self._arity(node, node.arguments, 1)
            get, size = self.value_getter(self.operand(target)), macros.size
            return DynamicOperand(Field(lambda entry: size(get(entry)), None, "int"), node)
        if node.name == "map_get":
            mapping, key, default = (
                self.value_getter(self.operand(argument))
                for argument in self._arity(node, node.arguments, 3)
            )
            map_get = macros.map_get
            return DynamicOperand(
                Field(
                    lambda entry: map_get(mapping(entry), key(entry), default(entry)), None, "any"
                ),
                node,
            )
        arguments = self.arguments(node.arguments)
        return ConstantOperand(helpers.call_function(node, arguments, self.now_ms), node)

    def _entry_method(self, node: nodes.Method) -> DynamicOperand:
        """``x.size()`` and the list macros ``exists``, ``all``, ``exists_one``, ``filter``."""
        target = self.operand(node.target)
        target_get = self.value_getter(target)
        if node.name == "size":
            self._arity(node, node.arguments, 0)
            size = macros.size
            return DynamicOperand(Field(lambda entry: size(target_get(entry)), None, "int"), node)
        name, body = self._arity(node, node.arguments, 2)
        if not isinstance(name, nodes.Path) or len(name.segments) != 1:
            message = f"{node.name}() takes a variable name first, as in {node.name}(x, x > 0)"
            raise LocatedError(message, name.start, name.end)
        bound = str(name.segments[0].key)
        kind = _kind(target) or "any"
        element = kind[len("list[") : -1] if kind.startswith("list[") else "any"
        element = "str" if kind.startswith("map[") else element  # a map's keys
        outer = self.scope.get(bound)
        self.scope[bound] = (len(self.scope), element)
        try:
            test = self.predicate(body)
        finally:
            if outer is None:
                del self.scope[bound]
            else:
                self.scope[bound] = outer
        built = macros.MACROS[node.name](target_get, test)
        if node.name in macros.CONDITION_MACROS:
            return DynamicOperand(Field(built, None, "bool"), node, condition=True)
        return DynamicOperand(Field(built, None, kind), node)

    # --- helpers ------------------------------------------------------------------------------

    def value_getter(self, operand: Operand) -> Getter:
        """A getter for any operand; a constant duration counts as its milliseconds."""
        if isinstance(operand, DynamicOperand):
            return operand.field.get
        value = operand.value
        if isinstance(value, Regex | Network):
            message = "a regex or cidr() can only be compared with '==' or '!='"
            raise LocatedError(message, operand.node.start, operand.node.end)
        constant = value.ms if isinstance(value, Duration) else value
        return lambda _entry: constant

    def arguments(self, arguments: Sequence[nodes.Node]) -> list[helpers.Argument]:
        """Constant helper arguments; raise LocatedError for one read from the entry."""
        result = []
        for argument in arguments:
            operand = self.operand(argument)
            if not isinstance(operand, ConstantOperand):
                message = "helper arguments must be constants, not fields"
                raise LocatedError(message, argument.start, argument.end)
            result.append(helpers.Argument(operand.value, argument))
        return result

    def resolve(self, value: Constant, other: Operand | None) -> Constant:
        """A duration compared with a time field means now + offset; with ``elapsed_time``,
        microseconds; elsewhere, milliseconds."""
        if not isinstance(value, Duration):
            return value
        node = other.node if isinstance(other, DynamicOperand) else None
        if isinstance(node, nodes.Path) and fields.is_time_field(node):
            return self.now_ms + value.ms
        if isinstance(node, nodes.Path) and fields.is_microsecond_field(node):
            return value.ms * 1000
        return value.ms

    @staticmethod
    def _arity(
        node: nodes.Call | nodes.Method, arguments: Sequence[nodes.Node], count: int
    ) -> Sequence[nodes.Node]:
        if len(arguments) != count:
            plural = "argument" if count == 1 else "arguments"
            message = f"{node.name}() takes {count} {plural}, got {len(arguments)}"
            raise LocatedError(message, node.start, node.end)
        return arguments


def _near_variable(path: nodes.Path) -> LocatedError | None:
    """An unknown-field error suggesting the KFL2 variable a misspelt path is close to."""
    dotted = path.dotted
    close = difflib.get_close_matches(dotted, VARIABLES, n=1, cutoff=0.8)
    if not close or "." not in dotted:
        return None
    message = f"unknown field {dotted!r}; did you mean {close[0]!r}?"
    return LocatedError(message, path.start, path.end)


def _then(first: Getter, path: nodes.Path, start: int) -> Getter:
    """``first``, then the path's segments from ``start`` on (a map key, a list index...)."""
    rest = tuple(segment.key for segment in path.segments[start:])
    if not rest:
        return first
    after = getter(rest)
    return lambda entry: after(first(entry))


CONSTANT_KINDS = {bool: "bool", int: "int", float: "float", str: "str"}


def _kind(operand: Operand) -> str | None:
    """The type of an operand's values, None when unknown until the filter runs."""
    if isinstance(operand, DynamicOperand):
        return "bool" if operand.condition else operand.field.kind
    return CONSTANT_KINDS.get(type(operand.value))


def _is_condition(operand: Operand) -> bool:
    if isinstance(operand, DynamicOperand):
        return operand.condition
    return type(operand.value) is bool


def _is_number_like(value: Constant) -> bool:
    return isinstance(value, Duration) or (type(value) is int or type(value) is float)


def _fold(node: nodes.Node, left: Constant, right: Constant) -> Constant:
    """``left OP right`` (``0 - right`` for a Minus) at compile time: durations add to and
    subtract from durations, scale by numbers under ``* /``, and count as ms next to a number
    under ``+ -`` (``now() - seconds(30)`` is a time)."""
    op = node.op if isinstance(node, nodes.Arithmetic) else "-"
    left_duration, right_duration = isinstance(left, Duration), isinstance(right, Duration)
    left_ms = left.ms if isinstance(left, Duration) else left
    right_ms = right.ms if isinstance(right, Duration) else right
    scaling = op in {"*", "/"} and left_duration != right_duration
    if (left_duration and right_duration and op not in {"+", "-"}) or (
        (left_duration or right_duration) and op == "%"
    ):
        raise LocatedError(f"{op!r} does not apply to durations here", node.start, node.end)
    if scaling and right_duration and op == "/":
        raise LocatedError("cannot divide by a duration", node.start, node.end)
    result = arithmetic.fold(op, left_ms, right_ms)  # type: ignore[arg-type]
    if result is None:
        message = f"{op!r} gives no number here (division by zero, or out of range)"
        raise LocatedError(message, node.start, node.end)
    if scaling or (left_duration and right_duration):
        return duration(result, node.start, node.end)
    return result
