"""PostHog's own HogQL parser (``hogql-parser`` on PyPI), as a JSON AST.

The compiled module imports ``posthog.hogql.errors`` when it loads, to raise PostHog's
error classes. Outside PostHog that package does not exist, so a minimal stand-in for
it is registered first (only if no real ``posthog`` package is importable). The JSON
entry points report errors in the returned JSON rather than raising, which is what
:func:`parse_select` reads.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types
from typing import Any

import orjson


def _errors_module() -> types.ModuleType:
    module = types.ModuleType("posthog.hogql.errors")

    class BaseHogQLError(Exception):
        def __init__(self, message: str = "", *args: Any, **kwargs: Any) -> None:
            super().__init__(message)
            self.message = message
            self.start = kwargs.get("start")
            self.end = kwargs.get("end")

    module.BaseHogQLError = BaseHogQLError  # type: ignore[attr-defined]
    for name in ("SyntaxError", "NotImplementedError", "ParsingError", "QueryError"):
        setattr(module, name, type(name, (BaseHogQLError,), {}))
    return module


def _install_posthog_shim() -> None:
    if "posthog.hogql.errors" in sys.modules or importlib.util.find_spec("posthog") is not None:
        return
    for name in ("posthog", "posthog.hogql"):
        package = types.ModuleType(name)
        package.__path__ = []
        sys.modules.setdefault(name, package)
    sys.modules["posthog.hogql.errors"] = _errors_module()


_install_posthog_shim()

import hogql_parser  # noqa: E402  (needs the shim above)


class ParseError(Exception):
    """PostHog's parser refused the text: ``kind`` is its error type, ``start`` the offset."""

    def __init__(self, kind: str, message: str, start: int | None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.start = start


@functools.lru_cache(maxsize=256)
def _parse_json(query: str) -> str:
    # PostHog's parser needs about a second for the gate's queries (its time grows
    # steeply with nesting); their texts repeat (values travel separately), so the
    # test suite parses each once.
    return str(hogql_parser.parse_select_json(query, is_internal=True))


def parse_select(query: str) -> dict[str, Any]:
    """The JSON AST of a SELECT (or set of SELECTs), as PostHog's parser builds it."""
    doc = orjson.loads(_parse_json(query))
    if isinstance(doc, dict) and doc.get("error"):
        start = doc.get("start")
        offset = start.get("offset") if isinstance(start, dict) else None
        raise ParseError(str(doc.get("type")), str(doc.get("message")), offset)
    if not isinstance(doc, dict):
        raise ParseError("SyntaxError", "the parser returned no query", None)
    return doc
