"""From the HogQL text a client sends to the ClickHouse SQL the stand-in runs.

PostHog's own parser (:mod:`standin.parser`) reads the text; what it refuses is a 400
with its message. The AST is then printed as PostHog prints it (:mod:`standin.printer`):
property access, the project timezone, the function catalog with arities, placeholders,
OFFSET refused, HogQL's row limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .parser import ParseError, parse_select
from .printer import (
    OFFSET_NOT_ALLOWED_MESSAGE,
    HogQLError,
    Printer,
    Scan,
    clickhouse_literal,
    property_access,
)

__all__ = [
    "OFFSET_NOT_ALLOWED_MESSAGE",
    "HogQLError",
    "Scan",
    "Translation",
    "clickhouse_literal",
    "property_access",
    "translate",
]


@dataclass
class Translation:
    """The result of :func:`translate`."""

    #: ClickHouse SQL to run (without SETTINGS)
    clickhouse: str
    #: the query as the client sent it (PostHog echoes it as ``hogql``)
    hogql: str
    #: page size when HogQL's default limit applies (the SQL fetches one row more)
    page_size: int | None = None
    #: set when an explicit LIMIT was lowered to the cap and the SQL fetches cap + 1
    capped_at: int | None = None
    #: every SELECT that reads `events`, and whether it is bounded
    scans: list[Scan] = field(default_factory=list)
    #: allow-listed functions the catalog has no arity for
    unchecked: list[str] = field(default_factory=list)


def translate(
    query: str,
    values: Mapping[str, Any] | None,
    *,
    timezone: str = "UTC",
    convert_timezone: bool = True,
    default_limit: int = 100,
    max_limit: int = 50_000,
    flag_capped_limit: bool = False,
    extra_functions: frozenset[str] = frozenset(),
    materialized: frozenset[str] = frozenset(),
) -> Translation:
    """Parse ``query`` with PostHog's parser and print it for ClickHouse.

    ``materialized``: the properties the project keeps in ``mat_<key>`` columns.
    """
    if not query.strip():
        raise HogQLError("Empty query", "hogql_syntax_error")
    try:
        ast = parse_select(query)
    except ParseError as exc:
        where = f" at position {exc.start}" if exc.start is not None else ""
        code = "hogql_syntax_error" if exc.kind == "SyntaxError" else "hogql_query_error"
        raise HogQLError(f"Syntax error{where}: {exc.message}", code) from None
    printed = Printer(
        values,
        timezone=timezone,
        convert_timezone=convert_timezone,
        default_limit=default_limit,
        max_limit=max_limit,
        flag_capped_limit=flag_capped_limit,
        extra_functions=extra_functions,
        materialized=materialized,
    ).print_top(ast)
    return Translation(
        clickhouse=printed.clickhouse,
        hogql=query,
        page_size=printed.page_size,
        capped_at=printed.capped_at,
        scans=printed.scans,
        unchecked=printed.unchecked,
    )
