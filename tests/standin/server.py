"""A PostHog query-API stand-in on loopback, backed by chDB.

Endpoints (``{pid}`` is the project id; ``/api/environments/{pid}/...`` works too):

``POST /api/projects/{pid}/query/``
    HogQL query; 200 with PostHog's ``HogQLQueryResponse`` shape, 202 when async.
``GET /api/projects/{pid}/query/{query_id}/``
    async status: 202 ``{"query_status": {"complete": false, ...}}`` until complete, then
    200 ``{"query_status": {"complete": true, "results": <the 200 body>, ...}}``; an async
    query that failed answers 400 with ``error: true`` and ``error_message``.
``GET /api/projects/{pid}/llm_analytics/clustering_jobs/``
    limit/offset pagination: ``{"count", "next", "previous", "results"}``, ``next`` an
    absolute URL on the stand-in.

Auth is a personal API key in ``Authorization: Bearer``; the query endpoints need the
``query:read`` scope, clustering jobs ``llm_analytics:read``.

The request body is validated as PostHog's ``QueryRequest`` (``posthog/schema.py``, extra
fields forbidden): unknown top-level fields, unknown HogQLQuery fields or modifiers and
unknown ``refresh`` values are a 400. Every query is parsed by PostHog's parser and
printed as PostHog prints it (:mod:`standin.hogql`); every SELECT reading ``events``
without a lower ``timestamp`` bound and an ``event`` filter is recorded in
:data:`OFFENCES` (and ``StandIn.unbounded_scans``), as is every call the function
catalog has no arity for, so tests can fail on them.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import math
import os
import re
import socket
import threading
import uuid as uuid_mod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from .engine import Engine
from .hogql import HogQLError, translate

FaultKind = Literal[
    "402",
    "429",
    "500",
    "502",
    "503",
    "504",
    "512",
    "513",
    "202",
    "slow",
    "drop",
    "malformed",
    "truncated",
]
Endpoint = Literal["query", "poll", "jobs", "any"]
FAULT_KINDS: frozenset[str] = frozenset(
    {
        "402",
        "429",
        "500",
        "502",
        "503",
        "504",
        "512",
        "513",
        "202",
        "slow",
        "drop",
        "malformed",
        "truncated",
    }
)

# PostHog's texts for queries it stops or refuses (posthog/exceptions.py).
TIMEOUT_DETAIL = (
    "Query has hit the max execution time before completing. See our docs for how to "
    "improve your query performance. You may need to materialize."
)
MEMORY_DETAIL = (
    "Query has reached the max memory limit before completing. See our docs for how to "
    "improve your query memory footprint. You may need to narrow date range or materialize."
)
TOO_LONG_DETAIL = (
    "Estimated query execution time is too long. Try reducing its scope by changing the time range."
)
# The stand-in's own text: PostHog's quota message varies with the plan.
QUOTA_DETAIL = "Your organization has exceeded its query quota for this billing period."
_QUERY_ERRORS = {
    "402": ("invalid_request", "payment_required", QUOTA_DETAIL),
    "504": ("server_error", "error", TIMEOUT_DETAIL),
    "512": ("server_error", "error", TOO_LONG_DETAIL),
    "513": ("server_error", "memory_limit_exceeded", MEMORY_DETAIL),
}

# QueryRequest's fields (posthog/schema.py); PostHog forbids any other.
REQUEST_FIELDS = frozenset(
    {
        "query",
        "refresh",
        "client_query_id",
        "async",
        "filters_override",
        "variables_override",
        "name",
    }
)
HOGQL_QUERY_FIELDS = frozenset(
    {
        "kind",
        "query",
        "values",
        "modifiers",
        "filters",
        "variables",
        "name",
        "explain",
        "response",
        "tags",
        "version",
        "connectionId",
        "sendRawQuery",
    }
)
# A subset of HogQLQueryModifiers: the ones a query-API client plausibly sends.
MODIFIERS = frozenset(
    {
        "convertToProjectTimezone",
        "personsOnEventsMode",
        "personsArgMaxVersion",
        "inCohortVia",
        "materializationMode",
        "propertyGroupsMode",
        "useMaterializedViews",
        "debug",
        "timings",
        "s3TableUseInvalidColumns",
        "optimizeJoinedFilters",
    }
)
REFRESH_VALUES = frozenset(
    {
        "async",
        "async_except_on_cache_miss",
        "blocking",
        "force_async",
        "force_blocking",
        "force_cache",
        "lazy_async",
    }
)

#: Every unbounded `events` scan or arity-unchecked call any stand-in saw, as
#: "<query name>: <what>"; the live tests fail on any (see standin.checks).
OFFENCES: list[str] = []

_ROUTE = re.compile(
    r"^/api/(?:projects|environments)/(?P<pid>[^/]+)/"
    r"(?:(?P<query>query)(?:/(?P<qid>[^/]+))?|(?P<jobs>llm_analytics/clustering_jobs))/?$"
)
_SCOPE_QUERY = "query:read"
_SCOPE_JOBS = "llm_analytics:read"
_ASYNC_REFRESH = frozenset({"async", "force_async", "async_except_on_cache_miss"})


class RequestRecord(NamedTuple):
    """One request as the stand-in saw it (``status`` 0 = connection dropped).

    ``refresh`` and ``modifiers``: what a query request's body asked for.
    """

    method: str
    path: str
    request_bytes: int
    response_bytes: int
    status: int
    name: str | None
    refresh: object = None
    modifiers: object = None


@dataclass
class Fault:
    """A queued fault; see :meth:`StandIn.inject`."""

    kind: str
    endpoint: str = "query"
    query_name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _AsyncQuery:
    id: str
    team_id: int
    polls_left: int
    status: int
    body: dict[str, Any]
    started: str


class _Reply(Exception):
    """Raised inside handlers to answer with ``status`` and a JSON ``body``."""

    def __init__(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = dict(body)
        self.headers = dict(headers or {})


def _error(status: int, type_: str, code: str, detail: str) -> _Reply:
    return _Reply(status, {"type": type_, "code": code, "detail": detail, "attr": None})


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class StandIn:
    """PostHog's query API on ``127.0.0.1`` with a real ClickHouse (chDB) behind it.

    ``rows``: PostHog event dicts (``uuid``, ``event``, ``timestamp``, ``distinct_id``,
    ``properties``), or a path to a ``.jsonl``/``.jsonl.gz`` file of them.

    Use as a context manager (or call :meth:`start` / :meth:`close`)::

        with StandIn(rows, api_key="phx_test", project_id=1) as s:
            httpx.post(f"{s.url}/api/projects/1/query/", headers=s.auth_headers, json=...)
            s.requests          # what the client sent, with byte counts
            s.inject("429", retry_after=2)

    Options mirror PostHog's limits: ``default_limit`` (rows without a LIMIT, 100),
    ``max_limit`` (the cap on an explicit LIMIT, 50,000), ``max_execution_time``
    (seconds, 10 as on the public API). ``flag_capped_limit=True`` reports ``hasMore``
    when an explicit LIMIT above the cap was truncated (PostHog itself does not).
    ``scopes``: the key's scopes (``"*"`` for all). ``jobs_page_size``: default page
    size of the clustering-jobs list. ``async_polls``: polls answered 202 before an
    async query (``refresh: "async"``) completes. ``extra_functions``: ClickHouse
    functions to accept beyond HogQL's allow-list. ``timezone``: the project's
    timezone (``timestamp`` is converted to it unless a query's modifiers say
    ``convertToProjectTimezone: false``; timezone-aware functions default to it).
    ``materialized``: properties kept in PostHog's ``mat_<key>`` columns (a Nullable
    String with a bloom-filter index); property access reads them from the column.
    """

    def __init__(
        self,
        rows: Iterable[Mapping[str, Any]] | str | os.PathLike[str] = (),
        *,
        api_key: str = "phx_test",
        project_id: int = 1,
        scopes: Iterable[str] | str = (_SCOPE_QUERY, _SCOPE_JOBS),
        default_limit: int = 100,
        max_limit: int = 50_000,
        max_execution_time: float = 10.0,
        flag_capped_limit: bool = False,
        jobs_page_size: int = 100,
        async_polls: int = 1,
        clustering_jobs: Sequence[Mapping[str, Any]] = (),
        extra_functions: Iterable[str] = (),
        timezone: str = "UTC",
        materialized: Iterable[str] = (),
    ) -> None:
        self.api_key = api_key
        self.timezone = timezone
        #: "<name>: ..." for every SELECT on `events` lacking a timestamp or event bound
        self.unbounded_scans: list[str] = []
        #: "<name>: fn" for every allow-listed call the catalog has no arity for
        self.unchecked_calls: list[str] = []
        self.project_id = project_id
        self.scopes: frozenset[str] = frozenset([scopes] if isinstance(scopes, str) else scopes)
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.max_execution_time = max_execution_time
        self.flag_capped_limit = flag_capped_limit
        self.jobs_page_size = jobs_page_size
        self.async_polls = async_polls
        self.clustering_jobs: list[Mapping[str, Any]] = list(clustering_jobs)
        self.extra_functions = frozenset(extra_functions)
        #: every request handled, in order
        self.requests: list[RequestRecord] = []
        #: (fault kind, path) of every fault that fired
        self.faults_fired: list[tuple[str, str]] = []

        self._lock = threading.Lock()
        self._faults: collections.deque[Fault] = collections.deque()
        self._async: dict[str, _AsyncQuery] = {}
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.materialized = frozenset(materialized)
        self.engine = Engine(team_id=project_id, materialized=sorted(self.materialized))
        try:
            if isinstance(rows, (str, os.PathLike)):
                self.row_count = self.engine.load_file(rows)
            else:
                self.row_count = self.engine.load_rows(rows)
        except BaseException:
            self.engine.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> StandIn:
        """Bind a free port on 127.0.0.1 and serve in a background thread."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="llmc-standin", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and drop the chDB session (idempotent)."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.engine.close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- public helpers --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the stand-in must be started)."""
        if self._server is None:
            raise RuntimeError("the stand-in is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def query_url(self) -> str:
        return f"{self.url}/api/projects/{self.project_id}/query/"

    @property
    def jobs_url(self) -> str:
        return f"{self.url}/api/projects/{self.project_id}/llm_analytics/clustering_jobs/"

    def inject(
        self,
        kind: FaultKind | int,
        times: int = 1,
        *,
        endpoint: Endpoint = "query",
        query_name: str | None = None,
        **params: Any,
    ) -> None:
        """Queue ``times`` faults of ``kind`` for the next matching requests (FIFO).

        ``endpoint``: ``"query"`` (POST query, default), ``"poll"`` (GET query status),
        ``"jobs"`` (clustering jobs) or ``"any"``; ``query_name`` restricts a fault to
        query requests with that ``name``. Parameters by kind:

        * ``429``: ``retry_after`` (seconds or an HTTP-date string; default 1; None omits
          the header);
        * ``500``/``502``/``503``: optional ``retry_after``;
        * ``504``: PostHog's query-timeout answer (``cause="memory"``: its memory-limit
          text, as older releases sent it); ``512``: "estimated execution time is too
          long"; ``513``: the memory limit (newer releases); ``402``: the query quota;
        * ``202``: ``polls`` = status polls answered 202 before completion (default 1);
        * ``slow``: ``seconds`` to wait before answering normally (default 1.0);
        * ``drop``: close the connection without a response;
        * ``malformed``: 200 with a body that is not JSON;
        * ``truncated``: 200 cut after ``fraction`` (default 0.5) of the body;
          ``full_length`` (default True) keeps the full Content-Length (the client sees a
          short read), False ends the body at the cut (the client sees broken JSON).
        """
        name = str(kind)
        if name not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if endpoint not in ("query", "poll", "jobs", "any"):
            raise ValueError(f"unknown endpoint {endpoint!r}")
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(name, endpoint, query_name, dict(params)))

    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def query_requests(self) -> list[RequestRecord]:
        """Requests made to the query endpoints (POST and polls)."""
        return [r for r in self.requests if "/query" in r.path]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults_fired.clear()

    def run(
        self,
        query: str,
        values: Mapping[str, Any] | None = None,
        modifiers: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Answer a HogQL query in-process (no HTTP): the 200 body, or raises HogQLError."""
        return self._run_query(query, values, modifiers or {}, None)

    # -- internals -------------------------------------------------------------------------

    def _take_fault(self, endpoint: str, name: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint not in (endpoint, "any"):
                    continue
                if fault.query_name is not None and fault.query_name != name:
                    continue
                self._faults.remove(fault)
                return fault
        return None

    def _record(self, record: RequestRecord, fault: Fault | None) -> None:
        with self._lock:
            self.requests.append(record)
            if fault is not None:
                self.faults_fired.append((fault.kind, record.path))

    def _run_query(
        self,
        query: str,
        values: Mapping[str, Any] | None,
        modifiers: Mapping[str, Any],
        name: str | None,
    ) -> dict[str, Any]:
        tr = translate(
            query,
            values,
            timezone=self.timezone,
            convert_timezone=modifiers.get("convertToProjectTimezone", True) is not False,
            default_limit=self.default_limit,
            max_limit=self.max_limit,
            flag_capped_limit=self.flag_capped_limit,
            extra_functions=self.extra_functions,
            materialized=self.materialized,
        )
        label = name or query.strip().splitlines()[0][:60]
        offences = [
            f"{label}: a scan of events without "
            + " and ".join(
                what
                for what, ok in (("a timestamp bound", t.timestamp), ("an event filter", t.event))
                if not ok
            )
            for t in tr.scans
            if not t.bounded
        ]
        unchecked = [
            f"{label}: {fn}(...) has no arity in standin.catalog"
            for fn in dict.fromkeys(tr.unchecked)
        ]
        with self._lock:
            self.unbounded_scans.extend(offences)
            self.unchecked_calls.extend(unchecked)
            OFFENCES.extend(offences + unchecked)
        result = self.engine.execute(tr.clickhouse, max_execution_time=self.max_execution_time)
        rows = result.rows
        has_more: bool | None = None
        limit: int | None = None
        offset: int | None = None
        if tr.page_size is not None:
            has_more = len(rows) > tr.page_size
            rows = rows[: tr.page_size]
            limit, offset = tr.page_size, 0
        elif tr.capped_at is not None:
            has_more = len(rows) > tr.capped_at
            rows = rows[: tr.capped_at]
            limit, offset = tr.capped_at, 0
        return {
            "cache_key": f"standin_{uuid_mod.uuid4().hex}",
            "is_cached": False,
            "last_refresh": _now_iso(),
            "timezone": self.timezone,
            "query_status": None,
            "error": None,
            "results": rows,
            "columns": result.columns,
            "types": [
                [name, type_] for name, type_ in zip(result.columns, result.types, strict=True)
            ],
            "hasMore": has_more,
            "limit": limit,
            "offset": offset,
            "query": query,
            "hogql": tr.hogql,
            "clickhouse": tr.clickhouse,
            "modifiers": dict(modifiers),
            "timings": [],
        }

    # request handlers: return or raise a _Reply

    def _authenticate(self, auth: str | None, pid: str, scope: str) -> None:
        if not auth:
            raise _error(
                401,
                "authentication_error",
                "not_authenticated",
                "Authentication credentials were not provided.",
            )
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key:
            raise _error(
                401,
                "authentication_error",
                "authentication_failed",
                "Personal API key found in request Authorization header is invalid.",
            )
        if pid != str(self.project_id):
            raise _error(404, "invalid_request", "not_found", "Not found.")
        if "*" not in self.scopes and scope not in self.scopes:
            raise _error(
                403,
                "authentication_error",
                "permission_denied",
                f"API key missing required scope '{scope}'",
            )

    def _handle_query(self, payload: Any, name_out: list[str | None]) -> _Reply:
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), dict):
            raise _error(400, "validation_error", "invalid_input", "Field 'query' is required.")
        query_node = payload["query"]
        name = payload.get("name") or query_node.get("name")
        name_out[0] = name if isinstance(name, str) else None
        _validate_request(payload)
        if query_node.get("kind") != "HogQLQuery":
            raise _error(
                400,
                "validation_error",
                "invalid_input",
                f"The stand-in only answers HogQLQuery, not {query_node.get('kind')!r}",
            )
        text = query_node.get("query")
        if not isinstance(text, str):
            raise _error(400, "validation_error", "invalid_input", "query.query must be a string")
        values = query_node.get("values")
        if values is not None and not isinstance(values, dict):
            raise _error(400, "validation_error", "invalid_input", "query.values must be an object")
        client_id = payload.get("client_query_id")
        client_id = client_id if isinstance(client_id, str) and client_id else None
        run_async = payload.get("refresh") in _ASYNC_REFRESH
        modifiers = query_node.get("modifiers") or {}
        try:
            body = self._run_query(text, values, modifiers, name_out[0])
        except HogQLError as exc:
            if run_async:
                return self._start_async(400, _hogql_error_body(exc), self.async_polls, client_id)
            raise _Reply(400, _hogql_error_body(exc)) from exc
        if run_async:
            return self._start_async(200, body, self.async_polls, client_id)
        return _Reply(200, body)

    def _start_async(
        self, status: int, body: dict[str, Any], polls: int, query_id: str | None = None
    ) -> _Reply:
        query_id = query_id or uuid_mod.uuid4().hex
        entry = _AsyncQuery(query_id, self.project_id, max(0, polls), status, body, _now_iso())
        with self._lock:
            self._async[query_id] = entry
        return _Reply(
            202,
            {"cache_key": f"standin_{query_id}", "query_status": _status(entry, complete=False)},
        )

    def _handle_poll(self, query_id: str) -> _Reply:
        with self._lock:
            entry = self._async.get(query_id)
            if entry is not None and entry.polls_left > 0:
                entry.polls_left -= 1
                return _Reply(202, {"query_status": _status(entry, complete=False)})
        if entry is None:
            raise _error(404, "invalid_request", "not_found", f"Query {query_id} not found.")
        return _Reply(
            200 if entry.status == 200 else 400,
            {"query_status": _status(entry, complete=True)},
        )

    def _handle_jobs(self, query: str) -> _Reply:
        params = parse_qs(query)
        try:
            limit = int(params.get("limit", [self.jobs_page_size])[0])
            offset = int(params.get("offset", [0])[0])
        except ValueError as exc:
            raise _error(400, "validation_error", "invalid_input", "bad limit/offset") from exc
        limit = max(1, limit)
        offset = max(0, offset)
        jobs = list(self.clustering_jobs)
        page = jobs[offset : offset + limit]
        base = self.jobs_url

        def link(off: int) -> str:
            return base + "?" + urlencode({"limit": limit, "offset": off})

        return _Reply(
            200,
            {
                "count": len(jobs),
                "next": link(offset + limit) if offset + limit < len(jobs) else None,
                "previous": (
                    None
                    if offset == 0
                    else (base + "?" + urlencode({"limit": limit}))
                    if offset - limit <= 0
                    else link(offset - limit)
                ),
                "results": page,
            },
        )


def _extra_inputs(model: str, fields: Iterable[str]) -> _Reply:
    lines = [f"{len(list(fields))} validation error(s) for {model}"]
    lines.extend(f"{f}\n  Extra inputs are not permitted" for f in fields)
    return _error(400, "validation_error", "invalid_input", "\n".join(lines))


def _validate_request(payload: Mapping[str, Any]) -> None:
    """PostHog's QueryRequest / HogQLQuery / HogQLQueryModifiers: extra fields forbidden."""
    extra = sorted(set(payload) - REQUEST_FIELDS)
    if extra:
        raise _extra_inputs("QueryRequest", extra)
    refresh = payload.get("refresh")
    if refresh is not None and not isinstance(refresh, bool) and refresh not in REFRESH_VALUES:
        raise _error(
            400,
            "validation_error",
            "invalid_input",
            f"1 validation error for QueryRequest\nrefresh\n  Input should be one of "
            f"{', '.join(sorted(REFRESH_VALUES))} [input_value={refresh!r}]",
        )
    node = payload["query"]
    if node.get("kind") == "HogQLQuery":
        extra = sorted(set(node) - HOGQL_QUERY_FIELDS)
        if extra:
            raise _extra_inputs("HogQLQuery", extra)
    modifiers = node.get("modifiers")
    if modifiers is None:
        return
    if not isinstance(modifiers, dict):
        raise _error(400, "validation_error", "invalid_input", "query.modifiers must be an object")
    extra = sorted(set(modifiers) - MODIFIERS)
    if extra:
        raise _extra_inputs("HogQLQueryModifiers", extra)
    convert = modifiers.get("convertToProjectTimezone")
    if convert is not None and not isinstance(convert, bool):
        raise _error(
            400,
            "validation_error",
            "invalid_input",
            "1 validation error for HogQLQueryModifiers\nconvertToProjectTimezone\n"
            "  Input should be a valid boolean",
        )


def _status(entry: _AsyncQuery, *, complete: bool) -> dict[str, Any]:
    failed = complete and entry.status != 200
    return {
        "id": entry.id,
        "query_async": True,
        "team_id": entry.team_id,
        "complete": complete,
        "error": failed,
        "error_message": entry.body.get("detail") if failed else None,
        "results": entry.body if complete and not failed else None,
        "start_time": entry.started,
        "end_time": _now_iso() if complete else None,
        "expiration_time": None,
        "task_id": None,
        "query_progress": None,
    }


def _hogql_error_body(exc: HogQLError) -> dict[str, Any]:
    return {"type": "validation_error", "code": exc.code, "detail": exc.detail, "attr": None}


_PROXY_PAGES = {
    500: None,
    502: b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
    503: b"<html><head><title>503 Service Unavailable</title></head>"
    b"<body>503 Service Unavailable</body></html>",
}


def _make_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "llmc-standin/1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in separate writes: without this, Nagle's algorithm
            # and the client's delayed ACK add ~40 ms to every response
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            name_box: list[str | None] = [None]
            asked: list[object] = [None, None]  # refresh, modifiers
            fault: Fault | None = None
            try:
                route = _ROUTE.match(split.path)
                if route is None:
                    raise _error(404, "invalid_request", "not_found", "Not found.")
                pid = route.group("pid")
                if route.group("jobs"):
                    endpoint, scope, allowed = "jobs", _SCOPE_JOBS, "GET"
                elif route.group("qid"):
                    endpoint, scope, allowed = "poll", _SCOPE_QUERY, "GET"
                else:
                    endpoint, scope, allowed = "query", _SCOPE_QUERY, "POST"
                if method != allowed:
                    raise _error(
                        405,
                        "invalid_request",
                        "method_not_allowed",
                        f'Method "{method}" not allowed.',
                    )
                standin._authenticate(self.headers.get("Authorization"), pid, scope)
                payload: Any = None
                if endpoint == "query":
                    try:
                        payload = orjson.loads(raw) if raw else None
                    except orjson.JSONDecodeError as exc:
                        raise _error(
                            400, "validation_error", "parse_error", f"JSON parse error - {exc}"
                        ) from exc
                    if isinstance(payload, dict):
                        query_node = payload.get("query")
                        raw_name = payload.get("name") or (
                            query_node.get("name") if isinstance(query_node, dict) else None
                        )
                        name_box[0] = raw_name if isinstance(raw_name, str) else None
                        asked[0] = payload.get("refresh")
                        if isinstance(query_node, dict):
                            asked[1] = query_node.get("modifiers")
                fault = standin._take_fault(endpoint, name_box[0])
                if fault is not None and self._pre_fault(fault, split.path, len(raw), name_box):
                    return
                if endpoint == "query":
                    if fault is not None and fault.kind == "202":
                        try:
                            reply = standin._handle_query(payload, name_box)
                        except _Reply as err:
                            reply = err
                        if reply.status in (200, 400) and reply.body.get("query_status") is None:
                            client_id = payload.get("client_query_id")
                            reply = standin._start_async(
                                reply.status,
                                reply.body,
                                int(fault.params.get("polls", 1)),
                                client_id if isinstance(client_id, str) and client_id else None,
                            )
                    else:
                        reply = standin._handle_query(payload, name_box)
                elif endpoint == "poll":
                    reply = standin._handle_poll(route.group("qid") or "")
                else:
                    reply = standin._handle_jobs(split.query)
            except _Reply as err:
                reply = err
            except Exception as exc:  # a bug in the stand-in: answer like PostHog's 500
                reply = _Reply(
                    500,
                    {
                        "type": "server_error",
                        "code": "error",
                        "detail": f"stand-in failure: {exc!r}",
                        "attr": None,
                    },
                )
            body = orjson.dumps(reply.body)
            if fault is not None and fault.kind in ("malformed", "truncated"):
                self._post_fault(fault, body, split.path, len(raw), name_box[0])
                return
            # log before answering: a client that got the answer must find it in the log
            standin._record(
                RequestRecord(
                    method,
                    split.path,
                    len(raw),
                    len(body),
                    reply.status,
                    name_box[0],
                    asked[0],
                    asked[1],
                ),
                fault,
            )
            self._send(reply.status, body, reply.headers)

        # faults that replace the answer; True when the request is finished
        def _pre_fault(
            self, fault: Fault, path: str, request_bytes: int, name_box: list[str | None]
        ) -> bool:
            method = self.command
            if fault.kind == "slow":
                standin._closing.wait(float(fault.params.get("seconds", 1.0)))
                return False
            if fault.kind == "drop":
                standin._record(
                    RequestRecord(method, path, request_bytes, 0, 0, name_box[0]), fault
                )
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return True
            if fault.kind in _QUERY_ERRORS:
                type_, code, detail = _QUERY_ERRORS[fault.kind]
                if fault.kind == "504" and fault.params.get("cause") == "memory":
                    detail = MEMORY_DETAIL  # older releases answer 504 for both
                body = orjson.dumps({"type": type_, "code": code, "detail": detail, "attr": None})
                standin._record(
                    RequestRecord(
                        method, path, request_bytes, len(body), int(fault.kind), name_box[0]
                    ),
                    fault,
                )
                self._send(int(fault.kind), body, {})
                return True
            if fault.kind in ("429", "500", "502", "503"):
                status = int(fault.kind)
                headers: dict[str, str] = {}
                retry_after = fault.params.get("retry_after", 1 if status == 429 else None)
                if retry_after is not None:
                    headers["Retry-After"] = (
                        str(math.ceil(retry_after))
                        if isinstance(retry_after, (int, float))
                        else str(retry_after)
                    )
                page = _PROXY_PAGES.get(status)
                if status == 429:
                    wait = headers.get("Retry-After", "1")
                    body = orjson.dumps(
                        {
                            "type": "throttled_error",
                            "code": "throttled",
                            "detail": f"Request was throttled. Expected available in {wait} "
                            "seconds.",
                            "attr": None,
                        }
                    )
                    content_type = "application/json"
                elif page is None:
                    body = orjson.dumps(
                        {
                            "type": "server_error",
                            "code": "error",
                            "detail": "A server error occurred.",
                            "attr": None,
                        }
                    )
                    content_type = "application/json"
                else:
                    body, content_type = page, "text/html"
                standin._record(
                    RequestRecord(method, path, request_bytes, len(body), status, name_box[0]),
                    fault,
                )
                self._send(status, body, headers, content_type)
                return True
            return False  # 202 / malformed / truncated act later

        def _post_fault(
            self, fault: Fault, body: bytes, path: str, request_bytes: int, name: str | None
        ) -> None:
            if fault.kind == "malformed":
                bad = b'{"results": [[1, 2], [3,, "columns": <html>upstream hiccup</html>'
                standin._record(
                    RequestRecord(self.command, path, request_bytes, len(bad), 200, name), fault
                )
                self._send(200, bad, {})
            else:
                cut = max(1, int(len(body) * float(fault.params.get("fraction", 0.5))))
                cut = min(cut, len(body) - 1)
                full_length = bool(fault.params.get("full_length", True))
                standin._record(
                    RequestRecord(self.command, path, request_bytes, cut, 200, name), fault
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if full_length else cut))
                self.send_header("Connection", "close")
                self.end_headers()
                self._write(body[:cut])
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

        def _send(
            self,
            status: int,
            body: bytes,
            headers: Mapping[str, str],
            content_type: str = "application/json",
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self._write(body)
            except OSError:
                self.close_connection = True

        def _write(self, data: bytes) -> None:
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    return Handler
