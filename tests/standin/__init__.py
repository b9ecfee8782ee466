"""A PostHog query-API stand-in for the test suite: real ClickHouse (chDB) behind HTTP.

    from standin import StandIn

    with StandIn(rows, api_key="phx_test", project_id=1) as s:
        response = httpx.post(
            s.query_url,
            headers=s.auth_headers,
            json={"query": {"kind": "HogQLQuery", "query": "SELECT count() FROM events"}},
        )

See :class:`StandIn` for options, :meth:`StandIn.inject` for faults, :mod:`standin.hogql`
for what is emulated of HogQL and :mod:`standin.functions` for the function allow-list.
"""

from .engine import Engine, QueryResult
from .functions import HOGQL_FUNCTIONS, FunctionSpec
from .hogql import HogQLError, Translation, clickhouse_literal, translate
from .server import FAULT_KINDS, Fault, RequestRecord, StandIn

__all__ = [
    "FAULT_KINDS",
    "HOGQL_FUNCTIONS",
    "Engine",
    "Fault",
    "FunctionSpec",
    "HogQLError",
    "QueryResult",
    "RequestRecord",
    "StandIn",
    "Translation",
    "clickhouse_literal",
    "translate",
]
