"""Every kind of KFL error: its message, exact span (line, column, end) and caret context."""

from __future__ import annotations

import pytest

from kfl import KflError, compile_filter

# query, message (start), line, column, end_line, end_column
ERRORS: list[tuple[str, str, int, int, int, int]] = [
    # syntax
    ("dst.port ==", "expected a value after '=='", 1, 12, 1, 13),
    ("dst.port == and tcp", "expected a value after '==', found 'and'", 1, 13, 1, 16),
    ("tcp and", "expected a condition after 'and'", 1, 8, 1, 9),
    ("tcp ||", "expected a condition after '||'", 1, 7, 1, 8),
    ("!", "expected a condition after '!'", 1, 2, 1, 3),
    ("(tcp or udp", "unbalanced parenthesis: this '(' is never closed", 1, 1, 1, 2),
    ("tcp or udp)", "unbalanced parenthesis: ')' has no matching '('", 1, 11, 1, 12),
    ("((tcp)", "unbalanced parenthesis: this '(' is never closed", 1, 1, 1, 2),
    ("(dst.port ==", "expected a value after '=='", 1, 13, 1, 14),
    ('dst.name == "api', "unclosed string", 1, 13, 1, 17),
    ('dst.name == r"^api', "unclosed regex", 1, 13, 1, 19),
    ("dst.name == 'api", "unclosed string", 1, 13, 1, 17),
    ("dst.name == r'^api", "unclosed regex", 1, 13, 1, 19),
    ("dst.port = 80", "unexpected character '=': use '==' to compare", 1, 10, 1, 11),
    ("tcp & udp", "unexpected character '&': use '&&' or 'and'", 1, 5, 1, 6),
    ("tcp udp", "expected an operator such as '==', 'and' or 'or' before 'udp'", 1, 5, 1, 8),
    ("dst.port == true false", "expected an operator such as '=='", 1, 18, 1, 23),
    ("tcp.flags[0 == 1", "expected ']' to close '[', found '=='", 1, 13, 1, 15),
    ("and", "expected a condition, found 'and'", 1, 1, 1, 4),
    ("tcp and or udp", "expected a condition after 'and', found 'or'", 1, 9, 1, 11),
    ("seconds(1,) > 0", "expected an argument after ',', found ')'", 1, 11, 1, 12),
    ("dst.port == 1 == 2", "comparisons cannot be chained", 1, 15, 1, 17),
    ("dst.", "expected a field or helper name after '.'", 1, 5, 1, 6),
    ("tcp.flags[", "expected a string key or a list index after '['", 1, 11, 1, 12),
    ("tcp.flags[0", "unbalanced bracket: this '[' is never closed", 1, 10, 1, 11),
    ("tcp.flags]", "unbalanced bracket: ']' has no matching '['", 1, 10, 1, 11),
    ("()", "expected a condition or a value after '('", 1, 2, 1, 3),
    ("== 1", "expected a condition, found '=='", 1, 1, 1, 3),
    ("tcp and\n  dst.port >", "expected a value after '>'", 2, 13, 2, 14),
    ("tcp and  \n ", "expected a condition after 'and'", 1, 8, 1, 9),
    ("tcp\nand udp\nor dns.query ==", "expected a value after '=='", 3, 16, 3, 17),
    ('"\\q"', "invalid escape in string", 1, 2, 1, 4),
    ("tcp.flags[-1]", "a list index must be a whole number", 1, 11, 1, 13),
    ("tcp.flags[1.5]", "a list index must be a whole number", 1, 11, 1, 14),
    ("dst.port == 1e999", "number is too large", 1, 13, 1, 18),
    ("dst.port == 99999999999999999999", "number is outside the 64-bit", 1, 13, 1, 33),
    ("tcp\x00", "control character '\\x00' is not allowed", 1, 4, 1, 5),
    ("tcp and\n\x1b", "control character '\\x1b' is not allowed", 2, 1, 2, 2),
    # fields
    (
        'dst.namspace == ""',
        "unknown field 'dst.namspace'; did you mean 'dst.namespace'?",
        1,
        5,
        1,
        13,
    ),
    ("http", "unknown field 'http'", 1, 1, 1, 5),
    ("tpc", "unknown field 'tpc'; did you mean 'tcp'?", 1, 1, 1, 4),
    ("tcp.event.name", "tcp.event is a string, it has no field 'name'", 1, 11, 1, 15),
    ('src["nmespace"] == "x"', "unknown field 'src.nmespace'", 1, 5, 1, 15),
    ("dst.port[0] == 1", "dst.port is not a list, it cannot be indexed", 1, 10, 1, 11),
    ('src == "shop"', "src is an object: compare one of its fields", 1, 1, 1, 4),
    # helpers
    (
        'dst.name.startWith("a")',
        "unknown helper .startWith(); did you mean startsWith()?",
        1,
        10,
        1,
        19,
    ),
    ("secs(3) > 1", "unknown helper secs(); did you mean seconds()?", 1, 1, 1, 5),
    ("json() == 1", "unknown helper json(); known: now, seconds", 1, 1, 1, 5),
    ('endsWith(".com")', "endsWith() is a method: write field.endsWith(...)", 1, 1, 1, 9),
    ("dst.name.seconds(1)", "seconds() is a function, not a method of a field", 1, 10, 1, 17),
    ("dst.name.startsWith()", "startsWith() takes 1 argument, got 0", 1, 1, 1, 22),
    ("now(1) > 0", "now() takes 0 arguments, got 1", 1, 1, 1, 7),
    ('seconds("3") > 0', "seconds() takes a number", 1, 9, 1, 12),
    ("dst.name.endsWith(3)", "endsWith() takes a string", 1, 19, 1, 20),
    ("elapsedTime > seconds(dst.port)", "helper arguments must be constants", 1, 23, 1, 31),
    ("timestamp > days(1e300)", "duration is too large", 1, 13, 1, 24),
    ('timestamp > datetime("yesterday")', "'yesterday' is not a date like", 1, 22, 1, 33),
    ('dst.ip == cidr("10.0.0.0/33")', "'10.0.0.0/33' is not a network", 1, 16, 1, 29),
    ('dst.ip > cidr("10.0.0.0/8")', "cidr() can only be compared with '==' or '!='", 1, 8, 1, 9),
    ("limit(0)", "limit() takes a whole number from 1", 1, 7, 1, 8),
    ("limit(2.5)", "limit() takes a whole number from 1", 1, 7, 1, 10),
    (
        "tcp or limit(5)",
        "limit(n) is not a value: join it to the whole query with 'and'",
        1,
        8,
        1,
        16,
    ),
    ("limit(5) and limit(6)", "limit(n) is given more than once", 1, 14, 1, 22),
    # regexes
    ('dst.name == r"("', "invalid regex: missing ): (", 1, 15, 1, 16),
    ('dst.name == r"(?<=a)b"', "invalid regex: invalid perl operator: (?<=", 1, 15, 1, 22),
    ('dst.name.matches("a**")', "invalid regex: bad repetition operator: **", 1, 18, 1, 23),
    ('dst.name == r"a{1000}{1000}"', "invalid regex: bad repetition operator", 1, 15, 1, 28),
    ('dst.port > r"8"', "a regex can only be compared with '==' or '!='", 1, 10, 1, 11),
    ('r"a" == r"b"', "cannot compare two regexes or networks", 1, 1, 1, 13),
    # values that are not conditions, types that never compare
    ('"shop"', "a value alone is not a condition", 1, 1, 1, 7),
    ("42", "a value alone is not a condition", 1, 1, 1, 3),
    ('r"shop"', "a regex alone is not a condition", 1, 1, 1, 8),
    ("now()", "a value alone is not a condition", 1, 1, 1, 6),
    ("requestSize + 1", "arithmetic gives a number, not a condition", 1, 1, 1, 16),
    ('requestSize + "1" > 2', "'+' needs numbers or durations", 1, 15, 1, 18),
    ("!dst.port == 443", "'!' applies only to what follows it", 1, 1, 1, 10),
    ('(tcp and udp) == "x"', "a condition can only be compared with true or false", 1, 1, 1, 14),
]


@pytest.mark.parametrize(("query", "message", "line", "column", "end_line", "end_column"), ERRORS)
def test_error_message_and_span(
    query: str, message: str, line: int, column: int, end_line: int, end_column: int
) -> None:
    with pytest.raises(KflError) as caught:
        compile_filter(query)
    error = caught.value
    assert error.message.startswith(message)
    assert (error.line, error.column, error.end_line, error.end_column) == (
        line,
        column,
        end_line,
        end_column,
    )


def test_context_has_the_query_line_and_a_caret_under_the_bad_span() -> None:
    with pytest.raises(KflError) as caught:
        compile_filter('tcp and\ndst.namspace == ""')
    assert caught.value.context == 'dst.namspace == ""\n    ^^^^^^^^'


def test_context_of_an_error_at_the_end_points_past_the_last_character() -> None:
    with pytest.raises(KflError) as caught:
        compile_filter("dst.port ==")
    assert caught.value.context == "dst.port ==\n           ^"


def test_context_is_trimmed_around_the_error_on_long_lines() -> None:
    query = " or ".join(["tcp"] * 100) + " or tcpp"
    with pytest.raises(KflError) as caught:
        compile_filter(query)
    text, caret = caught.value.context.split("\n")
    assert text.startswith("…")
    assert text.endswith("tcpp")
    assert len(text) < 100
    assert text[caret.index("^") :].startswith("tcpp")


def test_to_dict_is_json_ready_with_camel_case_keys() -> None:
    with pytest.raises(KflError) as caught:
        compile_filter("tcp and")
    assert caught.value.to_dict() == {
        "message": "expected a condition after 'and', found the end of the query",
        "line": 1,
        "column": 8,
        "endLine": 1,
        "endColumn": 9,
        "context": "tcp and\n       ^",
    }


def test_str_names_the_position() -> None:
    with pytest.raises(KflError) as caught:
        compile_filter("tcp udp")
    assert str(caught.value) == (
        "line 1, column 5: expected an operator such as '==', 'and' or 'or' before 'udp'"
    )


def test_kfl_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        compile_filter("nope")


def test_a_query_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        compile_filter(b"tcp")  # type: ignore[arg-type]


# --- hostile input ------------------------------------------------------------------------------


def error_of(query: str) -> KflError:
    with pytest.raises(KflError) as caught:
        compile_filter(query)
    return caught.value


def test_query_over_4_kib_is_rejected_at_the_first_byte_past_the_limit() -> None:
    query = "tcp or " * 600
    error = error_of(query)
    assert error.message == f"query is {len(query)} bytes long, over the 4096-byte limit"
    assert error.column == 4097


def test_multibyte_query_over_4_kib_is_measured_in_bytes() -> None:
    query = 'dst.name == "' + "é" * 2100 + '"'
    assert len(query) < 4096
    assert "over the 4096-byte limit" in error_of(query).message


def test_query_of_exactly_4_kib_compiles() -> None:
    query = 'dst.name == "' + "a" * (4096 - 14) + '"'
    assert len(query.encode()) == 4096
    assert not compile_filter(query)({})


@pytest.mark.parametrize(
    "query",
    [
        "!" * 65 + "tcp",
        "(" * 65 + "tcp" + ")" * 65,
        "(" * 64 + "(tcp or udp)" + ")" * 64,
        "!" * 4000 + "tcp",
        "(" * 2000 + "tcp" + ")" * 2000,
        "not " * 900 + "tcp",
        "(" * 3000,
        "(!" * 1000 + "tcp",
        "tcp == " + "(" * 100 + "1" + ")" * 100,
    ],
)
def test_deep_nesting_is_a_kfl_error_not_a_recursion_error(query: str) -> None:
    assert error_of(query).line == 1


def test_nesting_limit_message_points_at_the_level_that_is_too_deep() -> None:
    error = error_of("!" * 70 + "tcp")
    assert error.message == "query nests deeper than 64 levels"
    assert error.column == 7  # the 7th "!" is the 65th level, counting from "tcp"


def test_nesting_of_64_levels_compiles() -> None:
    assert compile_filter("!" * 63 + "tcp")({"protocol": {"name": "udp"}})
    assert compile_filter("(" * 63 + "tcp" + ")" * 63)({"protocol": {"name": "tcp"}})


def test_long_flat_chains_are_not_nesting() -> None:
    query = " or ".join(f"dst.port == {port}" for port in range(200))
    assert len(query) < 4096
    assert compile_filter(query)({"dst": {"port": 199}})
    assert not compile_filter(query)({"dst": {"port": 200}})


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("dst.port == 1" + "0" * 4000, "number is outside the 64-bit integer range", 13),
        ("dst.port == 1." + "0" * 3000 + "e99999", "number is too large", 13),
        ("dst.\N{SNOWMAN} == 1", "unexpected character '\N{SNOWMAN}'", 5),
        ("\N{SNOWMAN}", "unexpected character '\N{SNOWMAN}'", 1),
        ("tcp \u00a0 udp", "unexpected character '\\xa0'", 5),
        ("\ufeff tcp", "unexpected character '\\ufeff'", 1),
    ],
)
def test_huge_numbers_and_stray_unicode_are_located_errors(
    query: str, message: str, column: int
) -> None:
    error = error_of(query)
    assert error.message == message
    assert error.column == column


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('dst.name == "\N{PILE OF POO}"', True),
        ('dst.name == "\\ud83d\\udca9"', True),
        ('dst.name == r"^\N{PILE OF POO}$" and src.name != r"\N{SNOWMAN}+"', True),
        ('dst.name == "\\ud800"', False),
        ('dst.name == r"\\xff\\x{10FFFF}"', False),
        ('dst.name.contains("\N{PILE OF POO}")', True),
    ],
)
def test_unicode_queries_compile_and_match(query: str, expected: bool) -> None:
    wire = {"src": {"name": "plain"}, "dst": {"name": "\N{PILE OF POO}"}}
    assert compile_filter(query)(wire) is expected


def test_surrogates_in_queries_and_entries_do_not_crash() -> None:
    regex_with_surrogate = 'dst.name == r"\ud800"'
    assert error_of(regex_with_surrogate).message.startswith("invalid regex")
    matcher = compile_filter('dst.name == r"a"')
    assert matcher({"dst": {"name": "a\ud800"}}) is False
