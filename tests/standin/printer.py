"""Print PostHog's HogQL AST (JSON, from :mod:`standin.parser`) as ClickHouse SQL.

What PostHog's printer (``posthog/hogql/printer.py``) does that a client can observe:

* ``properties.$x`` on ``events`` becomes
  ``replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(properties, '$x'), ''), 'null'), '^"|"$', '')``
  (the property's JSON text, quotes stripped, NULL when absent or null) -- or, for a
  property the project has materialized (``materialized``), its column read bare,
  ``events.`mat_$x```, as PostHog reads its Nullable and bloom-indexed ``$ai_*`` columns;
* ``timestamp`` on ``events`` becomes ``toTimeZone(timestamp, '<project timezone>')``
  unless the query's modifiers say ``convertToProjectTimezone: false``;
* calls are checked against the catalog (names: :mod:`standin.functions`, arities:
  :mod:`standin.catalog`) and printed under their ClickHouse names with suffix arguments
  (``toFloat(x)`` -> ``accurateCastOrNull(x, 'Float64')``); timezone-aware functions get
  the project timezone appended when the caller leaves it out;
* ``{name}`` placeholders become constants from ``values``;
* OFFSET is refused (personal-API-key queries); the outermost SELECT gets the default
  LIMIT (one row more, to report ``hasMore``) or has its LIMIT capped.

It also records, for every SELECT reading ``events``, whether its WHERE bounds
``timestamp`` from below and names the ``event``s (see :class:`Scan`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from . import catalog
from .functions import HOGQL_FUNCTIONS, NOT_EMULATED, FunctionSpec, lookup

#: PostHog's message for OFFSET on personal-API-key queries (posthog/hogql/user_query_validator.py).
OFFSET_NOT_ALLOWED_MESSAGE = (
    "OFFSET is not supported on queries made with a personal API key. "
    "For pagination, use keyset pagination on the `timestamp` column, e.g. "
    "`WHERE timestamp > :last_seen_timestamp ORDER BY timestamp LIMIT N`. "
    "For bulk data extraction, use batch exports: https://posthog.com/docs/cdp/batch-exports"
)

EVENTS_COLUMNS = frozenset({"uuid", "event", "timestamp", "distinct_id", "properties", "team_id"})
_FORBIDDEN_DATABASES = frozenset({"system", "information_schema"})
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
_COMPARE = {
    "==": "=",
    "!=": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "not like": "NOT LIKE",
    "not ilike": "NOT ILIKE",
    "in": "IN",
    "not in": "NOT IN",
    "global in": "GLOBAL IN",
    "global not in": "GLOBAL NOT IN",
}
_REGEX = {"=~": "match({}, {})", "!~": "NOT match({}, {})"}
_LOGIC_CALLS = {"and": "AND", "or": "OR"}


class HogQLError(Exception):
    """A query PostHog would refuse with HTTP 400; ``code`` is the API's error code."""

    def __init__(self, detail: str, code: str = "hogql_query_error") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


@dataclass(frozen=True)
class Scan:
    """One SELECT reading ``events``: is it bounded as PostHog wants every scan to be?"""

    timestamp: bool  # WHERE bounds timestamp from below (every OR branch, if any)
    event: bool  # WHERE names the events read (event = / IN constants)

    @property
    def bounded(self) -> bool:
        return self.timestamp and self.event


@dataclass
class Printed:
    clickhouse: str
    page_size: int | None = None
    capped_at: int | None = None
    scans: list[Scan] = field(default_factory=list)
    #: allow-listed functions called without an arity in :mod:`standin.catalog`
    unchecked: list[str] = field(default_factory=list)


def clickhouse_literal(value: Any) -> str:
    """``value`` (a JSON value from ``values``, or an AST constant) as a ClickHouse literal."""
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


def ident(name: str) -> str:
    if _PLAIN.match(name):
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass
class _Scope:
    events: set[str] = field(default_factory=set)  # names `events` goes by in this FROM
    ctes: frozenset[str] = frozenset()


def materialized_column(key: str) -> str:
    """The column PostHog materializes property ``key`` into (``mat_$ai_trace_id``)."""
    return f"mat_{key}"


def property_access(column: str, keys: Sequence[str]) -> str:
    """How PostHog prints ``properties.$x``: the JSON text, unquoted, NULL when absent/null."""
    path = ", ".join(clickhouse_literal(k) for k in keys)
    raw = f"JSONExtractRaw({column}, {path})"
    return f"replaceRegexpAll(nullIf(nullIf({raw}, ''), 'null'), '^\"|\"$', '')"


class Printer:
    def __init__(
        self,
        values: Mapping[str, Any] | None,
        *,
        timezone: str = "UTC",
        convert_timezone: bool = True,
        default_limit: int = 100,
        max_limit: int = 50_000,
        flag_capped_limit: bool = False,
        extra_functions: frozenset[str] = frozenset(),
        materialized: frozenset[str] = frozenset(),
    ) -> None:
        self.values = values
        self.materialized = materialized
        self.timezone = timezone
        self.convert_timezone = convert_timezone
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.flag_capped_limit = flag_capped_limit
        self.extra = extra_functions
        self.result = Printed("")
        self._scopes: list[_Scope] = []

    # -- entry -----------------------------------------------------------------------------

    def print_top(self, node: dict[str, Any]) -> Printed:
        kind = node.get("node")
        if kind == "SelectQuery":
            self.result.clickhouse = self._select(node, top=True)
        elif kind == "SelectSetQuery":
            self.result.clickhouse = self._select_set(node, top=True)
        else:
            raise HogQLError(f"Expected a SELECT query, got {kind}", "hogql_syntax_error")
        return self.result

    # -- queries ---------------------------------------------------------------------------

    def _select_set(self, node: dict[str, Any], top: bool = False) -> str:
        parts = [self._select(node["initial_select_query"], top=top, in_set=True)]
        for sub in node.get("subsequent_select_queries") or []:
            parts.append(sub["set_operator"])
            query = sub["select_query"]
            if query.get("node") == "SelectSetQuery":
                parts.append("(" + self._select_set(query) + ")")
            else:
                parts.append(self._select(query, top=top, in_set=True))
        return " ".join(parts)

    def _select(self, node: dict[str, Any], top: bool = False, in_set: bool = False) -> str:
        if node.get("node") == "SelectSetQuery":
            return "(" + self._select_set(node) + ")"
        if node.get("offset") is not None:
            raise HogQLError(OFFSET_NOT_ALLOWED_MESSAGE)
        limit_by = node.get("limit_by")
        if limit_by and limit_by.get("offset_value") is not None:
            raise HogQLError(OFFSET_NOT_ALLOWED_MESSAGE)
        outer = self._scopes[-1] if self._scopes else _Scope()
        ctes = node.get("ctes") or []
        names = outer.ctes | {c["name"] for c in ctes}
        scope = _Scope(ctes=frozenset(names))
        parts: list[str] = []
        if ctes:
            self._scopes.append(_Scope(ctes=frozenset(names)))
            try:
                printed = [self._cte(c) for c in ctes]
            finally:
                self._scopes.pop()
            parts.append("WITH " + ", ".join(printed))
        self._scopes.append(scope)
        try:
            source = node.get("select_from")
            from_sql = self._join(source, scope) if source else None
            if scope.events:
                where = node.get("where")
                self.result.scans.append(
                    Scan(
                        timestamp=where is not None and self._time_bound(where, scope),
                        event=where is not None and self._event_bound(where, scope),
                    )
                )
            columns = ", ".join(self._column(c, scope) for c in node.get("select") or [])
            parts.append("SELECT " + ("DISTINCT " if node.get("distinct") else "") + columns)
            if from_sql:
                parts.append("FROM " + from_sql)
            if node.get("array_join_op"):
                items = ", ".join(self._expr(a) for a in node.get("array_join_list") or [])
                parts.append(f"{node['array_join_op']} {items}")
            for key, word in (("prewhere", "PREWHERE"), ("where", "WHERE")):
                if node.get(key) is not None:
                    parts.append(f"{word} {self._expr(node[key])}")
            if node.get("group_by"):
                parts.append("GROUP BY " + ", ".join(self._expr(e) for e in node["group_by"]))
            if node.get("having") is not None:
                parts.append("HAVING " + self._expr(node["having"]))
            if node.get("order_by"):
                parts.append("ORDER BY " + ", ".join(self._expr(e) for e in node["order_by"]))
            if limit_by:
                by = ", ".join(self._expr(e) for e in limit_by["exprs"])
                parts.append(f"LIMIT {self._expr(limit_by['n'])} BY {by}")
            parts.append(self._limit(node.get("limit"), top, in_set))
        finally:
            self._scopes.pop()
        return " ".join(p for p in parts if p)

    def _limit(self, limit: dict[str, Any] | None, top: bool, in_set: bool) -> str:
        if not top:
            return f"LIMIT {self._expr(limit)}" if limit is not None else ""
        cap = self.max_limit
        if limit is None:
            if in_set:
                return f"LIMIT {cap}"
            self.result.page_size = self.default_limit
            return f"LIMIT {self.default_limit + 1}"
        value = self._constant_int(limit)
        if value is None:
            return f"LIMIT min2({cap}, {self._expr(limit)})"
        if value > cap:
            if self.flag_capped_limit and not in_set:
                self.result.capped_at = cap
                return f"LIMIT {cap + 1}"
            return f"LIMIT {cap}"
        return f"LIMIT {value}"

    def _constant_int(self, node: dict[str, Any]) -> int | None:
        value: Any = None
        if node.get("node") == "Constant":
            value = node.get("value")
        elif node.get("node") == "Placeholder":
            value = self._placeholder_value(node)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _cte(self, cte: dict[str, Any]) -> str:
        name = ident(cte["name"])
        if cte.get("cte_type") == "column":
            return f"({self._expr(cte['expr'])}) AS {name}"
        return f"{name} AS ({self._select(cte['expr'])})"

    def _join(self, join: dict[str, Any], scope: _Scope) -> str:
        parts: list[str] = []
        current: dict[str, Any] | None = join
        while current is not None:
            table = self._table(current, scope)
            alias = current.get("alias")
            text = table + (f" AS {ident(alias)}" if alias else "")
            if current.get("table_final"):
                text += " FINAL"
            join_type = current.get("join_type")
            if parts or join_type:
                text = f"{join_type or 'JOIN'} {text}"
            constraint = current.get("constraint")
            if constraint:
                text += f" {constraint['constraint_type']} {self._expr(constraint['expr'])}"
            parts.append(text)
            current = current.get("next_join")
        return " ".join(parts)

    def _table(self, join: dict[str, Any], scope: _Scope) -> str:
        table = join["table"]
        kind = table.get("node")
        if kind in ("SelectQuery", "SelectSetQuery"):
            return "(" + self._select(table) + ")"
        if kind != "Field":
            raise HogQLError(f"Unsupported table {kind}", "hogql_query_error")
        chain = [str(c) for c in table["chain"]]
        name = ".".join(chain)
        if join.get("table_args") is not None:
            raise HogQLError(f"Unsupported table function '{name}(...)'; only `events` can be read")
        if len(chain) != 1:
            raise HogQLError(f'Unknown table "{name}".')
        if chain[0] == "events":
            scope.events.add(join.get("alias") or "events")
            return "events"
        if chain[0] in scope.ctes:
            return ident(chain[0])
        raise HogQLError(f'Unknown table "{name}".')

    def _column(self, node: dict[str, Any], scope: _Scope) -> str:
        text = self._expr(node)
        if node.get("node") == "Field":
            chain = [str(c) for c in node["chain"]]
            # PostHog names a printed events field after itself: `timestamp`, not the
            # toTimeZone(...) text, so outer queries can refer to it.
            if self._events_column(chain, scope) is not None and chain != ["*"]:
                return f"{text} AS {ident(chain[-1])}"
        return text

    # -- expressions -----------------------------------------------------------------------

    def _expr(self, node: dict[str, Any] | None) -> str:
        if node is None:
            return "NULL"
        kind = node.get("node")
        method = getattr(self, f"_n_{kind}", None)
        if method is None:
            raise HogQLError(f"The stand-in does not print {kind} nodes", "standin_unsupported")
        return str(method(node))

    def _n_SelectQuery(self, node: dict[str, Any]) -> str:
        return "(" + self._select(node) + ")"

    def _n_SelectSetQuery(self, node: dict[str, Any]) -> str:
        return "(" + self._select_set(node) + ")"

    def _n_Constant(self, node: dict[str, Any]) -> str:
        return clickhouse_literal(node.get("value"))

    def _placeholder_value(self, node: dict[str, Any]) -> Any:
        expr = node.get("expr") or {}
        chain = expr.get("chain") if isinstance(expr, dict) else None
        if not chain or len(chain) != 1:
            raise HogQLError("Placeholders must be a single name, like {name}")
        name = str(chain[0])
        if not self.values:
            raise HogQLError(f"Unresolved placeholder: {{{name}}}")
        if name not in self.values:
            raise HogQLError(
                f"Placeholder {{{name}}} is not available in this context. "
                "You can use the following: " + ", ".join(str(k) for k in self.values)
            )
        return self.values[name]

    def _n_Placeholder(self, node: dict[str, Any]) -> str:
        return clickhouse_literal(self._placeholder_value(node))

    def _n_Alias(self, node: dict[str, Any]) -> str:
        return f"{self._expr(node['expr'])} AS {ident(node['alias'])}"

    def _n_Field(self, node: dict[str, Any]) -> str:
        chain = [str(c) for c in node["chain"]]
        if chain == ["*"]:
            return "*"
        scope = self._scopes[-1] if self._scopes else _Scope()
        if chain[0].lower() in _FORBIDDEN_DATABASES and len(chain) > 1:
            raise HogQLError(f'Unknown table "{".".join(chain)}".')
        found = self._events_column(chain, scope)
        if found is None:
            return ".".join(ident(c) for c in chain)
        qualifier, column, rest = found
        base = f"{qualifier}.{column}"
        if column == "properties" and len(rest) == 1 and rest[0] in self.materialized:
            return f"{qualifier}.{ident(materialized_column(rest[0]))}"
        if column == "properties" and rest:
            return property_access(base, rest)
        if rest:
            raise HogQLError(f"Can not access property {'.'.join(rest)} on field {column}")
        if column == "timestamp" and self.convert_timezone:
            return f"toTimeZone({base}, {clickhouse_literal(self.timezone)})"
        return base

    @staticmethod
    def _events_column(chain: list[str], scope: _Scope) -> tuple[str, str, list[str]] | None:
        """(qualifier, column, rest) when `chain` names a column of `events` in `scope`."""
        if not scope.events:
            return None
        if len(chain) >= 2 and chain[0] in scope.events and chain[1] in EVENTS_COLUMNS:
            return ident(chain[0]), chain[1], chain[2:]
        if chain[0] in EVENTS_COLUMNS:
            return ident(sorted(scope.events)[0]), chain[0], chain[1:]
        return None

    def _n_Call(self, node: dict[str, Any]) -> str:
        name = str(node["name"])
        args = node.get("args") or []
        if name.lower() in _LOGIC_CALLS:
            return "(" + f" {_LOGIC_CALLS[name.lower()]} ".join(self._expr(a) for a in args) + ")"
        if name.lower() == "not" and len(args) == 1:
            return f"NOT ({self._expr(args[0])})"
        spec = self._function(name)
        bounds = catalog.arity(name)
        if bounds is not None:
            problem = catalog.arity_error(name, len(args), bounds)
            if problem:
                raise HogQLError(problem)
        elif name not in self.extra:
            self.result.unchecked.append(name)
        printed = [self._expr(a) for a in args]
        printed.extend(spec.suffix_args)
        clickhouse = spec.clickhouse
        max_args = catalog.TZ_AWARE.get(name)
        if max_args is not None:
            override = len(args) == max_args
            if not override:
                printed.append(clickhouse_literal(self.timezone))
            if clickhouse in catalog.NEEDS_PRECISION and (
                len(args) == (0 if clickhouse == "now64" else 1)
                or (override and len(args) == (1 if clickhouse == "now64" else 2))
            ):
                printed = [*printed[:-1], "6", *printed[-1:]]
        params = node.get("params")
        params_sql = f"({', '.join(self._expr(p) for p in params)})" if params is not None else ""
        distinct = "DISTINCT " if node.get("distinct") else ""
        return f"{clickhouse}{params_sql}({distinct}{', '.join(printed)})"

    def _function(self, name: str) -> FunctionSpec:
        spec = lookup(name, self.extra)
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

    def _n_CompareOperation(self, node: dict[str, Any]) -> str:
        op = node["op"]
        left, right = self._expr(node["left"]), self._expr(node["right"])
        right_node = node["right"]
        is_null = right_node.get("node") == "Constant" and right_node["value"] is None
        if op in ("==", "!=") and is_null:
            return f"({left} IS {'NOT ' if op == '!=' else ''}NULL)"
        if op in _REGEX:
            return "(" + _REGEX[op].format(left, right) + ")"
        if op not in _COMPARE:
            raise HogQLError(f"The stand-in does not print {op!r}", "standin_unsupported")
        return f"({left} {_COMPARE[op]} {right})"

    def _n_And(self, node: dict[str, Any]) -> str:
        return "(" + " AND ".join(self._expr(e) for e in node["exprs"]) + ")"

    def _n_Or(self, node: dict[str, Any]) -> str:
        return "(" + " OR ".join(self._expr(e) for e in node["exprs"]) + ")"

    def _n_Not(self, node: dict[str, Any]) -> str:
        return f"NOT ({self._expr(node['expr'])})"

    def _n_ArithmeticOperation(self, node: dict[str, Any]) -> str:
        return f"({self._expr(node['left'])} {node['op']} {self._expr(node['right'])})"

    def _n_Array(self, node: dict[str, Any]) -> str:
        return "[" + ", ".join(self._expr(e) for e in node.get("exprs") or []) + "]"

    def _n_Tuple(self, node: dict[str, Any]) -> str:
        return "tuple(" + ", ".join(self._expr(e) for e in node.get("exprs") or []) + ")"

    def _n_TupleAccess(self, node: dict[str, Any]) -> str:
        return f"tupleElement({self._expr(node['tuple'])}, {int(node['index'])})"

    def _n_ArrayAccess(self, node: dict[str, Any]) -> str:
        return f"arrayElement({self._expr(node['array'])}, {self._expr(node['property'])})"

    def _n_BetweenExpr(self, node: dict[str, Any]) -> str:
        word = "NOT BETWEEN" if node.get("negated") else "BETWEEN"
        low, high = self._expr(node["low"]), self._expr(node["high"])
        return f"({self._expr(node['expr'])} {word} {low} AND {high})"

    def _n_Lambda(self, node: dict[str, Any]) -> str:
        names = [ident(str(a)) for a in node["args"]]
        head = names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"
        return f"{head} -> {self._expr(node['expr'])}"

    def _n_OrderExpr(self, node: dict[str, Any]) -> str:
        return f"{self._expr(node['expr'])} {node.get('order') or 'ASC'}"

    def _n_WindowFunction(self, node: dict[str, Any]) -> str:
        name = str(node["name"])
        self._function(name)
        args = ", ".join(self._expr(e) for e in (node.get("exprs") or node.get("args") or []))
        over = node.get("over_expr") or {}
        parts = []
        if over.get("partition_by"):
            parts.append("PARTITION BY " + ", ".join(self._expr(e) for e in over["partition_by"]))
        if over.get("order_by"):
            parts.append("ORDER BY " + ", ".join(self._expr(e) for e in over["order_by"]))
        return f"{name}({args}) OVER ({' '.join(parts)})"

    # -- bounded scans ---------------------------------------------------------------------

    def _is_events_field(self, node: dict[str, Any], column: str, scope: _Scope) -> bool:
        if node.get("node") != "Field":
            return False
        chain = [str(c) for c in node["chain"]]
        qualified = len(chain) == 2 and chain[0] in scope.events and chain[1] == column
        return chain == [column] or qualified

    def _time_bound(self, node: dict[str, Any], scope: _Scope) -> bool:
        kind = node.get("node")
        if kind == "And":
            return any(self._time_bound(e, scope) for e in node["exprs"])
        if kind == "Or":
            return all(self._time_bound(e, scope) for e in node["exprs"])
        if kind == "CompareOperation":
            op = node["op"]
            left = op in (">", ">=") and self._is_events_field(node["left"], "timestamp", scope)
            right = op in ("<", "<=") and self._is_events_field(node["right"], "timestamp", scope)
            return left or right
        if kind == "BetweenExpr":
            inside = self._is_events_field(node["expr"], "timestamp", scope)
            return inside and not node.get("negated")
        return False

    def _event_bound(self, node: dict[str, Any], scope: _Scope) -> bool:
        kind = node.get("node")
        if kind == "And":
            return any(self._event_bound(e, scope) for e in node["exprs"])
        if kind == "Or":
            return all(self._event_bound(e, scope) for e in node["exprs"])
        if kind == "CompareOperation" and node["op"] in ("==", "in"):
            constant = node["right"].get("node") in ("Constant", "Tuple", "Array", "Placeholder")
            return constant and self._is_events_field(node["left"], "event", scope)
        return False
