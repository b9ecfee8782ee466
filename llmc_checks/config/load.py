"""Loading a checks file: YAML with positions, ${VAR} interpolation, then validation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from llmc_checks import _yaml
from llmc_checks._yaml import DocPath, Document, Pos
from llmc_checks.config.errors import (
    ConfigError,
    _describe,
    _fmt_path,
    combine,
    config_errors,
    without_secrets,
)
from llmc_checks.config.models import Config, duplicate_names


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate a config file; ConfigError on any problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: tolerate a BOM
    except OSError as exc:
        raise ConfigError(str(path), None, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path),
            None,
            "",
            f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
        ) from None
    config = parse_config(text, filename=str(path), env=env, base_dir=path.absolute().parent)
    config._path = path
    return config


def parse_config(
    text: str,
    *,
    filename: str = "checks.yaml",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate config text; `filename` only labels error messages."""
    try:
        doc = _yaml.load(text)
    except _yaml.YamlError as exc:
        raise ConfigError(filename, exc.pos, _fmt_path(exc.path), exc.message) from None
    expected = "expected a mapping with version, source and checks"
    if doc is None:
        raise ConfigError(filename, Pos(1, 1), "", f"the file is empty; {expected}")
    if not isinstance(doc.data, dict):
        raise ConfigError(
            filename, doc.values[()], "", f"{expected} at the top level, got {_describe(doc.data)}"
        )
    # `x-` keys at the top level hold YAML anchors to reuse (as in compose files and
    # GitHub workflows): not config, so neither interpolated nor validated.
    top = {k: v for k, v in doc.data.items() if not str(k).startswith("x-")}
    secrets: set[str] = set()
    interpolator = _Interpolator(filename, doc, os.environ if env is None else env, secrets)
    data = interpolator.tree(top)
    _collect_api_key(data, secrets)
    problems = list(interpolator.problems)
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        skip = [path for path, _ in interpolator.failed]
        found = config_errors(exc, doc, filename, secrets, Config, skip)
        problems += [_naming_empty_variables(e, interpolator.empty.get(e.path)) for e in found]
        problems += _duplicate_names(data, doc, filename, secrets)
    if problems or config is None:
        raise combine(filename, problems) from None
    config._base_dir = base_dir
    config._snapshot_pos = doc.values.get(("source", "snapshot"))
    for i, check in enumerate(config.checks):
        check._location = doc.values.get(("checks", i))
    return config


def _naming_empty_variables(error: ConfigError, names: list[str] | None) -> ConfigError:
    """`error`, naming the environment variables its value read empty (`names`), if any."""
    if not names or error.line is None or error.col is None:
        return error
    variables = ", ".join(dict.fromkeys(names))
    return ConfigError(
        error.file,
        Pos(error.line, error.col),
        error.path,
        f"{error.message} (read from environment variable {variables}, which is set but empty)",
    )


def _duplicate_names(
    data: Mapping[str, Any], doc: Document, filename: str, secrets: set[str]
) -> list[ConfigError]:
    """The duplicate names among the raw checks: Config's own check of them needs every
    check valid. `combine` drops one it reported too (the same line)."""
    checks = data.get("checks")
    if not isinstance(checks, list):
        return []
    names = [c.get("name") if isinstance(c, dict) else None for c in checks]
    return [
        ConfigError(
            filename,
            doc.values.get(("checks", i, "name")),
            f"checks[{i}].name",
            without_secrets(message, secrets),
        )
        for i, message in duplicate_names(names)
    ]


# ${VAR}, ${VAR:-default}, $$ (a literal $); $NAME is refused where it can only have been
# meant as a variable (docker compose reads it as one): anywhere under `source`, in a
# baseline file's path, or as a whole value. Elsewhere a $ before a word is text ('cost in
# $USD', a regex's '\$USD').
_REF = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<body>[^}]*)\}|(?P<open>\{)|(?P<bare>[A-Za-z_]))?")
_BARE_VALUE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
_REF_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
# Values of variables named like these are redacted from every message.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


class _Interpolator:
    """Resolves ${...} in every string value (not keys), before validation."""

    def __init__(self, filename: str, doc: Document, env: Mapping[str, str], secrets: set[str]):
        self._filename = filename
        self._doc = doc
        self._env = env
        self._secrets = secrets
        # Every reference that failed, so all are reported at once with the other problems.
        self.problems: list[ConfigError] = []
        self.failed: list[tuple[DocPath, str]] = []
        # The variables each value read that were set but empty (a GitHub secret that does
        # not exist reads as ""): a value found wanting there names them.
        # Keyed by the path as errors name it ("source.posthog.api_key").
        self.empty: dict[str, list[str]] = {}

    def tree(self, data: Any) -> Any:
        return self._walk(data, ())

    def _walk(self, value: Any, path: DocPath) -> Any:
        if isinstance(value, dict):
            return {k: self._walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            bare_refused = (
                path[:1] == ("source",)
                or path[-1:] == ("file",)  # a baseline file's path
                or _BARE_VALUE.fullmatch(value) is not None
            )
            try:
                return _REF.sub(lambda m: self._resolve(m, path, bare_refused), value)
            except _Unresolved as exc:
                self.failed.append((path, exc.message))
                pos = self._doc.values.get(path)
                self.problems.append(ConfigError(self._filename, pos, _fmt_path(path), exc.message))
                return value
        return value

    def _resolve(self, m: re.Match[str], path: DocPath, bare_refused: bool) -> str:
        if m["dollar"]:
            return "$"
        if m["open"]:
            self._error(path, "unterminated '${' (write $$ for a literal $)")
        if m["bare"] and not bare_refused:
            return m[0]
        if m["bare"]:
            # The name is not echoed: the value may be a literal API key.
            self._error(
                path,
                "a $ before a name is not read from the environment; "
                "write ${NAME} for a variable, or $$ for a literal $",
            )
        body = m["body"]
        if body is None:
            return "$"
        ref = _REF_BODY.fullmatch(body)
        if ref is None:
            self._error(
                path, f"invalid reference '${{{body}}}'; write ${{NAME}} or ${{NAME:-default}}"
            )
        name, default = ref["name"], ref["default"]
        value = self._env.get(name)
        if default is not None and not value:  # like the shell: unset or empty
            return default
        if value is None:
            self._error(path, f"environment variable {name} is not set")
        if not value:
            self.empty.setdefault(_fmt_path(path), []).append(name)
        if _SECRET_NAME.search(name):
            self._secrets.add(value)
        return value

    def _error(self, path: DocPath, message: str) -> NoReturn:
        raise _Unresolved(message)


class _Unresolved(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _collect_api_key(data: dict[str, Any], secrets: set[str]) -> None:
    source = data.get("source")
    posthog = source.get("posthog") if isinstance(source, dict) else None
    key = posthog.get("api_key") if isinstance(posthog, dict) else None
    if isinstance(key, str):
        secrets.add(key)
