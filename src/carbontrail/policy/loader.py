"""Reading policy and test-case YAML with line numbers, and the static limits every policy meets.

Pure: parses text that is passed in (the file name is only used in messages). Anchors and aliases
are refused (no "billion laughs"), duplicate keys are refused, and every error names the file, the
line and, where there is one, the rule id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from carbontrail.errors import PolicyError

__all__ = ["LIMITS", "Limits", "LineMap", "PolicyLoadError", "check_expression", "load_yaml"]


class PolicyLoadError(PolicyError):
    """A policy or policy-test file is malformed. ``file``, ``line`` (1-based) and ``rule_id`` say where."""

    def __init__(self, msg: str, *, file: str = "<policy>", line: int | None = None, rule_id: str | None = None):
        where = file + (f":{line}" if line else "")
        rule = f" rule {rule_id!r}:" if rule_id else ""
        super().__init__(f"{where}:{rule} {msg}")
        self.file = file
        self.line = line
        self.rule_id = rule_id
        self.reason = msg


@dataclass(frozen=True)
class Limits:
    """Static bounds that keep a hostile policy's cost bounded (CEL itself runs no code and has no
    unbounded loops; comprehensions are the only iteration, so they are counted and may not nest)."""

    max_source_bytes: int = 256_000
    max_rules: int = 100
    max_variables: int = 50
    max_parameters: int = 100
    max_expression_chars: int = 2_000
    max_comprehensions: int = 3
    max_nesting: int = 32
    max_message_chars: int = 1_000
    max_value_items: int = 10_000
    max_input_bytes: int = 1_000_000


LIMITS = Limits()

_MACROS = re.compile(r"\.\s*(all|exists|exists_one|map|filter)\s*\(")


def check_expression(src: str, limits: Limits = LIMITS) -> None:
    """Raise :class:`PolicyError` when ``src`` breaks the static limits: length, bracket nesting,
    number of comprehension macros, or a comprehension nested inside another."""
    if not isinstance(src, str) or not src.strip():
        raise PolicyError("expression must be a non-empty string")
    if len(src) > limits.max_expression_chars:
        raise PolicyError(f"expression is {len(src)} characters; the limit is {limits.max_expression_chars}")
    # strip string literals before counting brackets and macros
    stripped = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", '""', src)
    depth = 0
    macro_depths: list[int] = []
    count = 0
    i = 0
    while i < len(stripped):
        m = _MACROS.match(stripped, i)
        if m:
            count += 1
            if macro_depths:
                raise PolicyError("comprehensions (all/exists/map/filter) may not be nested")
            if count > limits.max_comprehensions:
                raise PolicyError(f"more than {limits.max_comprehensions} comprehensions in one expression")
            depth += 1
            macro_depths.append(depth)
            i = m.end()
            continue
        ch = stripped[i]
        if ch in "([{":
            depth += 1
            if depth > limits.max_nesting:
                raise PolicyError(f"brackets nested deeper than {limits.max_nesting}")
        elif ch in ")]}":
            if macro_depths and macro_depths[-1] == depth:
                macro_depths.pop()
            depth -= 1
        i += 1


class LineMap(dict[str, Any]):
    """A mapping that remembers the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


def _convert(node: yaml.Node, file: str, seen: set[int]) -> Any:
    if id(node) in seen:
        raise PolicyLoadError("YAML anchors/aliases are not allowed", file=file, line=node.start_mark.line + 1)
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        out = LineMap()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for k_node, v_node in node.value:
            if k_node.tag == "tag:yaml.org,2002:merge":
                raise PolicyLoadError("YAML merge keys are not allowed", file=file, line=k_node.start_mark.line + 1)
            key = _convert(k_node, file, seen)
            if not isinstance(key, str):
                raise PolicyLoadError(f"keys must be strings, got {key!r}", file=file, line=k_node.start_mark.line + 1)
            if key in out:
                raise PolicyLoadError(f"duplicate key {key!r}", file=file, line=k_node.start_mark.line + 1)
            out[key] = _convert(v_node, file, seen)
            out.key_lines[key] = k_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, file, seen) for v in node.value]
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_yaml(text: str, file: str = "<policy>", limits: Limits = LIMITS) -> Any:
    """Parse one YAML document into plain data whose mappings carry ``line``/``key_lines``."""
    if len(text.encode()) > limits.max_source_bytes:
        raise PolicyLoadError(f"file is larger than {limits.max_source_bytes} bytes", file=file)
    try:
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
                mark = ev.start_mark
                line = mark.line + 1 if mark is not None else None
                raise PolicyLoadError("YAML anchors/aliases are not allowed", file=file, line=line)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyLoadError(f"not valid YAML: {exc.problem or exc}", file=file, line=line) from exc
    except yaml.YAMLError as exc:
        raise PolicyLoadError(f"not valid YAML: {exc}", file=file) from exc
    if node is None:
        raise PolicyLoadError("empty document", file=file, line=1)
    try:
        return _convert(node, file, set())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyLoadError(f"bad value: {exc.problem}", file=file, line=line) from exc
