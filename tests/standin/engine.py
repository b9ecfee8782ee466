"""The stand-in's ClickHouse: an in-process chDB session holding one ``events`` table."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from chdb import session as chdb_session

from .hogql import HogQLError

#: The ``events`` table: PostHog's column names and types, and its ``sharded_events``
#: storage (``posthog/models/event/sql.py``): monthly partitions, the sorting key
#: ``(team_id, toDate(timestamp), event, cityHash64(distinct_id), cityHash64(uuid))``
#: and ZSTD(3) on ``properties``, so bounds on ``timestamp`` and ``event`` prune (and
#: reading ``properties`` costs) as they do in PostHog.
EVENTS_DDL = """
CREATE TABLE events (
    uuid UUID,
    event String,
    timestamp DateTime64(6, 'UTC'),
    distinct_id String,
    properties String CODEC(ZSTD(3)),
    team_id Int64{materialized}
) ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (team_id, toDate(timestamp), event, cityHash64(distinct_id), cityHash64(uuid))
"""
# A property PostHog materializes, as its migrations create it: a Nullable(String)
# column computed from `properties`, with a bloom-filter skip index.
_MATERIALIZED_DDL = (
    ",\n    `mat_{key}` Nullable(String) MATERIALIZED JSONExtract(properties, {literal}, "
    "'Nullable(String)'),\n    INDEX `bloom_filter_{key}` `mat_{key}` TYPE bloom_filter(0.001) "
    "GRANULARITY 2"
)
_PROPERTY_KEY = re.compile(r"^\$?[A-Za-z0-9_]+$")


def events_ddl(materialized: Iterable[str] = ()) -> str:
    """The ``events`` table, with a ``mat_<key>`` column for each ``materialized`` property."""
    columns = []
    for key in materialized:
        if not _PROPERTY_KEY.match(key):
            raise ValueError(f"not a property key PostHog materializes: {key!r}")
        columns.append(_MATERIALIZED_DDL.format(key=key, literal=f"'{key}'"))
    return EVENTS_DDL.format(materialized="".join(columns))


_FILE_SCHEMA = "uuid String, event String, timestamp String, distinct_id String, properties String"

# Settings every query runs with: PostHog's read-only mode and (public API) 10 s limit, plus
# output settings that make chDB's JSON look like PostHog's (numbers unquoted, ISO times).
_OUTPUT_SETTINGS = (
    "readonly = 2, output_format_json_quote_64bit_integers = 0, "
    "output_format_json_quote_decimals = 0, date_time_output_format = 'iso', "
    "session_timezone = 'UTC'"
)

_CH_ERROR = re.compile(
    r"Code:\s*(\d+)\.\s*(?:DB::Exception:\s*)?(.*?)(?:\s*\(([A-Z_]+)\))?\s*$", re.S
)
_ZONED = re.compile(r"^(?:Nullable\()?DateTime(?:64)?\((?:\d+, )?'([^']+)'\)\)?$")
_Session: Any = chdb_session.Session  # chDB ships no type hints
_CHDB_LOCK = threading.Lock()  # one embedded server per process: serialise every call


@dataclass(frozen=True)
class QueryResult:
    """Rows as decoded JSON plus ClickHouse's column names and type names."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    #: ClickHouse's figures for the query (elapsed, rows_read, bytes_read)
    statistics: Mapping[str, Any] = field(default_factory=dict)


class Engine:
    """An ``events`` table in its own chDB database; all chDB calls are serialised.

    chDB runs one embedded ClickHouse server per process and every session must use the
    same data path, so the engine opens an in-memory session (no path) and keeps its table
    in a database of its own: several engines can coexist, and ``chdb.query()`` or other
    in-memory ``chdb.session.Session()`` objects keep working next to them (a *path-based*
    session elsewhere in the process would conflict).
    """

    def __init__(self, team_id: int = 1, materialized: Iterable[str] = ()) -> None:
        self._dir = tempfile.mkdtemp(prefix="llmc-standin-")
        self.team_id = team_id
        self.database = f"standin_{uuid.uuid4().hex[:12]}"
        with _CHDB_LOCK:
            self._session: Any = _Session()
            try:
                self._session.query(f"CREATE DATABASE {self.database}")
                self._session.query(f"USE {self.database}")
                self._session.query(events_ddl(materialized))
            except Exception:
                self._session.close()
                shutil.rmtree(self._dir, ignore_errors=True)
                raise
        self._closed = False

    # -- loading ---------------------------------------------------------------------------

    def load_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert PostHog event dicts; returns the number of rows written."""
        path = Path(self._dir) / "load.jsonl"
        count = 0
        with path.open("wb") as out:
            for row in rows:
                out.write(orjson.dumps(_normalise(row)))
                out.write(b"\n")
                count += 1
        if count:
            self._insert_from_file(path)
        path.unlink()
        return count

    def load_file(self, path: str | os.PathLike[str]) -> int:
        """Insert a JSONEachRow file of event rows (``.jsonl`` or ``.jsonl.gz``).

        ``properties`` may be a JSON object or a string holding one; ``timestamp`` any
        ISO-8601 form ClickHouse's best-effort parser reads.
        """
        before = self.count()
        self._insert_from_file(Path(path).resolve())
        return self.count() - before

    def _insert_from_file(self, path: Path) -> None:
        literal = "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"
        sql = f"""
            INSERT INTO events
            SELECT toUUID(uuid), event, parseDateTime64BestEffort(timestamp, 6, 'UTC'),
                   distinct_id, properties, {int(self.team_id)}
            FROM file({literal}, 'JSONEachRow', '{_FILE_SCHEMA}')
            SETTINGS input_format_json_read_objects_as_strings = 1,
                     input_format_json_read_numbers_as_strings = 1
        """
        with _CHDB_LOCK:
            try:
                self._session.query(sql)
            except Exception as exc:
                raise ValueError(f"could not load events into chDB: {exc}") from exc

    def write(self, sql: str) -> None:
        """Run a statement that changes data (``INSERT ... SELECT``: benchmarks' fast loads)."""
        with _CHDB_LOCK:
            if self._closed:
                raise RuntimeError("the stand-in's chDB engine is closed")
            self._session.query(sql)

    def count(self) -> int:
        return int(self.execute("SELECT count() FROM events", max_execution_time=60).rows[0][0])

    # -- queries ---------------------------------------------------------------------------

    def execute(self, sql: str, *, max_execution_time: float) -> QueryResult:
        """Run ``sql``; ClickHouse errors become :class:`HogQLError` (HTTP 400)."""
        full = f"{sql}\nSETTINGS max_execution_time = {max_execution_time:g}, {_OUTPUT_SETTINGS}"
        with _CHDB_LOCK:
            if self._closed:
                raise RuntimeError("the stand-in's chDB engine is closed")
            try:
                raw = self._session.query(full, "JSONCompact").bytes()
            except Exception as exc:
                raise clickhouse_error(str(exc)) from exc
        doc = orjson.loads(raw) if raw else {"meta": [], "data": []}
        meta = doc.get("meta", [])
        types = [m["type"] for m in meta]
        rows = doc.get("data", [])
        _zone_times(types, rows)
        return QueryResult(
            columns=[m["name"] for m in meta],
            types=types,
            rows=rows,
            statistics=doc.get("statistics", {}),
        )

    def close(self) -> None:
        """Drop the database and close the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with _CHDB_LOCK:
            try:
                self._session.query(f"DROP DATABASE IF EXISTS {self.database}")
            finally:
                self._session.close()
                shutil.rmtree(self._dir, ignore_errors=True)


def _zone_times(types: list[str], rows: list[list[Any]]) -> None:
    """Date-times in their column's zone with its offset, as PostHog answers them.

    chDB's ISO output always writes UTC ("...Z"); PostHog (through Python datetimes)
    writes a column in a project timezone as "2026-11-14T16:20:00.000000-08:00".
    """
    for index, type_ in enumerate(types):
        match = _ZONED.match(type_)
        if match is None or match.group(1) == "UTC":
            continue
        zone = ZoneInfo(match.group(1))
        for row in rows:
            value = row[index]
            if isinstance(value, str) and value.endswith("Z"):
                utc = dt.datetime.fromisoformat(value[:-1]).replace(tzinfo=dt.timezone.utc)
                row[index] = utc.astimezone(zone).isoformat()


def clickhouse_error(message: str) -> HogQLError:
    """PostHog-like 400 for a ClickHouse exception text (code = lower-cased error name)."""
    match = _CH_ERROR.search(message.strip())
    if not match:
        return HogQLError(message.strip(), "clickhouse_error")
    detail = match.group(2).strip()
    name = match.group(3) or "clickhouse_error"
    if name == "SYNTAX_ERROR":
        return HogQLError(detail, "hogql_syntax_error")
    return HogQLError(detail, name.lower())


def _normalise(row: Mapping[str, Any]) -> dict[str, str]:
    try:
        uuid = row["uuid"]
        event = row["event"]
        timestamp = row["timestamp"]
    except KeyError as exc:
        raise ValueError(f"event row without {exc.args[0]!r}: {dict(row)!r:.200}") from exc
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=dt.timezone.utc)
        timestamp = timestamp.isoformat()
    props = row.get("properties", {})
    if not isinstance(props, str):
        props = orjson.dumps(props, option=orjson.OPT_NON_STR_KEYS).decode()
    return {
        "uuid": str(uuid),
        "event": str(event),
        "timestamp": str(timestamp),
        "distinct_id": str(row.get("distinct_id", "")),
        "properties": props,
    }
