"""The config models (DESIGN §2): strict, frozen pydantic models of a checks file."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from llmc_checks import safe_text
from llmc_checks._net import is_loopback
from llmc_checks._yaml import Pos
from llmc_checks.config.errors import _describe, _fail, _suggest
from llmc_checks.metrics_catalog import (
    BASELINE_ONLY_METRICS,
    DEFAULT_TITLE_THRESHOLD,
    METRICS,
    PROPORTION_METRICS,
    MetricInfo,
    MetricName,
    Scope,
)
from llmc_checks.model import BAKED_KEYS, BaselineRequest, Cluster, Level, Semantics
from llmc_checks.units import (
    DURATION_HELP,
    DURATION_PATTERN,
    NUMBER_RE,
    PERCENT_PATTERN,
    format_duration,
    format_number,
    format_percent,
    parse_duration,
    parse_percent,
)

# ---------------------------------------------------------------------------
# Scalars: numbers, percents, durations


class _Amount(NamedTuple):
    value: float
    percent: bool


def _amount(raw: object, what: str) -> _Amount:
    """A bound as written: a number, a numeric string (from ${VAR}) or a percent."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _fail(f"expected {what}, got {_describe(raw)}")
    if isinstance(raw, str):
        if "%" in raw:
            try:
                amount = _Amount(parse_percent(raw), True)
            except ValueError as exc:
                raise _fail(str(exc)) from None
        elif NUMBER_RE.fullmatch(raw):
            amount = _Amount(float(Decimal(raw)), False)
        else:
            raise _fail(f"expected {what}, got {raw!r}")
    else:
        try:
            amount = _Amount(float(raw), False)
        except OverflowError:  # a 400-digit integer
            amount = _Amount(math.inf, False)
    if not math.isfinite(amount.value):
        raise _fail("must be a finite number")
    return amount


def _duration(raw: object) -> object:
    if isinstance(raw, timedelta):
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _fail(f"expected a duration like 14d, got {_describe(raw)}")
    if not isinstance(raw, str):
        raise _fail(f"a duration needs a unit; {DURATION_HELP}")
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _not_bool(raw: object) -> object:
    # pydantic's lax mode reads `true` as 1; in a config that is always a mistake.
    if isinstance(raw, bool):
        raise _fail("expected a number, got a boolean")
    return raw


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["14d", "36h"]}),
]
# Constraints sit before the BeforeValidator so pydantic keeps them in the JSON Schema.
Float = Annotated[float, BeforeValidator(_not_bool)]
PositiveInt = Annotated[int, Field(gt=0), BeforeValidator(_not_bool)]
NonNegativeInt = Annotated[int, Field(ge=0), BeforeValidator(_not_bool)]
# Range checked in Check._proportion, for a message that shows an example.
Confidence = Annotated[
    float,
    BeforeValidator(_not_bool),
    WithJsonSchema({"type": "number", "minimum": 0.5, "exclusiveMaximum": 1}),
]

_BOUND_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "number"}, {"type": "string", "pattern": PERCENT_PATTERN}],
    "examples": [0.05, "5%"],
}


# pytest's node id separator ("checks.yaml::<check name>").
NODE_ID_SEPARATOR = "::"


def _fmt_bound(v: float, info: MetricInfo) -> str:
    return format_percent(v) if info.is_ratio else format_number(v)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_empty_values(cls, data: object) -> object:
        # YAML reads `job:` with nothing after it as null, and null is how an optional
        # key says "absent": the key written would be dropped without a word (`job:` read
        # as any job). Keys without a None default already refuse null with their type.
        if isinstance(data, Mapping):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(key, str) else None
                if value is None and field is not None and field.default is None:
                    raise _fail(
                        "has no value (YAML reads an empty value as null); "
                        "write one, or leave the key out",
                        key,
                    )
        return data


MAX_TIMEOUT_S = 3600
# A regex whose leading flags include x (verbose): whitespace in it is layout.
_VERBOSE = re.compile(r"(?:\(\?[aiLmsux]+\))*\(\?[aiLmsux]*x")


class PostHogSource(_Model):
    """Read clustering runs live from PostHog's query API."""

    host: str = Field(
        "https://us.posthog.com",
        description="PostHog base URL (https, except for loopback hosts), e.g. "
        "https://us.posthog.com or https://eu.posthog.com.",
    )
    project_id: Annotated[
        PositiveInt,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "string", "pattern": r"^\d+$|\$\{"},
                ]
            }
        ),
    ] = Field(description="The PostHog project (environment) id, usually ${POSTHOG_PROJECT_ID}.")
    api_key: SecretStr = Field(
        description="A personal API key with the query:read scope (and llm_analytics:read to "
        "resolve job names), usually ${POSTHOG_PERSONAL_API_KEY}. Never printed.",
        json_schema_extra={"minLength": 1},
    )
    timeout_s: Float = Field(
        30.0,
        gt=0,
        le=MAX_TIMEOUT_S,
        description="Deadline in seconds for each HTTP request as a whole (connect to last byte).",
    )

    @field_validator("timeout_s", mode="before")
    @classmethod
    def _timeout_in_range(cls, raw: object) -> object:
        # An endless deadline cannot be computed (the clock overflows time_t), and PostHog
        # stops a query long before an hour.
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            return raw
        try:
            seconds = float(raw)
        except (ValueError, OverflowError):
            return raw  # pydantic names the problem
        if not math.isfinite(seconds):
            raise _fail("must be a finite number of seconds")
        if seconds > MAX_TIMEOUT_S:
            raise _fail(f"must be at most {MAX_TIMEOUT_S} (an hour), got {seconds:g}")
        return raw

    @field_validator("host", mode="before")
    @classmethod
    def _host_url(cls, raw: object) -> object:
        return _check_host(raw) if isinstance(raw, str) else raw

    @field_validator("api_key")
    @classmethod
    def _key_present(cls, key: SecretStr) -> SecretStr:
        value = key.get_secret_value()
        if not value:
            raise _fail("must not be empty")
        if value != value.strip():
            raise _fail("has leading or trailing whitespace")
        # An HTTP header carries only ASCII: name the odd character, never the key.
        odd = next(((i, c) for i, c in enumerate(value, 1) if not "!" <= c <= "~"), None)
        if odd is not None:
            raise _fail(
                f"holds U+{ord(odd[1]):04X} at character {odd[0]}, which no API key holds "
                "(a personal API key is printable ASCII): was something pasted with it?"
            )
        return key


def _check_host(raw: str) -> str:
    """A normalised base URL: http(s), a host, no credentials, no trailing slash."""
    text = raw.strip().rstrip("/")
    url = urlsplit(text)
    # Only echo the scheme and host name: the rest of a URL can carry credentials.
    if url.scheme not in ("http", "https") or not url.hostname:
        raise _fail("must be an http(s) URL like https://us.posthog.com")
    if url.username or url.password:
        raise _fail("must not contain credentials; put the API key in api_key")
    if url.query or url.fragment:
        raise _fail("must be a base URL without ?query or #fragment")
    try:
        url.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        port = url.netloc.rpartition(":")[2]
        raise _fail(f"invalid port {port!r} (a port is a number from 1 to 65535)") from None
    if url.port == 0:
        raise _fail("invalid port '0' (a port is a number from 1 to 65535)")
    if url.scheme == "http" and not is_loopback(url.hostname):
        raise _fail(f"https is required for {url.hostname} (http is allowed only on loopback)")
    return text


class SourceConfig(_Model):
    """Where the clustering runs come from: exactly one of posthog or snapshot."""

    posthog: PostHogSource | None = Field(None, description="Live: PostHog's query API.")
    snapshot: Annotated[str, Field(min_length=1)] | None = Field(
        None,
        description="Offline: a file of PostHog event rows (.jsonl / .jsonl.gz / .json), "
        "relative to this config file.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceConfig:
        if self.posthog is not None and self.snapshot is not None:
            raise _fail("give either posthog or snapshot, not both", "snapshot", key=True)
        if self.posthog is None and self.snapshot is None:
            raise _fail("needs posthog (live PostHog) or snapshot (a file of event rows)")
        return self

    @property
    def kind(self) -> Literal["posthog", "snapshot"]:
        return "posthog" if self.posthog is not None else "snapshot"


# Far beyond any retention, and far from the calendar's start (datetime.min).
MAX_LOOKBACK = timedelta(days=36_500)


class RunConfig(_Model):
    """Which clustering run is checked."""

    level: Level = Field(
        "trace", description="The clustering level: trace, generation or evaluation."
    )
    job: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="A clustering job name or id; omitted = any job of that level."
    )
    semantics: Semantics = Field(
        "ui",
        description="Which per-item numbers: ui (the cluster page's, window end included, "
        "spans' cost, max latency) or workflow (the clustering job's stored metrics).",
    )
    lookback: Duration = Field(
        timedelta(days=14),
        description="How far back to look for runs, e.g. 14d, 36h, 2w.",
        json_schema_extra={"default": "14d"},  # pydantic would render the default as P14D
    )

    @field_validator("lookback")
    @classmethod
    def _within_the_calendar(cls, lookback: timedelta) -> timedelta:
        # Runs are looked for up to a lookback before now, and earlier runs a lookback
        # before the latest: a date before year 1 cannot be computed at all.
        if lookback > MAX_LOOKBACK:
            raise _fail(
                f"must be at most {format_duration(MAX_LOOKBACK)} (100 years), "
                f"got {format_duration(lookback)}"
            )
        return lookback


class _Baseline(_Model):
    """What relative checks compare against (one of the four forms below)."""

    kind: ClassVar[Literal["previous", "run_id", "file", "median_of"]]

    @property
    def label(self) -> str:
        """A short, unique, readable key: 'previous', 'run X', 'file P', 'median of N'."""
        return str(self)

    def as_request(self) -> BaselineRequest | None:
        """What a source must load; None for a baseline file, which the gate reads."""
        raise NotImplementedError


class PreviousBaseline(_Baseline):
    """The run before the latest, with the same level and job."""

    kind: ClassVar[Literal["previous"]] = "previous"

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, raw: object) -> object:
        return {} if raw == "previous" else raw

    @model_serializer
    def _to_word(self) -> str:
        return "previous"

    def as_request(self) -> BaselineRequest:
        return BaselineRequest(kind="previous")

    def __str__(self) -> str:
        return "previous"


class RunIdBaseline(_Baseline):
    """A specific earlier run."""

    kind: ClassVar[Literal["run_id"]] = "run_id"
    run_id: Annotated[str, Field(min_length=1)] = Field(description="A clustering run id.")

    @field_validator("run_id", mode="before")
    @classmethod
    def _quoted(cls, raw: object) -> object:
        # A legacy run id (1_20261114_001503) unquoted is a YAML 1.1 number: its
        # underscores are gone, so only an example can show how to write it.
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            raise _fail(
                "a run id is text: quote it, like run_id: '1_20261114_001503' "
                "(unquoted, YAML reads digits and underscores as a number)"
            )
        return raw

    def as_request(self) -> BaselineRequest:
        return BaselineRequest(kind="run_id", run_id=self.run_id)

    def __str__(self) -> str:
        return f"run {self.run_id}"


class FileBaseline(_Baseline):
    """A baseline written by --llmc-update-baseline (read by the session, not a source)."""

    kind: ClassVar[Literal["file"]] = "file"
    file: Annotated[str, Field(min_length=1)] = Field(
        description="Path of a baseline file written by --llmc-update-baseline, "
        "relative to this config file."
    )

    def as_request(self) -> None:
        return None

    def __str__(self) -> str:
        return f"file {self.file}"


MAX_MEDIAN_OF = 1000


class MedianBaseline(_Baseline):
    """The median of the last N runs before the latest."""

    kind: ClassVar[Literal["median_of"]] = "median_of"
    # At most MAX_MEDIAN_OF: the count is a live query's LIMIT (past 64 bits it cannot
    # be sent at all), and each run is paired with the latest, far beyond any use.
    median_of: Annotated[int, Field(ge=2, le=MAX_MEDIAN_OF), BeforeValidator(_not_bool)] = Field(
        description=f"How many earlier runs (2 to {MAX_MEDIAN_OF})."
    )

    def as_request(self) -> BaselineRequest:
        return BaselineRequest(kind="median_of", count=self.median_of)

    def __str__(self) -> str:
        return f"median of {self.median_of}"


_BASELINE_FORMS = "previous, {run_id: ID}, {file: PATH} or {median_of: N}"
_BASELINE_KEYS = ("run_id", "file", "median_of")
_BASELINE_MODELS = (PreviousBaseline, RunIdBaseline, FileBaseline, MedianBaseline)


def _baseline_shape(raw: object) -> object:
    """The form is inferred from the shape; anything else gets the list of forms."""
    if isinstance(raw, _BASELINE_MODELS) or raw == "previous":
        return raw
    if isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in _BASELINE_KEYS:
        return raw
    if isinstance(raw, str):
        raise _fail(f"unknown baseline {raw!r}; expected {_BASELINE_FORMS}")
    if isinstance(raw, dict):
        keys = ", ".join(str(k) for k in raw) or "no keys"
        hint = _suggest(str(next(iter(raw))), _BASELINE_KEYS) if len(raw) == 1 else ""
        hint = hint if hint.startswith("; did") else ""
        raise _fail(f"expected {_BASELINE_FORMS}; got a mapping with {keys}{hint}")
    raise _fail(f"expected {_BASELINE_FORMS}, got {_describe(raw)}")


def _baseline_tag(raw: object) -> str | None:
    if isinstance(raw, _BASELINE_MODELS):
        return raw.kind
    if isinstance(raw, dict) and len(raw) == 1:
        return str(next(iter(raw)))
    return "previous" if raw == "previous" else None


BaselineSpec = Annotated[
    Annotated[
        PreviousBaseline,
        Tag("previous"),
        WithJsonSchema({"const": "previous", "description": PreviousBaseline.__doc__}),
    ]
    | Annotated[RunIdBaseline, Tag("run_id")]
    | Annotated[FileBaseline, Tag("file")]
    | Annotated[MedianBaseline, Tag("median_of")],
    Discriminator(_baseline_tag),
    BeforeValidator(_baseline_shape),
]


class MatchConfig(_Model):
    """How clusters of two runs are paired."""

    title_similarity: Float = Field(
        DEFAULT_TITLE_THRESHOLD,
        gt=0,
        le=1,
        description="How sure (0-1] the cross-run identity (shared items, titles, "
        "descriptions) must be that a paired cluster is the same usage pattern for "
        "title_stability to count it as stable.",
    )


# PostHog's cluster page lists a cluster's first 20 items; evidence is a few of those.
MAX_EVIDENCE = 20


class ReportConfig(_Model):
    """What the failure messages and reports show beyond the verdicts."""

    evidence: Annotated[int, Field(ge=0, le=MAX_EVIDENCE), BeforeValidator(_not_bool)] = Field(
        3,
        description="Items (traces or generations) shown, with links, under each cluster a "
        "check names (failing, warning or near miss): the worst for the check's metric and "
        "the most representative. 0 turns evidence off.",
    )


class Where(_Model):
    """Which clusters a cluster-scope check looks at."""

    noise: Literal["exclude", "include", "only"] = Field(
        "exclude", description="The noise cluster (-1): exclude it, include it, or check only it."
    )
    min_size: NonNegativeInt = Field(
        0, description="Clusters smaller than this are listed as not evaluated."
    )
    title: str | None = Field(
        None,
        description="A regular expression; only clusters whose title matches it (re.search).",
        json_schema_extra={"minLength": 1},
    )

    @field_validator("title")
    @classmethod
    def _compiles(cls, title: str | None) -> str | None:
        if title == "":  # e.g. ${TITLE} unset with a :- default of nothing
            raise _fail(
                "must not be empty (an empty regular expression matches every title); "
                "leave title out to check every cluster"
            )
        # In a verbose regex ((?x), e.g. written as a block scalar) line breaks and tabs
        # are layout, not part of the pattern.
        layout = title is not None and _VERBOSE.match(title) is not None
        judged = re.sub(r"[\t\n\r\f\v]", " ", title) if title is not None and layout else title
        unsafe = None if judged is None else safe_text.unsafe_character(judged)
        if unsafe is not None:
            # No cluster title holds one; it comes from YAML's double-quoted escapes.
            raise _fail(
                f"holds a control character (U+{ord(unsafe):04X}); in double quotes YAML "
                "reads \\b as a backspace and \\t as a tab: write the regex in single "
                "quotes, like '(?i)\\brefund'"
            )
        if title is not None:
            try:
                re.compile(title)
            except re.error as exc:
                raise _fail(f"invalid regular expression: {exc}") from None
        return title

    @property
    def title_pattern(self) -> re.Pattern[str] | None:
        # re caches compiled patterns, so this stays cheap per cluster.
        return re.compile(self.title) if self.title is not None else None

    def selects(self, cluster: Cluster) -> bool:
        """Noise and title filters. `min_size` is separate: small clusters are reported."""
        if cluster.is_noise:
            if self.noise == "exclude":
                return False
        elif self.noise == "only":
            return False
        pattern = self.title_pattern
        return pattern is None or pattern.search(cluster.title) is not None

    def too_small(self, cluster: Cluster) -> bool:
        return cluster.size < self.min_size


class Change(_Model):
    """A bound on a change against the baseline: absolute (metric units) or relative."""

    value: Annotated[float, Field(ge=0)]
    relative: bool  # True: a fraction of the baseline value ("20%" → 0.2)

    @model_serializer
    def _as_written(self) -> str | float:
        # Dumps back to config syntax, so a dumped config parses to an equal one.
        return format_percent(self.value) if self.relative else self.value

    def allowed(self, baseline_value: float) -> float:
        """The largest change allowed from `baseline_value`, in the metric's unit."""
        return abs(baseline_value) * self.value if self.relative else self.value

    def __str__(self) -> str:
        return format_percent(self.value) if self.relative else format_number(self.value)


_CHANGE_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": PERCENT_PATTERN}],
    "examples": ["20%", 0.5],
}
_BOUND_KEYS = ("min", "max", "max_increase", "max_decrease")
# enumDescriptions: shown by editors (VS Code) next to each completion; ignored by validators.
_METRIC_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": list(METRICS),
    "enumDescriptions": [f"{m.scope} scope, {m.unit}: {m.description}" for m in METRICS.values()],
}


class Check(_Model):
    """One expectation on one metric."""

    metric: Annotated[MetricName, WithJsonSchema(_METRIC_SCHEMA)] = Field(
        description="The metric to check; see the metric reference."
    )
    name: str | None = Field(
        None, description="A readable name; the pytest item id. Default: generated from the check."
    )
    min: Annotated[float, WithJsonSchema(_BOUND_SCHEMA)] | None = Field(
        None, description="Lowest allowed value; on ratio metrics a percent ('80%') or 0-1."
    )
    max: Annotated[float, WithJsonSchema(_BOUND_SCHEMA)] | None = Field(
        None, description="Highest allowed value; on ratio metrics a percent ('5%') or 0-1."
    )
    max_increase: Annotated[Change, WithJsonSchema(_CHANGE_SCHEMA)] | None = Field(
        None,
        description="Largest allowed rise against the baseline: '20%' = relative to the "
        "baseline value, a number = absolute in the metric's unit.",
    )
    max_decrease: Annotated[Change, WithJsonSchema(_CHANGE_SCHEMA)] | None = Field(
        None,
        description="Largest allowed fall against the baseline: '20%' = relative to the "
        "baseline value, a number = absolute in the metric's unit.",
    )
    severity: Literal["fail", "warn"] = Field(
        "fail", description="warn: report but pass (fails under --llmc-strict)."
    )
    where: Where | None = Field(None, description="Cluster selection (cluster-scope metrics only).")
    confidence: Confidence | None = Field(
        None,
        description="Proportion metrics only: fail only when the Wilson interval at this "
        "confidence lies beyond the bound, e.g. 0.95.",
    )
    baseline: BaselineSpec | None = Field(
        None, description="Override the config's baseline for this check."
    )

    # Filled by Config / load_config; not part of the schema.
    _display_name: str | None = PrivateAttr(None)
    _location: Pos | None = PrivateAttr(None)
    # Bounds written as percents ("25%"), so the generated id reads as the user wrote it.
    _percent: frozenset[str] = PrivateAttr(frozenset())

    # Field validators run in field order, so `metric` is in info.data when it is
    # valid; when it is not, its own error is reported and unit checks are skipped.

    @field_validator("metric", mode="before")
    @classmethod
    def _known_metric(cls, raw: object) -> object:
        if not isinstance(raw, str):
            raise _fail(f"expected a metric name, got {_describe(raw)}")
        if raw not in METRICS:
            raise _fail(f"unknown metric '{raw}'{_suggest(raw, METRICS)}")
        return raw

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, name: str | None) -> str | None:
        if name is not None and not name.strip():
            raise _fail("must not be empty")
        unsafe = None if name is None else safe_text.unsafe_character(name)
        if unsafe is not None:
            # pytest prints item names raw (failure headers, the summary): an escape
            # sequence would drive the terminal, a line break split the line.
            raise _fail(
                f"must not hold control or invisible characters (found U+{ord(unsafe):04X}); "
                "a check name is one line of plain text"
            )
        if name is not None and NODE_ID_SEPARATOR in name:
            # pytest splits node ids at '::': such an item could never be selected by id.
            raise _fail(
                f"must not contain '{NODE_ID_SEPARATOR}' (pytest separates node ids with it); "
                "write ': ' or ' - ' instead"
            )
        return name

    @field_validator("min", "max", mode="before")
    @classmethod
    def _bound(cls, raw: object, info: ValidationInfo) -> object:
        if raw is None:
            return None
        amount = _amount(raw, "a number or a percent like '5%'")
        metric = METRICS.get(info.data.get("metric", ""))
        if metric is not None:
            _check_unit(amount, metric)
        return amount.value

    @field_validator("max")
    @classmethod
    def _possible(cls, hi: float | None, info: ValidationInfo) -> float | None:
        lo = info.data.get("min")
        metric = METRICS.get(info.data.get("metric", ""))
        if hi is not None and lo is not None and lo > hi and metric is not None:
            shown = _fmt_bound(lo, metric), _fmt_bound(hi, metric)
            raise _fail(f"impossible bounds: min {shown[0]} is above max {shown[1]}")
        return hi

    @field_validator("max_increase", "max_decrease", mode="before")
    @classmethod
    def _change(cls, raw: object, info: ValidationInfo) -> object:
        if raw is None or isinstance(raw, Change):
            return raw
        metric = METRICS.get(info.data.get("metric", ""))
        if metric is not None and metric.baseline_only:
            raise _fail(
                f"{metric.name} is already measured against the baseline; "
                f"bound it with min/max, not {info.field_name}"
            )
        if metric is not None and metric.name == "run_age_hours":
            # The baseline run is the older one, so its age is always the larger: the
            # change is minus the time between the runs, never a property of the latest.
            raise _fail(
                "run_age_hours is counted from now, so against a baseline it measures only "
                "the time between the two runs; bound it with max"
            )
        amount = _amount(raw, "a number or a percent like '20%'")
        if amount.value < 0:
            raise _fail(f"must not be negative ({info.field_name} bounds the size of the change)")
        if info.field_name == "max_decrease" and amount.percent and amount.value > 1:
            raise _fail("a decrease of more than 100% is impossible")
        if metric is not None and metric.is_ratio and not amount.percent and amount.value > 1:
            # A check that can never fail; `max_increase: 5` most likely meant 5 points.
            raise _fail(
                f"a change in {metric.name} (a ratio, 0 to 1) is at most 1, so "
                f"{format_number(amount.value)} can never be exceeded; write 0.05 for five "
                "points, or a percent like '20%' for a change relative to the baseline value"
            )
        return Change(value=amount.value, relative=amount.percent)

    @field_validator("where")
    @classmethod
    def _cluster_scope(cls, where: Where | None, info: ValidationInfo) -> Where | None:
        metric = METRICS.get(info.data.get("metric", ""))
        if where is not None and metric is not None and metric.scope != "cluster":
            raise _fail(
                f"where selects clusters, but {metric.name} is a run-scope metric "
                "(where applies to cluster-scope metrics only)"
            )
        return where

    @field_validator("confidence")
    @classmethod
    def _proportion(cls, confidence: float | None, info: ValidationInfo) -> float | None:
        if confidence is not None and not 0.5 <= confidence < 1:
            raise _fail("must be at least 0.5 and below 1, e.g. 0.95")
        metric = METRICS.get(info.data.get("metric", ""))
        if confidence is not None and metric is not None and not metric.proportion:
            raise _fail(
                f"confidence applies to proportion metrics only ({', '.join(PROPORTION_METRICS)}); "
                f"{metric.name} is not one"
            )
        return confidence

    @model_validator(mode="wrap")
    @classmethod
    def _remember_percents(cls, data: object, handler: ModelWrapValidatorHandler[Check]) -> Check:
        check = handler(data)
        if isinstance(data, Mapping):
            written = {k for k in ("min", "max") if isinstance(data.get(k), str) and "%" in data[k]}
            check._percent = frozenset(written)
        return check

    @model_validator(mode="after")
    def _coherent(self) -> Check:
        if all(getattr(self, k) is None for k in _BOUND_KEYS):
            raise _fail("needs at least one bound: min, max, max_increase or max_decrease")
        if self.baseline is not None and not self.needs_baseline:
            raise _fail(
                "baseline only applies to checks against a baseline (max_increase, max_decrease "
                f"or {', '.join(BASELINE_ONLY_METRICS)})",
                "baseline",
            )
        return self

    # -- for evaluation code -------------------------------------------------

    @property
    def metric_info(self) -> MetricInfo:
        return METRICS[self.metric]

    @property
    def scope(self) -> Scope:
        return self.metric_info.scope

    @property
    def needs_baseline(self) -> bool:
        return (
            self.max_increase is not None
            or self.max_decrease is not None
            or self.metric_info.baseline_only
        )

    @property
    def selection(self) -> Where:
        """The effective cluster selection (the defaults when `where` is omitted)."""
        return self.where if self.where is not None else Where()

    @property
    def generated_id(self) -> str:
        """A readable id built from the check: 'avg_cost_usd max 0.05 (min_size 20)'."""
        parts: list[str] = [self.metric]
        for key, bound in (("min", self.min), ("max", self.max)):
            if bound is not None:
                shown = format_percent(bound) if key in self._percent else format_number(bound)
                parts.append(f"{key} {shown}")
        for key, change in (
            ("max_increase", self.max_increase),
            ("max_decrease", self.max_decrease),
        ):
            if change is not None:
                parts.append(f"{key} {change}")
        extras: list[str] = []
        if self.where is not None:
            if self.where.noise != "exclude":
                extras.append(f"noise {self.where.noise}")
            if self.where.min_size:
                extras.append(f"min_size {self.where.min_size}")
            if self.where.title is not None:
                extras.append(f"title /{self.where.title}/")
        if self.confidence is not None:
            extras.append(f"confidence {format_number(self.confidence)}")
        if extras:
            parts.append(f"({', '.join(extras)})")
        # A title regex may hold '::', which would split the pytest node id.
        return " ".join(parts).replace(NODE_ID_SEPARATOR, ": :")

    @property
    def display_name(self) -> str:
        """`name`, or the generated id made unique within its config (' #2', ' #3')."""
        return self._display_name or self.name or self.generated_id

    @property
    def location(self) -> Pos | None:
        """1-based (line, col) of the check in its file; None when not loaded from a file."""
        return self._location

    @property
    def line(self) -> int | None:
        """1-based line of the check (pytest's reportinfo wants `line - 1`)."""
        return self._location.line if self._location else None


def _check_unit(amount: _Amount, metric: MetricInfo) -> None:
    """min/max must make sense in the metric's unit."""
    if amount.percent and not metric.is_ratio:
        raise _fail(
            f"a percent only applies to ratio metrics; {metric.name} is {metric.unit_phrase}, "
            "so write a plain number"
        )
    if metric.is_ratio and not 0 <= amount.value <= 1:
        if amount.percent:
            raise _fail(f"must be between 0% and 100% ({metric.name} is a ratio)")
        raise _fail(
            f"must be between 0 and 1 ({metric.name} is a ratio; "
            f"write {format_number(amount.value)}% for a percentage)"
        )
    if amount.value < 0:
        raise _fail(f"must not be negative ({metric.name} is {metric.unit_phrase})")


def duplicate_names(names: Sequence[object]) -> list[tuple[int, str]]:
    """(index, message) for each check whose name an earlier check has (None: no name).

    Also read from the raw file when validation fails: the `checks` validator runs only
    once every check is valid, and a file's problems are reported all at once.
    """
    first: dict[str, int] = {}
    found = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue
        if name in first:
            # Cleaned as failure messages show titles: a name may hold escape sequences.
            shown = safe_text.quoted(name)
            found.append((i, f"duplicate check name {shown} (also checks[{first[name]}])"))
        else:
            first[name] = i
    return found


class Config(_Model):
    """An llmc-checks config: which clustering run to read and what must hold for it."""

    # Top-level `x-` keys hold YAML anchors (load.py drops them before validation).
    model_config = ConfigDict(json_schema_extra={"patternProperties": {"^x-": {}}})

    version: Annotated[Literal[1], WithJsonSchema({"enum": [1, "1"]})] = Field(
        description='The config format version; always 1 ("1" is read as 1).'
    )
    source: SourceConfig = Field(description="Where the clustering runs come from.")
    run: RunConfig = Field(RunConfig(), description="Which clustering run is checked.")
    baseline: BaselineSpec = Field(
        PreviousBaseline(),
        description="What relative checks compare against: previous, {run_id: ID}, "
        "{file: PATH} or {median_of: N}.",
    )
    match: MatchConfig = Field(MatchConfig(), description="Cross-run cluster matching.")
    report: ReportConfig = Field(
        ReportConfig(), description="What failure messages and reports show."
    )
    checks: tuple[Check, ...] = Field(
        description="The expectations; each becomes one pytest item.",
        json_schema_extra={"minItems": 1},
    )

    _path: Path | None = PrivateAttr(None)
    _base_dir: Path | None = PrivateAttr(None)
    _snapshot_pos: Pos | None = PrivateAttr(None)

    @field_validator("version", mode="before")
    @classmethod
    def _supported(cls, raw: object) -> object:
        # "1" as well: versions are habitually quoted (compose's version: "3"), and a
        # ${VAR} always yields a string; there is no other version it could mean.
        if raw == "1":
            return 1
        if isinstance(raw, bool) or raw != 1:
            shown = repr(raw) if isinstance(raw, int | float | str) else _describe(raw)
            raise _fail(f"unsupported config version {shown}; this llmc-checks reads version 1")
        return raw

    @field_validator("checks")
    @classmethod
    def _some_checks(cls, checks: tuple[Check, ...]) -> tuple[Check, ...]:
        if not checks:
            raise _fail("needs at least one check")
        for i, message in duplicate_names([check.name for check in checks])[:1]:
            raise _fail(message, i, "name")
        return checks

    @model_validator(mode="after")
    def _computable(self) -> Config:
        # Evaluation-level runs have no AI events: only what PostHog bakes into the run
        # can ever be known, so a metric needing more would error on every run.
        if self.run.level == "evaluation":
            baked = set(BAKED_KEYS.values())
            for i, check in enumerate(self.checks):
                missing = sorted(check.metric_info.stats - baked)
                if missing:
                    raise _fail(
                        f"{check.metric} cannot be computed for evaluation-level runs: they "
                        f"have no AI events, and PostHog bakes no {', '.join(missing)} into them",
                        "checks",
                        i,
                        "metric",
                    )
        return self

    @model_validator(mode="after")
    def _name_checks(self) -> Config:
        taken = {c.name for c in self.checks if c.name is not None}
        for check in self.checks:
            if check.name is not None:
                check._display_name = check.name
                continue
            name, n = check.generated_id, 1
            while name in taken:
                n += 1
                name = f"{check.generated_id} #{n}"
            taken.add(name)
            check._display_name = name
        return self

    # -- for the gate ------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The file this config was loaded from (None when parsed from text)."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config resolve against this: the config file's directory."""
        return self._base_dir if self._base_dir is not None else Path.cwd()

    def resolve(self, path: str | Path) -> Path:
        return self.base_dir / Path(path).expanduser()

    @property
    def snapshot_position(self) -> Pos | None:
        """Where `source.snapshot` is written in the file (for errors about it)."""
        return self._snapshot_pos

    @property
    def snapshot_path(self) -> Path | None:
        snapshot = self.source.snapshot
        return None if snapshot is None else self.resolve(snapshot)

    def baseline_for(self, check: Check) -> BaselineSpec:
        return check.baseline if check.baseline is not None else self.baseline

    @property
    def needs_baseline(self) -> bool:
        return any(c.needs_baseline for c in self.checks)

    def with_snapshot(self, path: Path) -> Config:
        """This config reading `path` instead (--llmc-snapshot); `path` is taken as given."""
        source = SourceConfig(snapshot=str(path.absolute()))
        return self.model_copy(update={"source": source})
