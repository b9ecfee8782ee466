"""Config errors: one line, `file:line:col: path: message`, never echoing a secret."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from llmc_checks import safe_text
from llmc_checks._yaml import DocPath, Document, Pos
from llmc_checks.model import LlmcError

# ---------------------------------------------------------------------------
# The error users see


# A file with many problems lists this many, then "… and N more".
MAX_REPORTED = 20


class ConfigError(LlmcError):
    """An invalid config: `file:line:col: path: what is wrong`, one line per problem.

    The attributes describe the first problem in document order; `problems` holds every
    problem found (this one first), so a user fixes a file in one round, not twenty.
    """

    def __init__(
        self,
        file: str,
        pos: Pos | None,
        path: str,
        message: str,
        others: Sequence[ConfigError] = (),
    ) -> None:
        self.file = file
        self.line = pos.line if pos else None
        self.col = pos.col if pos else None
        self.path = path  # "checks[2].max"; "" for the document itself
        # One line, whatever went in; a control character echoed from the file (a key,
        # a metric name) is shown as an escape, not sent to the terminal.
        self.message = safe_text.escaped(" ".join(message.split()))
        self._pos = pos
        self._others = tuple(others)
        where = f"{file}:{pos.line}:{pos.col}" if pos else file
        self.text = f"{where}: {path}: {self.message}" if path else f"{where}: {self.message}"
        lines = [self.text, *(o.text for o in self._others[: MAX_REPORTED - 1])]
        if len(self._others) >= MAX_REPORTED:
            lines.append(f"… and {len(self._others) + 1 - MAX_REPORTED} more")
        super().__init__("\n".join(lines))

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        return (self, *self._others)

    def __reduce__(
        self,
    ) -> tuple[type[ConfigError], tuple[str, Pos | None, str, str, tuple[ConfigError, ...]]]:
        # Exceptions pickle as cls(*args); ours takes its parts (pytest-xdist pickles errors).
        return (ConfigError, (self.file, self._pos, self.path, self.message, self._others))


def combine(filename: str, problems: Sequence[ConfigError]) -> ConfigError:
    """One ConfigError listing `problems` in document order (positionless ones last)."""
    ordered = sorted(problems, key=lambda p: (p._pos is None, p._pos or Pos(0, 0)))
    unique = list({p.text: p for p in ordered}.values())
    first = unique[0]
    return ConfigError(filename, first._pos, first.path, first.message, unique[1:])


def _fail(message: str, *at: str | int, key: bool = False) -> PydanticCustomError:
    """A validation error whose text we control (pydantic leaves `{message}` alone).

    `at` extends the error's location below the validated object (a model validator
    can point at `max` rather than the whole check); `key` reports the position of
    that key rather than of its value.
    """
    return PydanticCustomError("llmc", "{message}", {"message": message, "at": at, "key": key})


def _describe(value: object) -> str:
    """What kind of thing a value is, never the value itself (it may be a secret)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _suggest(word: str, options: Iterable[str]) -> str:
    """'; did you mean …?' for a near miss, else the valid options."""
    opts = list(options)
    close = difflib.get_close_matches(word, opts, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return "; expected one of: " + ", ".join(opts)


# ---------------------------------------------------------------------------


def _fmt_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def config_errors(
    exc: ValidationError,
    doc: Document,
    filename: str,
    secrets: set[str],
    root: type[BaseModel],
    skip: Iterable[DocPath] = (),
) -> list[ConfigError]:
    """Every problem, in document order, one line each."""
    problems = [_locate(err, doc, root) for err in exc.errors(include_url=False)]
    # A typo'd key also makes the real key "missing"; the typo is the useful report.
    typo_in = {p.path for p in problems if p.kind == "extra_forbidden"}
    problems = [p for p in problems if not (p.kind == "missing" and p.path in typo_in)]
    # A value whose ${VAR} failed is already reported; pydantic's view of it is noise.
    skipped = tuple(skip)
    problems = [p for p in problems if not any(p.path[: len(s)] == s for s in skipped)]
    return [
        ConfigError(
            filename,
            problem.pos,
            _fmt_path(problem.path),
            without_secrets(problem.message, secrets),
        )
        for problem in problems
    ]


def without_secrets(message: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:  # redacting "1" would mangle the message, and guards nothing
            message = message.replace(secret, "***")
    return message


class _Problem(NamedTuple):
    path: DocPath  # the path shown: for a key problem, the mapping holding the key
    pos: Pos
    message: str
    kind: str


def _locate(err: ErrorDetails, doc: Document, root: type[BaseModel]) -> _Problem:
    ctx = err.get("ctx") or {}
    loc: tuple[str | int, ...] = (*err["loc"], *ctx.get("at", ()))
    # pydantic locations carry extra steps (union tags); keep those the document has.
    path: DocPath = ()
    for part in loc:
        if (*path, part) in doc.values:
            path = (*path, part)
    kind = err["type"]
    on_key = kind == "extra_forbidden" or bool(ctx.get("key"))
    pos = doc.keys.get(path) if on_key else None
    pos = pos or doc.values.get(path) or doc.values[()]
    if kind == "missing":
        return _Problem(path, pos, f"missing required key '{loc[-1]}'", kind)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        message = f"unknown key '{key}'{_suggest(key, _allowed_keys(loc[:-1], root))}"
        return _Problem(path[:-1], pos, message, kind)
    return _Problem(path[:-1] if on_key else path, pos, _message(err), kind)


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _message(err: ErrorDetails) -> str:
    kind, value = err["type"], err["input"]
    ctx = err.get("ctx") or {}
    if kind == "llmc":
        return str(ctx["message"])
    if kind in _EXPECTED:
        got = _describe(value)
        if kind.endswith("_parsing") and isinstance(value, str):
            got = repr(value if len(value) <= 40 else value[:37] + "...")
        elif kind == "int_from_float":
            got = "a fraction"
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"  # pydantic: "String should have at least 1 character"
    msg = err["msg"].removeprefix("Value error, ")
    if msg.startswith("Input should be"):
        msg = "must be" + msg.removeprefix("Input should be")
    if kind == "literal_error" and isinstance(value, str):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
        if close:
            msg += f"; did you mean '{close[0]}'?"
    return msg


def _allowed_keys(loc: Sequence[str | int], root: type[BaseModel]) -> list[str]:
    """The keys valid in the mapping at `loc`, found by walking the models from `root`."""
    model: type[BaseModel] = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        inner = [t for t in _types_in(field.annotation) if issubclass(t, BaseModel)]
        if len(inner) != 1:
            break
        model = inner[0]
    return list(model.model_fields)


def _types_in(annotation: object) -> Iterable[type]:
    if isinstance(annotation, type):
        yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _types_in(arg)


# ---------------------------------------------------------------------------
# The JSON Schema that ships with the package
