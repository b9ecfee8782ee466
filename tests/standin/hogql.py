"""Turn the HogQL text a client sends into the ClickHouse SQL the stand-in runs.

This is a lexical translator, not a HogQL parser. It does what PostHog's HogQL layer does
to a query arriving through the query API, as far as a client can observe:

* substitutes ``{name}`` placeholders from ``values`` as ClickHouse literals (strings are
  quoted and backslash-escaped, so a value can never change the query's structure);
* rejects function calls outside HogQL's allow-list (:mod:`standin.functions`) with
  HogQL's ``Unsupported function call 'name(...)'`` and renders renamed ones as PostHog
  prints them (``toFloat(x)`` -> ``accurateCastOrNull(x, 'Float64')``);
* rejects tables other than ``events`` (and the query's own CTEs), table functions,
  ``system.*``, ``OFFSET`` (refused for personal-API-key queries), ``SETTINGS``/``FORMAT``
  and more than one statement;
* applies HogQL's limits to the outermost SELECT: without a ``LIMIT`` it fetches
  ``default_limit + 1`` rows to report ``hasMore``; an explicit ``LIMIT`` above
  ``max_limit`` is lowered to ``max_limit`` (silently, as PostHog does).

HogQL's own property syntax (``properties.$ai_trace_id``) is not emulated: queries must
read ``properties`` (the event's JSON text) with ``JSONExtract*``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from .functions import HOGQL_FUNCTIONS, NOT_EMULATED, FunctionSpec, lookup

#: PostHog's message for OFFSET on personal-API-key queries (posthog/hogql/user_query_validator.py).
OFFSET_NOT_ALLOWED_MESSAGE = (
    "OFFSET is not supported on queries made with a personal API key. "
    "For pagination, use keyset pagination on the `timestamp` column, e.g. "
    "`WHERE timestamp > :last_seen_timestamp ORDER BY timestamp LIMIT N`. "
    "For bulk data extraction, use batch exports: https://posthog.com/docs/cdp/batch-exports"
)

PROPERTY_ACCESS_MESSAGE = (
    "The PostHog stand-in does not support HogQL property access (`properties.$x`). "
    "Read the event's JSON text instead, e.g. JSONExtractString(properties, '$ai_trace_id') "
    "or JSONExtractFloat(properties, '$ai_total_cost_usd')."
)


class HogQLError(Exception):
    """A query PostHog would refuse with HTTP 400; ``code`` is the API's error code."""

    def __init__(self, detail: str, code: str = "hogql_query_error") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


@dataclass(frozen=True)
class Token:
    kind: str  # ws | str | qid | ph | num | id | op
    text: str
    pos: int


_TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
    | (?P<str>'(?:[^'\\]|\\.|'')*')
    | (?P<qid>"(?:[^"\\]|\\.|"")*"|`(?:[^`\\]|\\.|``)*`)
    | (?P<ph>\{\s*[A-Za-z_$][A-Za-z0-9_$]*\s*\})
    | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<id>[A-Za-z_$][A-Za-z0-9_$]*)
    | (?P<op>->|::|<=|>=|!=|<>|==|\|\||.)
    """,
    re.VERBOSE | re.DOTALL,
)


# Words that may precede "(" without being a function call.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NOT_CALLS = _words(
    """
    SELECT FROM WHERE AND OR NOT IN AS ON USING JOIN EXISTS OVER WITH WHEN THEN ELSE CASE BY
    DISTINCT LIKE ILIKE BETWEEN IS HAVING UNION ALL ANY INTERVAL LIMIT VALUES GLOBAL ARRAY
    PREWHERE QUALIFY WINDOW ROWS RANGE PARTITION ORDER GROUP END INTERSECT EXCEPT CAST FILTER
    INNER OUTER LEFT RIGHT FULL CROSS SEMI ANTI ASOF
    """
)
_FORBIDDEN_WORDS = frozenset({"SETTINGS", "INTO", "OUTFILE", "FORMAT"})
_SET_OPERATORS = frozenset({"UNION", "INTERSECT", "EXCEPT"})
_LIMIT_END = frozenset({"OFFSET", "BY", "WITH", "SETTINGS", "FORMAT"}) | _SET_OPERATORS
_FORBIDDEN_DATABASES = frozenset({"SYSTEM", "INFORMATION_SCHEMA"})
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\b": "\\b",
    "\f": "\\f",
    "\r": "\\r",
    "\n": "\\n",
    "\t": "\\t",
    "\0": "\\0",
    "\a": "\\a",
    "\v": "\\v",
}


def tokenize(query: str) -> list[Token]:
    """Split ``query`` into tokens; string literals and comments stay whole."""
    tokens: list[Token] = []
    for match in _TOKEN_RE.finditer(query):
        kind = match.lastgroup or "op"
        text = match.group()
        if kind == "op" and text in ("'", '"', "`"):
            raise HogQLError(
                f"Syntax error at position {match.start()}: unterminated quoted text",
                "hogql_syntax_error",
            )
        if kind == "op" and text == "/" and query.startswith("/*", match.start()):
            raise HogQLError(
                f"Syntax error at position {match.start()}: unterminated comment",
                "hogql_syntax_error",
            )
        if kind == "op" and text in "{}":
            raise HogQLError(
                f"Syntax error at position {match.start()}: the stand-in only supports "
                "placeholders of the form {identifier}",
                "hogql_syntax_error",
            )
        tokens.append(Token(kind, text, match.start()))
    return tokens


def clickhouse_literal(value: Any) -> str:
    """``value`` (a JSON value from ``values``) as a ClickHouse literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(clickhouse_literal(item) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"tuple({inner})"
    raise HogQLError(f"Unsupported placeholder value of type {type(value).__name__}")


@dataclass
class Translation:
    """The result of :func:`translate`."""

    #: ClickHouse SQL to run (without SETTINGS)
    clickhouse: str
    #: the query with placeholders substituted (PostHog echoes it as ``hogql``)
    hogql: str
    #: page size when HogQL's default limit applies (the SQL fetches one row more)
    page_size: int | None = None
    #: set when an explicit LIMIT was lowered to the cap and the SQL fetches cap + 1
    capped_at: int | None = None


@dataclass
class _Paren:
    is_call: bool
    suffix: tuple[str, ...] = ()


@dataclass
class _Rewriter:
    tokens: list[Token]
    replace: dict[int, str] = field(default_factory=dict)
    append: dict[int, list[str]] = field(default_factory=dict)

    def text(self, index: int) -> str:
        return self.replace.get(index, self.tokens[index].text)

    def add_after(self, index: int, text: str) -> None:
        self.append.setdefault(index, []).append(text)

    def render(self) -> str:
        parts: list[str] = []
        for index in range(len(self.tokens)):
            parts.append(self.text(index))
            parts.extend(self.append.get(index, ()))
        return "".join(parts)


def translate(
    query: str,
    values: Mapping[str, Any] | None,
    *,
    default_limit: int = 100,
    max_limit: int = 50_000,
    flag_capped_limit: bool = False,
    extra_functions: frozenset[str] = frozenset(),
) -> Translation:
    """Validate HogQL ``query`` and translate it for ClickHouse (see the module doc)."""
    tokens = tokenize(query)
    rw = _Rewriter(tokens)
    sig = [i for i, tok in enumerate(tokens) if tok.kind != "ws"]

    while sig and tokens[sig[-1]].text == ";":
        rw.replace[sig.pop()] = ""
    if not sig:
        raise HogQLError("Empty query", "hogql_syntax_error")
    if any(tokens[i].text == ";" for i in sig):
        raise HogQLError("Only one statement can be run at a time", "hogql_syntax_error")
    first = tokens[sig[0]]
    if first.text.upper() not in ("SELECT", "WITH", "("):
        raise HogQLError(
            f"Syntax error at position {first.pos}: only SELECT queries are supported",
            "hogql_syntax_error",
        )

    hogql_rw = _Rewriter(tokens)
    _substitute(tokens, sig, values, rw, hogql_rw)
    ctes = _cte_names(tokens, sig)
    depth_of = _validate(tokens, sig, rw, ctes, extra_functions)
    page_size, capped_at = _apply_limits(
        tokens, sig, depth_of, rw, default_limit, max_limit, flag_capped_limit
    )
    return Translation(
        clickhouse=rw.render().strip(),
        hogql=hogql_rw.render().strip(),
        page_size=page_size,
        capped_at=capped_at,
    )


def _substitute(
    tokens: Sequence[Token],
    sig: Sequence[int],
    values: Mapping[str, Any] | None,
    rw: _Rewriter,
    hogql_rw: _Rewriter,
) -> None:
    for i in sig:
        tok = tokens[i]
        if tok.kind != "ph":
            continue
        name = tok.text[1:-1].strip()
        if not values:
            raise HogQLError(f"Unresolved placeholder: {{{name}}}")
        if name not in values:
            raise HogQLError(
                f"Placeholder {{{name}}} is not available in this context. "
                "You can use the following: " + ", ".join(str(key) for key in values)
            )
        literal = clickhouse_literal(values[name])
        rw.replace[i] = literal
        hogql_rw.replace[i] = literal


def _cte_names(tokens: Sequence[Token], sig: Sequence[int]) -> set[str]:
    """Names defined as ``WITH name AS (...)`` (or ``, name AS (...)`` in the WITH list)."""
    names: set[str] = set()
    for k in range(1, len(sig) - 2):
        tok = tokens[sig[k]]
        if (
            tok.kind in ("id", "qid")
            and tokens[sig[k + 1]].text.upper() == "AS"
            and tokens[sig[k + 2]].text == "("
            and tokens[sig[k - 1]].text.upper() in ("WITH", ",")
        ):
            names.add(_unquote(tok))
    return names


def _unquote(tok: Token) -> str:
    return tok.text[1:-1] if tok.kind == "qid" else tok.text


def _validate(
    tokens: Sequence[Token],
    sig: Sequence[int],
    rw: _Rewriter,
    ctes: set[str],
    extra: frozenset[str],
) -> list[int]:
    """Check every function call and table reference; returns each sig token's depth."""
    stack: list[_Paren] = []
    depth_of: list[int] = []
    pending_suffix: tuple[str, ...] | None = None  # for the "(" after a rewritten call
    n = len(sig)

    def at(k: int) -> Token | None:
        return tokens[sig[k]] if 0 <= k < n else None

    for k in range(n):
        tok = tokens[sig[k]]
        prev, nxt = at(k - 1), at(k + 1)
        upper = tok.text.upper()
        depth_of.append(len(stack))

        if tok.text == "(" and tok.kind == "op":
            if pending_suffix is not None:
                stack.append(_Paren(is_call=True, suffix=pending_suffix))
                pending_suffix = None
            else:
                stack.append(_Paren(is_call=_is_call(prev)))
            continue
        if tok.text == ")" and tok.kind == "op":
            if not stack:
                raise HogQLError(
                    f"Syntax error at position {tok.pos}: unbalanced ')'", "hogql_syntax_error"
                )
            closing = stack.pop()
            if closing.suffix:
                args = ", ".join(closing.suffix)
                empty_call = prev is not None and prev.text == "("
                rw.replace[sig[k]] = (args if empty_call else ", " + args) + ")"
            depth_of[-1] = len(stack)
            continue
        if tok.kind == "qid" and nxt is not None and nxt.text == "(":
            raise HogQLError(f"Unsupported function call '{_unquote(tok)}(...)'")
        if (
            tok.kind in ("id", "qid")
            and _unquote(tok).upper() in _FORBIDDEN_DATABASES
            and nxt is not None
            and nxt.text == "."
        ):
            raise HogQLError(f'Unknown table "{_unquote(tok)}.{_after(at(k + 2))}".')
        if tok.kind != "id":
            continue

        followed_by_paren = nxt is not None and nxt.text == "("
        after_dot = prev is not None and prev.text == "."
        if tok.text == "properties" and nxt is not None and nxt.text == ".":
            raise HogQLError(PROPERTY_ACCESS_MESSAGE, "standin_unsupported")
        if upper == "OFFSET":
            raise HogQLError(OFFSET_NOT_ALLOWED_MESSAGE)
        if upper in _FORBIDDEN_WORDS and not followed_by_paren and not after_dot:
            raise HogQLError(
                f"Syntax error at position {tok.pos}: {upper} is not supported in HogQL",
                "hogql_syntax_error",
            )
        if upper in ("FROM", "JOIN") and not (stack and stack[-1].is_call):
            is_array_join = upper == "JOIN" and prev is not None and prev.text.upper() == "ARRAY"
            is_distinct_from = (
                upper == "FROM" and prev is not None and prev.text.upper() == "DISTINCT"
            )
            if not is_array_join and not is_distinct_from:
                _check_table(at(k + 1), at(k + 2), at(k + 3), ctes)
        if followed_by_paren and upper not in _NOT_CALLS:
            if after_dot:
                raise HogQLError(f"Unsupported function call '{_after(at(k - 2))}.{tok.text}(...)'")
            spec = _resolve_function(tok.text, extra)
            if spec.clickhouse != tok.text:
                rw.replace[sig[k]] = spec.clickhouse
            if spec.suffix_args:
                pending_suffix = spec.suffix_args
    if stack:
        raise HogQLError("Syntax error: unbalanced '('", "hogql_syntax_error")
    return depth_of


def _after(tok: Token | None) -> str:
    return "" if tok is None else _unquote(tok)


def _is_call(prev: Token | None) -> bool:
    if prev is None:
        return False
    if prev.kind == "id":
        return prev.text.upper() not in _NOT_CALLS
    return prev.kind == "qid" or prev.text == ")"


def _resolve_function(name: str, extra: frozenset[str]) -> FunctionSpec:
    spec = lookup(name, extra)
    if spec is not None:
        return spec
    if name in NOT_EMULATED:
        raise HogQLError(
            f"HogQL function '{name}(...)' is expanded by PostHog from a template; "
            "the stand-in does not emulate it",
            "standin_unsupported",
        )
    close = get_close_matches(name, list(HOGQL_FUNCTIONS), 1)
    if close:
        raise HogQLError(
            f"Unsupported function call '{name}(...)'. Perhaps you meant '{close[0]}(...)'?"
        )
    raise HogQLError(f"Unsupported function call '{name}(...)'")


def _check_table(
    name: Token | None, after: Token | None, after2: Token | None, ctes: set[str]
) -> None:
    if name is None or name.text == "(":
        return
    if name.kind not in ("id", "qid"):
        raise HogQLError(
            f"Syntax error at position {name.pos}: expected a table", "hogql_syntax_error"
        )
    table = _unquote(name)
    if after is not None and after.text == "(":
        raise HogQLError(f"Unsupported table function '{table}(...)'; only `events` can be read")
    if after is not None and after.text == ".":
        raise HogQLError(f'Unknown table "{table}.{_after(after2)}".')
    if table != "events" and table not in ctes:
        raise HogQLError(f'Unknown table "{table}".')


def _apply_limits(
    tokens: Sequence[Token],
    sig: Sequence[int],
    depth_of: Sequence[int],
    rw: _Rewriter,
    default_limit: int,
    max_limit: int,
    flag_capped_limit: bool,
) -> tuple[int | None, int | None]:
    # split the outermost level into SELECTs joined by UNION / INTERSECT / EXCEPT
    segments: list[list[int]] = [[]]
    for k in range(len(sig)):
        tok = tokens[sig[k]]
        if depth_of[k] == 0 and tok.kind == "id" and tok.text.upper() in _SET_OPERATORS:
            segments.append([])
            continue
        segments[-1].append(k)
    single = len(segments) == 1
    page_size: int | None = None
    capped_at: int | None = None

    for segment in segments:
        segment = [k for k in segment if not _is_set_modifier(tokens, sig, k)]
        if not segment:
            raise HogQLError("Syntax error: empty SELECT in a set operation", "hogql_syntax_error")
        limit_expr = _find_row_limit(tokens, sig, depth_of, segment)
        last = sig[segment[-1]]
        if limit_expr is None:
            if single:
                page_size = default_limit
                rw.add_after(last, f"\nLIMIT {default_limit + 1}")
            else:
                rw.add_after(last, f"\nLIMIT {max_limit}")
            continue
        first_k, last_k = limit_expr
        expr_tok = tokens[sig[first_k]]
        value = _int_value(rw.text(sig[first_k])) if expr_tok.kind in ("num", "ph") else None
        if first_k == last_k and value is not None:
            if value > max_limit:
                if single and flag_capped_limit:
                    capped_at = max_limit
                    rw.replace[sig[first_k]] = str(max_limit + 1)
                else:
                    rw.replace[sig[first_k]] = str(max_limit)
            continue
        rw.replace[sig[first_k]] = f"min2({max_limit}, (" + rw.text(sig[first_k])
        rw.replace[sig[last_k]] = rw.text(sig[last_k]) + "))"
    return page_size, capped_at


def _is_set_modifier(tokens: Sequence[Token], sig: Sequence[int], k: int) -> bool:
    """ALL / DISTINCT right after UNION / INTERSECT / EXCEPT belongs to the operator."""
    if k == 0:
        return False
    prev = tokens[sig[k - 1]]
    tok = tokens[sig[k]]
    return tok.text.upper() in ("ALL", "DISTINCT") and prev.text.upper() in _SET_OPERATORS


def _find_row_limit(
    tokens: Sequence[Token],
    sig: Sequence[int],
    depth_of: Sequence[int],
    segment: Sequence[int],
) -> tuple[int, int] | None:
    """The (first, last) sig positions of the segment's row-LIMIT expression, if any."""
    found: tuple[int, int] | None = None
    for pos, k in enumerate(segment):
        tok = tokens[sig[k]]
        if depth_of[k] != 0 or tok.kind != "id" or tok.text.upper() != "LIMIT":
            continue
        end = pos + 1
        while end < len(segment):
            k2 = segment[end]
            t2 = tokens[sig[k2]]
            if depth_of[k2] == 0 and (
                t2.text == "," or (t2.kind == "id" and t2.text.upper() in _LIMIT_END)
            ):
                break
            end += 1
        if end == pos + 1:
            raise HogQLError(
                f"Syntax error at position {tok.pos}: LIMIT needs a value", "hogql_syntax_error"
            )
        stop = tokens[sig[segment[end]]] if end < len(segment) else None
        if stop is not None and stop.text == ",":
            raise HogQLError(OFFSET_NOT_ALLOWED_MESSAGE)
        if stop is not None and stop.text.upper() == "BY":
            continue  # LIMIT n BY x: not the row limit
        found = (segment[pos + 1], segment[end - 1])
    return found


def _int_value(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text[:2].lower() == "0x":
        return int(text, 16)
    return None
