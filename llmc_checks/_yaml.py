"""YAML → plain Python, remembering where every key and value sits in the file.

PyYAML's `safe_load` forgets positions and silently keeps the last of two
duplicate keys. Composing the node graph ourselves gives both: a position for
every path (so a validation error can point at `checks.yaml:14:5`) and a chance
to reject duplicates. Everything is converted with PyYAML's safe constructors,
so scalars resolve exactly as `safe_load` would (`25%` is a string, `36` an int),
except that a YAML 1.1 number that reads as another than it shows (`010` is octal 8,
`1:30` base-60 90) is an error rather than a surprise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# A path into the document: mapping keys and sequence indexes, root = ().
DocPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
# Aliases can expand a small file exponentially ("billion laughs"); a config
# never needs anywhere near this many nodes.
_MAX_NODES = 100_000


@dataclass(frozen=True, slots=True, order=True)
class Pos:
    """A 1-based line and column."""

    line: int
    col: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Pos:
        return cls(mark.line + 1, mark.column + 1)


@dataclass(slots=True)
class Document:
    data: Any
    # Where each value starts (for a mapping or sequence: its first token).
    values: dict[DocPath, Pos] = field(default_factory=dict)
    # Where each mapping key itself sits; an unknown key is reported there.
    keys: dict[DocPath, Pos] = field(default_factory=dict)


class YamlError(Exception):
    """A syntax or structure problem, with the position and document path."""

    def __init__(self, message: str, pos: Pos, path: DocPath = ()) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.path = path


def load(text: str) -> Document | None:
    """Compose and convert one YAML document; None when the stream holds none."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except yaml.reader.ReaderError as exc:
        raise YamlError(
            f"invalid YAML: {exc.reason} (character {exc.character!r})",
            _pos_at(text, exc.position),
        ) from None
    if root is None:
        return None
    return _Converter().document(root)


def _syntax_error(exc: yaml.MarkedYAMLError) -> YamlError:
    # PyYAML's own str() quotes a snippet of the line; use only the problem text
    # so nothing from the file (a secret on that line) is echoed.
    problem = exc.problem or exc.context or "syntax error"
    mark = exc.problem_mark or exc.context_mark
    if "'\\t'" in problem:
        problem += (
            " (indent with spaces, not tabs)"
            if mark is None or _in_indentation(mark)
            else " (YAML separates with spaces, not tabs)"
        )
    pos = Pos.of(mark) if mark is not None else Pos(1, 1)
    return YamlError(f"invalid YAML: {problem}", pos)


_OCTAL = re.compile(r"[-+]?0[0-7_]*[0-7][0-7_]*")


def _yaml11_number(node: Node, value: Any) -> str | None:
    """Why a plain number reads as another than it shows, by YAML 1.1's rules (PyYAML's):
    `010` is octal 8, `1:30` base-60 90. A limit would be shown as that other number."""
    if not isinstance(node, ScalarNode) or node.style is not None:
        return None
    text = node.value
    if node.tag == "tag:yaml.org,2002:int" and _OCTAL.fullmatch(text):
        return f"'{text}' starts with 0, which YAML reads as an octal number ({value}); " + (
            "write it without the leading zero"
        )
    if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in text:
        return f"'{text}' is a base-60 number in YAML ({value:g}); write the number itself"
    return None


def _in_indentation(mark: yaml.Mark) -> bool:
    """Whether only spaces and tabs precede `mark` on its line."""
    buffer = mark.buffer
    if not isinstance(buffer, str):
        return True
    start = buffer.rfind("\n", 0, mark.pointer) + 1
    return not buffer[start : mark.pointer].strip(" \t")


def _pos_at(text: str, offset: int) -> Pos:
    before = text[:offset]
    line = before.count("\n") + 1
    return Pos(line, offset - (before.rfind("\n") + 1) + 1)


class _Converter:
    def __init__(self) -> None:
        self._doc = Document(data=None)
        # Only used to run PyYAML's safe scalar constructors (int, float, bool, ...).
        self._constructor = yaml.SafeLoader("")
        self._nodes = 0

    def document(self, root: Node) -> Document:
        self._doc.data = self._value(root, ())
        return self._doc

    def _value(self, node: Node, path: DocPath) -> Any:
        self._nodes += 1
        if self._nodes > _MAX_NODES:
            raise YamlError("document too large (alias expansion?)", Pos.of(node.start_mark), path)
        self._doc.values.setdefault(path, Pos.of(node.start_mark))
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self._value(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: Node, path: DocPath) -> Any:
        try:
            value = self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:  # e.g. an unknown tag such as !!python/name
            raise YamlError(
                f"invalid YAML: {exc.problem or 'cannot construct value'}",
                Pos.of(node.start_mark),
                path,
            ) from None
        surprise = _yaml11_number(node, value)
        if surprise and not (path and str(path[0]).startswith("x-")):  # x- keys are never read
            raise YamlError(f"invalid YAML: {surprise}", Pos.of(node.start_mark), path)
        return value

    def _mapping(self, node: MappingNode, path: DocPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, Pos] = {}
        merged: list[tuple[ScalarNode, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, path))
                continue
            key, pos = self._key(key_node, path)
            if key in first_seen:
                raise YamlError(
                    f"duplicate key '{key}' (first defined at line {first_seen[key].line})",
                    pos,
                    path,
                )
            first_seen[key] = pos
            child = (*path, key)
            self._doc.keys[child] = pos
            out[key] = self._value(value_node, child)
        # YAML merge keys (`<<: *defaults`): explicit keys win, then earlier sources.
        for key_node, value_node in merged:
            key, pos = self._key(key_node, path)
            if key not in out:
                child = (*path, key)
                self._doc.keys[child] = pos
                out[key] = self._value(value_node, child)
        return out

    def _key(self, node: Node, path: DocPath) -> tuple[str, Pos]:
        pos = Pos.of(node.start_mark)
        if not isinstance(node, ScalarNode):
            raise YamlError("a mapping key must be a plain name", pos, path)
        # The key's source text, not its YAML type: `on:` stays "on" (not True),
        # `1:` stays "1", so every key is a string the validator can name.
        return str(node.value), pos

    def _merge_sources(self, node: Node, path: DocPath) -> list[tuple[ScalarNode, Node]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        pairs: list[tuple[ScalarNode, Node]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                raise YamlError(
                    "a merge key (<<) needs a mapping or a list of mappings",
                    Pos.of(source.start_mark),
                    path,
                )
            nested: list[tuple[ScalarNode, Node]] = []
            for key_node, value_node in source.value:
                if key_node.tag == _MERGE_TAG:
                    nested.extend(self._merge_sources(value_node, path))
                else:
                    pairs.append((key_node, value_node))
            # A source's own keys win over what it merges in itself.
            pairs.extend(nested)
        return pairs
