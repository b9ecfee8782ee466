"""PostHog's HTTP API for one project: auth, retries, polling and error texts.

202 → poll until complete; 429 → honour Retry-After; 5xx (503 included),
timeouts, dropped connections and unreadable bodies → bounded retries with
jittered exponential backoff; 504 and 512 (PostHog stopped the query, or refused
it as too expensive: the same query would fail again), 402 (quota) and
401/403/400/404 → an immediate `SourceError` saying what to fix. The API key
never appears in any message, repr or log.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import httpx
import orjson

from llmc_checks.model import SourceError
from llmc_checks.safe_text import redact
from llmc_checks.sources._deadline import NO_KEEPALIVE, Deadline
from llmc_checks.units import counted

if TYPE_CHECKING:
    from llmc_checks.sources.base import PostHogSettings as PostHogConfig

QUERY_SCOPE = "query:read"
JOBS_SCOPE = "llm_analytics:read"
KEY_HINT = "source.posthog.api_key (usually ${POSTHOG_PERSONAL_API_KEY})"

# Retry policy: attempts per request, backoff base and cap, the longest
# Retry-After we wait out, and how long an async (202) query may run.
MAX_ATTEMPTS = 4
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 16.0
MAX_RETRY_AFTER_S = 120.0
POLL_BUDGET_S = 180.0
POLL_FIRST_S = 0.5
POLL_CAP_S = 5.0
JOBS_MAX_PAGES = 50

# Server errors a retry repeats (posthog/exceptions.py): the query hit PostHog's
# time limit (504; its memory limit, in older releases), was estimated to run too
# long (512; also its memory limit, in some releases) or hit the memory limit (513).
_NOT_RETRIED = {
    504: "it hit PostHog's time or memory limit",
    512: "PostHog estimated it too expensive to run (time or memory)",
    513: "it hit PostHog's memory limit",
}

_UTC = timezone.utc
Row = dict[str, Any]


class _Retry(Exception):
    """One failed attempt that may succeed when repeated; `cause` says how it failed."""

    def __init__(self, cause: str, delay: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.delay = delay


class Api:
    """PostHog's HTTP API for one project: auth, retries, polling, error texts."""

    def __init__(
        self,
        config: PostHogConfig,
        *,
        where: str,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
        clock: Callable[[], datetime],
        rng: random.Random,
        max_attempts: int,
        notify: Callable[[str], None],
    ) -> None:
        self.base = config.host.rstrip("/")
        self.project_id = config.project_id
        self.timeout_s = config.timeout_s
        self.where = where
        self._key = config.api_key  # a SecretStr: its repr is masked
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._max_attempts = max_attempts
        self._notify = notify  # one line before each wait, so CI never sees a silent job
        self._client: httpx.Client | None = None

    @property
    def query_url(self) -> str:
        return f"{self.base}/api/projects/{self.project_id}/query/"

    @property
    def jobs_url(self) -> str:
        return f"{self.base}/api/projects/{self.project_id}/llm_analytics/clustering_jobs/"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> httpx.Client:
        # Built on first use: an httpx client costs ~30 ms, and a gate that fails
        # on its config never needs one. The key lives only in the client's
        # headers, which httpx masks in reprs.
        if self._client is None:
            self._client = httpx.Client(
                headers={
                    "Authorization": "Bearer " + self._key.get_secret_value(),
                    "User-Agent": "llmc-checks",
                },
                timeout=httpx.Timeout(self.timeout_s),
                limits=NO_KEEPALIVE,  # each request its own connection, for its Deadline
                transport=self._transport,
                follow_redirects=False,  # a redirect could carry the key elsewhere
            )
        return self._client

    # -- queries ---------------------------------------------------------------------------

    def query(
        self,
        name: str,
        text: str,
        values: Mapping[str, object],
        limit: int,
        *,
        columns: Sequence[str],
        page: bool = False,
    ) -> list[Row]:
        """Run one HogQL query; rows as dicts by column name.

        `columns`: every column the caller reads; an answer lacking any is an error
        naming them (a proxy or a changed PostHog answering another shape).
        A result that reaches `limit` rows (or says hasMore) could be cut short:
        an error, unless `page` (keyset pagination reads the next page itself).
        """
        body = {
            "query": {
                "kind": "HogQLQuery",
                "query": text,
                "values": dict(values),
                # Window bounds are UTC instants; the project's timezone must not apply.
                "modifiers": {"convertToProjectTimezone": False},
            },
            # A gate never reads a cached answer.
            "refresh": "force_blocking",
            "name": f"llmc-{name}",
        }
        status, payload = self.request("POST", self.query_url, QUERY_SCOPE, f"query {name}", body)
        if status == 202:
            payload = self._await(payload, name)
        results, answered = payload.get("results"), payload.get("columns")
        if not isinstance(results, list) or not isinstance(answered, list):
            raise SourceError(f"{self.where}: query {name}: the answer has no results/columns")
        names = [str(c) for c in answered]
        present = frozenset(names)
        missing = [c for c in columns if c not in present]
        if missing:
            # The answer's own column names stay out: they are the server's text.
            raise SourceError(
                f"{self.where}: query {name}: the answer lacks "
                f"{counted(len(missing), 'column')} the gate reads ({', '.join(missing)}; "
                f"it has {counted(len(names), 'column')}): a proxy, or a PostHog version "
                "answering in another shape?"
            )
        if not page and (payload.get("hasMore") or len(results) >= limit):
            raise SourceError(
                f"{self.where}: query {name} returned {len(results)} rows, its limit: the "
                "answer may be cut short, and a gate never judges partial data"
            )
        rows: list[Row] = []
        for raw in results:
            if not isinstance(raw, list) or len(raw) != len(names):
                raise SourceError(f"{self.where}: query {name}: a result row has the wrong shape")
            rows.append(dict(zip(names, raw, strict=True)))
        return rows

    def _await(self, started: Row, name: str) -> Row:
        """Poll an async query (202) until it completes, within POLL_BUDGET_S."""
        status_doc = started.get("query_status")
        query_id = status_doc.get("id") if isinstance(status_doc, dict) else None
        if not isinstance(query_id, str) or not query_id:
            raise SourceError(f"{self.where}: query {name}: 202 without a query id to poll")
        url = f"{self.query_url}{quote(query_id, safe='')}/"
        self._notify(
            f"{self.where}: query {name} runs asynchronously on PostHog; polling for its "
            f"answer for up to {POLL_BUDGET_S:g} s"
        )
        waited, delay = 0.0, POLL_FIRST_S
        while True:
            self._sleep(delay)
            waited += delay
            status, payload = self.request("GET", url, QUERY_SCOPE, f"query {name}")
            doc = payload.get("query_status")
            if isinstance(doc, dict) and doc.get("complete"):
                if doc.get("error"):
                    raise SourceError(
                        f"{self.where}: PostHog refused query {name}: {self._detail(payload)}"
                    )
                results = doc.get("results")
                if not isinstance(results, dict):
                    raise SourceError(f"{self.where}: query {name}: completed without results")
                return results
            if status == 200 and "results" in payload:
                return payload  # answered synchronously after all
            if waited >= POLL_BUDGET_S:
                raise SourceError(
                    f"{self.where}: query {name} still running after {waited:g} s of polling"
                )
            delay = min(delay * 2, POLL_CAP_S)

    # -- HTTP with retries -----------------------------------------------------------------

    def request(
        self, method: str, url: str, scope: str, what: str, body: Row | None = None
    ) -> tuple[int, Row]:
        """(status, JSON object) for a 200 or 202; retries transient failures, raises the rest."""
        causes: list[str] = []
        for attempt in range(1, self._max_attempts + 1):
            try:
                return self._attempt(method, url, scope, what, body)
            except _Retry as retry:
                causes.append(retry.cause)
                if attempt == self._max_attempts:
                    break
                delay = retry.delay if retry.delay is not None else self._backoff(attempt)
                why = "as its Retry-After asks" if retry.delay is not None else "backing off"
                self._notify(
                    f"{self.where}: {what}: {retry.cause}; retrying in {delay:.1f} s, {why} "
                    f"(attempt {attempt + 1} of {self._max_attempts})"
                )
                self._sleep(delay)
        raise SourceError(self._exhausted(what, causes))

    def _attempt(
        self, method: str, url: str, scope: str, what: str, body: Row | None
    ) -> tuple[int, Row]:
        try:
            content = orjson.dumps(body) if body is not None else None
            headers = {"Content-Type": "application/json"} if content is not None else None
            with Deadline(self.timeout_s) as deadline:
                response = self._http().request(
                    method, url, content=content, headers=headers, extensions=deadline.extensions
                )
        except httpx.TimeoutException:
            raise _Retry(f"timed out after {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            if deadline.expired:  # the Deadline cut the connection
                raise _Retry(f"timed out after {self.timeout_s:g} s") from None
            raise _Retry(f"the connection failed ({self._reason(exc)})") from None
        status = response.status_code
        if status in (200, 202):
            try:
                payload = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise _Retry("PostHog sent malformed or truncated JSON") from None
            if not isinstance(payload, dict):
                raise _Retry("PostHog sent malformed or truncated JSON")
            return status, payload
        if status == 429:
            raise _Retry("PostHog rate-limited the query (429)", self._retry_after(response, what))
        if status >= 500 and status not in _NOT_RETRIED:
            raise _Retry(f"PostHog answered {status}", self._retry_after(response, what))
        self._refuse(status, response, scope, what)

    def _refuse(self, status: int, response: httpx.Response, scope: str, what: str) -> NoReturn:
        """Errors no retry can fix: say what the user must change."""
        detail = self._detail(self._json_or_empty(response))
        if status == 401:
            raise SourceError(
                f"{self.where}: PostHog rejected the personal API key (401) for {what}: check "
                f"{KEY_HINT}; it needs the {scope} scope"
            )
        if status == 403:
            raise SourceError(
                f"{self.where}: the personal API key lacks the {scope} scope needed for {what} "
                f"(403: {detail}); create a key with {scope} and put it in {KEY_HINT}"
            )
        if status == 400:
            raise SourceError(f"{self.where}: PostHog refused {what} (400): {detail}")
        if status in _NOT_RETRIED:
            raise SourceError(
                f"{self.where}: PostHog stopped {what} ({status}: {detail}): "
                f"{_NOT_RETRIED[status]}, and a retry would fail the same way; shorten "
                "run.lookback or ask for fewer baselines (median_of) or trend runs"
            )
        if status == 402:
            raise SourceError(
                f"{self.where}: PostHog refused {what}: the organization's query quota is used "
                f"up (402: {detail}); raise the billing limit or wait for the next period"
            )
        if 300 <= status < 400:
            raise SourceError(
                f"{self.where}: PostHog redirected {what} ({status}); set source.posthog.host "
                "to the final address (redirects are not followed: they could carry the key)"
            )
        if status == 404:
            raise SourceError(
                f"{self.where}: not found (404) for {what}: check source.posthog.host and "
                f"source.posthog.project_id (usually ${{POSTHOG_PROJECT_ID}})"
            )
        raise SourceError(f"{self.where}: PostHog answered {status} to {what}: {detail}")

    def _retry_after(self, response: httpx.Response, what: str) -> float | None:
        """Retry-After in seconds (a number or an HTTP-date); None when absent or unreadable."""
        value = response.headers.get("Retry-After")
        if not value:
            return None
        seconds: float | None
        try:
            seconds = max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=_UTC)
            seconds = max(0.0, (when - self._clock()).total_seconds())
        if seconds > MAX_RETRY_AFTER_S:
            # Waiting that long inside CI is worse than failing now with the reason.
            raise SourceError(
                f"{self.where}: PostHog answered {response.status_code} to {what} and asks to "
                f"retry in {seconds:.0f} s, longer than the {MAX_RETRY_AFTER_S:.0f} s a gate "
                "waits (PostHog allows as few as 120 HogQL queries an hour per key)"
            )
        return seconds

    def _backoff(self, attempt: int) -> float:
        # Exponential, capped, with "equal jitter": concurrent gates spread out.
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (1 << (attempt - 1)))
        return ceiling / 2 + self._rng.random() * ceiling / 2

    def _exhausted(self, what: str, causes: Sequence[str]) -> str:
        n = len(causes)
        if len(set(causes)) == 1:
            cause = causes[0]
            if cause.startswith("timed out"):
                return f"{self.where}: {what} {cause}, {counted(n, 'attempt')}"
            return f"{self.where}: {cause} {counted(n, 'time')} ({what}); try again later"
        return f"{self.where}: {what} failed {counted(n, 'time')}: {'; '.join(causes)}"

    # -- texts from the server, made safe ---------------------------------------------------

    @staticmethod
    def _json_or_empty(response: httpx.Response) -> Row:
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return {}
        return payload if isinstance(payload, dict) else {}

    def _detail(self, payload: Row) -> str:
        """PostHog's error text (`detail`, or an async query's `error_message`)."""
        text = payload.get("detail")
        status_doc = payload.get("query_status")
        if not text and isinstance(status_doc, dict):
            text = status_doc.get("error_message")
        return self.redact(" ".join(str(text or "no details given").split())[:600])

    def _reason(self, exc: BaseException) -> str:
        text = str(exc).strip() or type(exc).__name__
        return self.redact(" ".join(text.split())[:200])

    def redact(self, text: str) -> str:
        # Any case, any long fragment: a server may echo the key upper-cased, and a
        # detail cut at 600 characters may end inside it.
        return redact(text, self._key.get_secret_value())

    def __repr__(self) -> str:
        return f"Api({self.where!r})"
