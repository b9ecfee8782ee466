"""A PostHog query-API stand-in for the test suite: real ClickHouse (chDB) behind HTTP.

    from standin import StandIn

    with StandIn(rows, api_key="phx_test", project_id=1) as s:
        response = httpx.post(
            s.query_url,
            headers=s.auth_headers,
            json={"query": {"kind": "HogQLQuery", "query": "SELECT count() FROM events"}},
        )

See :class:`StandIn` for options, :meth:`StandIn.inject` for faults, :mod:`standin.hogql`
for how a query is parsed (PostHog's parser) and printed, :mod:`standin.functions` for the
function allow-list, :mod:`standin.catalog` for arities and :mod:`standin.checks` for the
fixture failing tests on unbounded scans.
"""

from .catalog import ARITY
from .engine import Engine, QueryResult
from .functions import HOGQL_FUNCTIONS, FunctionSpec
from .hogql import HogQLError, Scan, Translation, clickhouse_literal, property_access, translate
from .server import FAULT_KINDS, OFFENCES, Fault, RequestRecord, StandIn

__all__ = [
    "ARITY",
    "FAULT_KINDS",
    "HOGQL_FUNCTIONS",
    "OFFENCES",
    "Engine",
    "Fault",
    "FunctionSpec",
    "HogQLError",
    "QueryResult",
    "RequestRecord",
    "Scan",
    "StandIn",
    "Translation",
    "clickhouse_literal",
    "property_access",
    "translate",
]
