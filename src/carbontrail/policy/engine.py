"""The policy engine: compile a YAML+CEL policy once, evaluate it many times into explained decisions.

Policy file (YAML)::

    policy: deploy-carbon          # id
    version: "2026.1"
    description: what it is for
    approval: {quorum: 2, expires_after_days: 30}   # committee settings (optional)
    parameters:                    # budgets etc., optionally per team / environment / any input key
      annual_budget_t:
        default: 20.0
        by: {environment: {staging: 2.0}, team: {vision: 40.0}}
    variables:                     # named CEL expressions, evaluated in order, may use earlier ones
      annual_t: "input.footprint.total_g / 1e6 / (input.deployment.horizon_days / 365.0)"
    rules:
      - id: annual-budget
        severity: veto             # veto | warn | audit
        require: "annual_t <= params.annual_budget_t"
        message: "projected {annual_t:.1f} t/yr exceeds the {params.annual_budget_t} t/yr budget"

CEL sees ``input`` (the request data), ``params`` (parameters resolved for this input) and every
variable by name. Integers in the input and parameters are turned into doubles before evaluation
(CEL refuses ``int + double``); booleans, strings, lists and maps pass through. Every rule is
evaluated. A rule *passes* when its ``require`` expression is ``true``; an expression that errors
or does not return a boolean *fails closed*: it counts as a failed veto rule, whatever its stated
severity. Outcome: ``veto`` if a veto rule failed, else ``needs-approval`` if a warn rule failed,
else ``allow`` (failed ``audit`` rules are only recorded).

Evaluation is pure (no I/O, no clock): the caller stores and timestamps the :class:`Decision`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from carbontrail.errors import PolicyError
from carbontrail.policy.backend import CelBackend, get_backend
from carbontrail.policy.loader import LIMITS, Limits, LineMap, PolicyLoadError, check_expression, load_yaml
from carbontrail.provenance import digest

__all__ = ["OUTCOMES", "SEVERITIES", "Decision", "Policy", "RuleResult", "normalise_input", "render_message"]

SEVERITIES = ("veto", "warn", "audit")
OUTCOMES = ("allow", "needs-approval", "veto")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_RESERVED = {
    "input",
    "params",
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
}
_INPUT_PATH = re.compile(r"(?<![.\w])input((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+)(\s*\()?")
_BARE_INPUT = re.compile(r"(?<![.\w])input\b")
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _input_paths(src: str) -> tuple[set[tuple[str, ...]], bool]:
    """Input paths an expression reads (method calls dropped), and whether it also uses ``input``
    in a way a path cannot describe (then the whole input must be kept)."""
    code = _STRINGS.sub('""', src)
    paths: set[tuple[str, ...]] = set()
    for m in _INPUT_PATH.finditer(code):
        parts = [x.strip() for x in m.group(1).split(".") if x.strip()]
        if m.group(2):  # the last segment is a method/macro call
            parts = parts[:-1]
        paths.add(tuple(parts))
    whole = len(_BARE_INPUT.findall(code)) > len(list(_INPUT_PATH.finditer(code))) or () in paths
    return paths, whole


def _uses(src: str, names: set[str]) -> set[str]:
    code = _STRINGS.sub('""', src)
    return {n for n in names if re.search(rf"(?<![.\w]){re.escape(n)}\b", code)}


def _trie(paths: set[tuple[str, ...]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths, key=len):
        node = root
        for i, part in enumerate(path):
            if node.get(part) is True:
                break
            if i == len(path) - 1:
                node[part] = True
            else:
                node = node.setdefault(part, {})
    return root


def _prune(data: dict[str, Any], trie: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in trie.items():
        if key in data:
            v = data[key]
            out[key] = _prune(v, sub) if sub is not True and isinstance(v, dict) else v
    return out


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's result. ``status`` is ``pass``, ``fail`` or ``error`` (error counts as a veto)."""

    rule_id: str
    severity: str
    status: str
    message: str = ""
    error: str | None = None

    @property
    def effective_severity(self) -> str:
        return "veto" if self.status == "error" else self.severity

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "status": self.status,
            "message": self.message,
            "error": self.error,
        }


@dataclass(frozen=True)
class Decision:
    """The explained result of evaluating a policy on one input.

    Attributes:
        outcome: ``allow``, ``needs-approval`` or ``veto``.
        rules: every rule's :class:`RuleResult`, in file order.
        variables: value of every variable that evaluated (quantities in the units their names state).
        variable_errors: error text of every variable that failed.
        params: parameters as resolved for this input.
        inputs_read: every ``input.*`` path an expression refers to, with the value found (or None).
        policy_id, policy_version, policy_digest: which policy decided.
        input_digest: digest of the normalised input (:func:`carbontrail.provenance.digest`).
    """

    outcome: str
    rules: tuple[RuleResult, ...]
    variables: dict[str, Any]
    variable_errors: dict[str, str]
    params: dict[str, Any]
    inputs_read: dict[str, Any]
    policy_id: str
    policy_version: str
    policy_digest: str
    input_digest: str
    backend: str = "cel"

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if r.status != "pass"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "rules": [r.to_dict() for r in self.rules],
            "variables": self.variables,
            "variable_errors": self.variable_errors,
            "params": self.params,
            "inputs_read": self.inputs_read,
            "policy_id": self.policy_id,
            "policy_version": self.policy_version,
            "policy_digest": self.policy_digest,
            "input_digest": self.input_digest,
            "backend": self.backend,
        }


def normalise_input(value: Any, path: str = "input", *, max_bytes: int = LIMITS.max_input_bytes) -> Any:
    """Plain data with every number as a float (booleans kept), dates as ISO strings.

    Raises :class:`PolicyError` on NaN/infinity, unsupported types or an input larger than
    ``max_bytes`` of JSON. Non-string keys become strings, as in JSON.
    """
    return _normalise(value, path, max_bytes)[0]


def _walk(v: Any) -> Any:
    """Numbers to floats (booleans kept), tuples to lists, dates to ISO text; the common types take
    the fast path (``type() is``), anything else goes through :func:`_slow`."""
    t = type(v)
    if t is float or t is str or t is bool or v is None:
        return v
    if t is int:
        return float(v)
    if t is dict:
        return {k: _walk(x) for k, x in v.items()}
    if t is list or t is tuple:
        return [_walk(x) for x in v]
    return _slow(v)


def _slow(v: Any) -> Any:
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, float | int):
        return float(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, Mapping):
        return {k: _walk(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_walk(x) for x in v]
    if isinstance(v, datetime | date):
        return v.isoformat()
    if hasattr(v, "__index__"):  # numpy integers and friends
        return float(v.__index__())
    if hasattr(v, "__float__") and not hasattr(v, "__len__"):  # numpy floats, Decimal
        return float(v)
    raise TypeError(f"unsupported value of type {type(v).__name__}")


def _normalise(value: Any, path: str, max_bytes: int) -> tuple[Any, str]:
    """(normalised value, its canonical JSON text)."""
    try:
        norm = _walk(value)
        canon = json.dumps(norm, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise PolicyError(f"{path}: not a finite number somewhere in the input ({exc})") from exc
    except TypeError as exc:
        raise PolicyError(f"{path}: {exc} (keys must be strings)") from exc
    except RecursionError as exc:
        raise PolicyError(f"{path}: nested too deeply") from exc
    if len(canon) > max_bytes:
        raise PolicyError(f"{path}: input is larger than {max_bytes} bytes of JSON")
    return norm, canon


_TEMPLATE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?::([^{}]*))?\}")
_SPEC = re.compile(r"^[<>^]?[+\- ]?0?\d{0,2},?(\.\d{1,2})?[eEfFgG%sd]?$")


def _lookup(scope: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = scope
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            raise KeyError(dotted)
        cur = cur[part]
    return cur


def render_message(template: str, scope: Mapping[str, Any]) -> str:
    """Fill ``{name}``, ``{input.a.b}``, ``{params.x:.1f}`` placeholders from ``scope``.

    Only dotted look-ups in mappings and short format specs are allowed (no attribute access, no
    indexing), so a template cannot reach into Python objects. Unknown names render as ``{name?}``.
    """

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        name, spec = m.group(1), m.group(2) or ""
        try:
            val = _lookup(scope, name)
        except KeyError:
            return "{" + name + "?}"
        if spec and _SPEC.match(spec):
            try:
                return format(val, spec)
            except (ValueError, TypeError):
                return str(val)
        return str(val)

    return _TEMPLATE.sub(sub, template)


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    default: Any
    by: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True, slots=True)
class _Rule:
    rule_id: str
    severity: str
    source: str
    message: str
    program: Any
    line: int
    uses: frozenset[str] = frozenset()
    passed: RuleResult | None = None


@dataclass
class Policy:
    """A compiled policy. Build with :meth:`load` (a file) or :meth:`from_text`; then
    :meth:`evaluate` many times (compile once, evaluate many)."""

    policy_id: str
    version: str
    description: str
    digest: str
    source: str
    file: str
    quorum: int
    expires_after_days: float
    backend: CelBackend
    params: tuple[_Param, ...]
    variables: tuple[tuple[str, str, Any], ...]
    rules: tuple[_Rule, ...]
    input_paths: tuple[tuple[str, tuple[str, ...]], ...]
    input_trie: dict[str, Any] | None = None
    var_uses: tuple[frozenset[str], ...] = ()
    limits: Limits = field(default=LIMITS)

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, backend: str = "auto", limits: Limits = LIMITS) -> Policy:
        """Read and compile the policy file at ``path``; :class:`PolicyLoadError` names file and line."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyLoadError(f"cannot read: {exc}", file=str(p)) from exc
        return cls.from_text(text, file=str(p), backend=backend, limits=limits)

    @classmethod
    def from_text(cls, text: str, *, file: str = "<policy>", backend: str = "auto", limits: Limits = LIMITS) -> Policy:
        """Compile a policy from its YAML text."""
        doc = load_yaml(text, file, limits)
        eng = get_backend(backend)

        def fail(msg: str, line: int | None = None, rule_id: str | None = None) -> PolicyLoadError:
            return PolicyLoadError(msg, file=file, line=line, rule_id=rule_id)

        if not isinstance(doc, LineMap):
            raise fail("a policy is a mapping with `policy`, `rules`...", 1)
        known = {"policy", "version", "description", "approval", "parameters", "variables", "rules"}
        for k in doc:
            if k not in known:
                raise fail(f"unknown key {k!r} (expected one of {sorted(known)})", doc.key_lines[k])
        pid = doc.get("policy")
        if not isinstance(pid, str) or not _RULE_ID.match(pid):
            raise fail("`policy` must be an id (letters, digits, - _ .)", doc.key_lines.get("policy", doc.line))
        version = str(doc.get("version", "0"))
        approval = doc.get("approval") or _empty()
        if not isinstance(approval, LineMap):
            raise fail("`approval` must be a mapping", doc.key_lines["approval"])
        quorum = approval.get("quorum", 2)
        expires = approval.get("expires_after_days", 30)
        if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
            raise fail("approval.quorum must be a positive integer", approval.line)
        if isinstance(expires, bool) or not isinstance(expires, int | float) or not 0 < expires < 3650:
            raise fail("approval.expires_after_days must be a number of days in (0, 3650)", approval.line)

        # parameters
        params: list[_Param] = []
        raw_params = doc.get("parameters") or _empty()
        if not isinstance(raw_params, LineMap):
            raise fail("`parameters` must be a mapping", doc.key_lines["parameters"])
        if len(raw_params) > limits.max_parameters:
            raise fail(f"more than {limits.max_parameters} parameters", raw_params.line)
        for name, spec in raw_params.items():
            line = raw_params.key_lines[name]
            if not _NAME.match(name):
                raise fail(f"parameter name {name!r} is not an identifier", line)
            if isinstance(spec, dict):
                extra = set(spec) - {"default", "by", "unit", "description"}
                if extra or "default" not in spec:
                    raise fail(f"parameter {name!r} needs `default` (and optional `by`, `unit`)", line)
                by = spec.get("by") or {}
                if not isinstance(by, dict) or not all(isinstance(v, dict) for v in by.values()):
                    raise fail(f"parameter {name!r}: `by` maps an input key to {{value: parameter}}", line)
                try:
                    default = normalise_input(spec["default"], f"parameters.{name}")
                    by_n = tuple((k, normalise_input(v, f"parameters.{name}.by.{k}")) for k, v in by.items())
                except PolicyError as exc:
                    raise fail(str(exc), line) from exc
                params.append(_Param(name, default, by_n))
            else:
                try:
                    params.append(_Param(name, normalise_input(spec, f"parameters.{name}"), ()))
                except PolicyError as exc:
                    raise fail(str(exc), line) from exc

        # variables
        variables: list[tuple[str, str, Any]] = []
        raw_vars = doc.get("variables") or _empty()
        if not isinstance(raw_vars, LineMap):
            raise fail("`variables` must be a mapping of name: CEL expression", doc.key_lines["variables"])
        if len(raw_vars) > limits.max_variables:
            raise fail(f"more than {limits.max_variables} variables", raw_vars.line)
        for name, src in raw_vars.items():
            line = raw_vars.key_lines[name]
            if not _NAME.match(name) or name in _RESERVED:
                raise fail(f"variable name {name!r} is not an identifier or is reserved", line)
            if not isinstance(src, str):
                raise fail(f"variable {name!r}: expected a CEL expression string", line)
            try:
                check_expression(src, limits)
                prog = eng.compile(src)
            except PolicyError as exc:
                raise fail(f"variable {name!r}: {exc}", line) from exc
            variables.append((name, src, prog))

        # rules
        rules: list[_Rule] = []
        raw_rules = doc.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise fail("`rules` must be a non-empty list", doc.key_lines.get("rules", doc.line))
        if len(raw_rules) > limits.max_rules:
            raise fail(f"more than {limits.max_rules} rules", doc.key_lines["rules"])
        seen: set[str] = set()
        for r in raw_rules:
            if not isinstance(r, LineMap):
                raise fail("each rule is a mapping with id, severity, require, message", doc.key_lines["rules"])
            rid = r.get("id")
            line = r.line
            if not isinstance(rid, str) or not _RULE_ID.match(rid):
                raise fail("rule needs an `id` (letters, digits, - _ .)", line)
            if rid in seen:
                raise fail("duplicate rule id", line, rid)
            seen.add(rid)
            extra = set(r) - {"id", "severity", "require", "message", "description"}
            if extra:
                raise fail(f"unknown key(s) {sorted(extra)}", r.key_lines[sorted(extra)[0]], rid)
            sev = r.get("severity", "veto")
            if sev not in SEVERITIES:
                raise fail(f"severity must be one of {SEVERITIES}, got {sev!r}", r.key_lines.get("severity"), rid)
            src = r.get("require")
            if not isinstance(src, str):
                raise fail("`require` must be a CEL expression string", r.key_lines.get("require", line), rid)
            msg = r.get("message", f"rule {rid} failed")
            if not isinstance(msg, str) or len(msg) > limits.max_message_chars:
                raise fail(
                    f"`message` must be text of at most {limits.max_message_chars} characters",
                    r.key_lines.get("message", line),
                    rid,
                )
            try:
                check_expression(src, limits)
                prog = eng.compile(src)
            except PolicyError as exc:
                raise fail(str(exc), r.key_lines.get("require", line), rid) from exc
            rules.append(_Rule(rid, sev, src, msg, prog, line))

        all_paths: set[tuple[str, ...]] = set()
        whole = False
        var_names = {n for n, _s, _p in variables}
        var_uses = []
        for _n, vsrc, _p in variables:
            ps, w = _input_paths(vsrc)
            all_paths |= ps
            whole = whole or w
            var_uses.append(frozenset(_uses(vsrc, var_names - {_n})))
        for i, r in enumerate(rules):
            ps, w = _input_paths(r.source)
            all_paths |= ps
            whole = whole or w
            rules[i] = _Rule(
                r.rule_id,
                r.severity,
                r.source,
                r.message,
                r.program,
                r.line,
                frozenset(_uses(r.source, var_names)),
                RuleResult(r.rule_id, r.severity, "pass"),
            )
        paths = tuple(sorted(("input." + ".".join(p), p) for p in all_paths if p))
        plain = _plain(doc)
        return cls(
            policy_id=pid,
            version=version,
            description=str(doc.get("description", "")),
            digest=digest(plain),
            source=text,
            file=file,
            quorum=int(quorum),
            expires_after_days=float(expires),
            backend=eng,
            params=tuple(params),
            variables=tuple(variables),
            rules=tuple(rules),
            input_paths=paths,
            input_trie=None if whole else _trie(all_paths),
            var_uses=tuple(var_uses),
            limits=limits,
        )

    # -- evaluation -------------------------------------------------------------------------
    def resolve_params(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Parameter values for this (normalised) input: the first ``by`` key whose input value has
        an entry wins, else the default."""
        out: dict[str, Any] = {}
        for p in self.params:
            val = p.default
            for key, table in p.by:
                sel = data.get(key)
                if isinstance(sel, str) and sel in table:
                    val = table[sel]
                    break
            out[p.name] = val
        return out

    def evaluate(self, data: Mapping[str, Any]) -> Decision:
        """Evaluate every rule on ``data`` and explain the outcome. Never raises for bad input: a
        malformed input is a veto whose rule ``input`` says why (fail closed)."""
        try:
            norm, canon = _normalise(data, "input", self.limits.max_input_bytes)
            if not isinstance(norm, dict):
                raise PolicyError("input must be a mapping")
        except PolicyError as exc:
            return Decision(
                outcome="veto",
                rules=(RuleResult("input", "veto", "error", f"input refused: {exc}", str(exc)),),
                variables={},
                variable_errors={},
                params={},
                inputs_read={},
                policy_id=self.policy_id,
                policy_version=self.version,
                policy_digest=self.digest,
                input_digest="",
                backend=self.backend.name,
            )
        params = self.resolve_params(norm)
        eng = self.backend
        run = eng.run
        seen_input = norm if self.input_trie is None else _prune(norm, self.input_trie)
        ctx = eng.context({"input": seen_input, "params": params})
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        max_items = self.limits.max_value_items
        for (name, _src, prog), uses in zip(self.variables, self.var_uses, strict=True):
            failed = uses & errors.keys()
            if failed:
                errors[name] = f"uses variable {sorted(failed)[0]!r}, which failed"
                continue
            try:
                v = run(prog, ctx)
                tv = type(v)
                if tv is float:
                    if not math.isfinite(v):
                        raise PolicyError(f"value is {v}")
                elif tv is not bool and tv is not int and _size(v, max_items) > max_items:
                    raise PolicyError(f"value larger than {max_items} items")
            except Exception as exc:  # any CEL error: record, rules that use it fail closed
                errors[name] = _short(exc)
                continue
            values[name] = v
            ctx = eng.bind(ctx, name, v)
        scope = None
        results: list[RuleResult] = []
        worst = 0
        for r in self.rules:
            failed = r.uses & errors.keys()
            if failed:
                bad = sorted(failed)[0]
                err = f"variable {bad!r} failed: {errors[bad]}"
                results.append(RuleResult(r.rule_id, r.severity, "error", f"rule {r.rule_id}: {err}", err))
                worst = 2
                continue
            try:
                v = run(r.program, ctx)
            except Exception as exc:
                results.append(
                    RuleResult(
                        r.rule_id,
                        r.severity,
                        "error",
                        f"rule {r.rule_id} could not be evaluated: {_short(exc)}",
                        _short(exc),
                    )
                )
                worst = 2
                continue
            if v is True:
                results.append(r.passed or RuleResult(r.rule_id, r.severity, "pass"))
                continue
            if v is not False:
                err = f"rule must return a boolean, got {type(v).__name__}"
                results.append(RuleResult(r.rule_id, r.severity, "error", f"rule {r.rule_id}: {err}", err))
                worst = 2
                continue
            if scope is None:
                scope = {"input": norm, "params": params, **values}
            results.append(RuleResult(r.rule_id, r.severity, "fail", render_message(r.message, scope)))
            worst = max(worst, {"veto": 2, "warn": 1, "audit": 0}[r.severity])
        read: dict[str, Any] = {}
        for dotted, parts in self.input_paths:
            cur: Any = norm
            for part in parts:
                cur = cur.get(part) if isinstance(cur, dict) else None
            read[dotted] = cur
        return Decision(
            outcome=OUTCOMES[worst],
            rules=tuple(results),
            variables=values,
            variable_errors=errors,
            params=params,
            inputs_read=read,
            policy_id=self.policy_id,
            policy_version=self.version,
            policy_digest=self.digest,
            input_digest=hashlib.sha256(canon.encode()).hexdigest(),
            backend=eng.name,
        )


def _empty() -> LineMap:
    m = LineMap()
    m.line = 0
    m.key_lines = {}
    return m


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _size(v: Any, cap: int) -> int:
    if isinstance(v, str):
        return len(v)
    if isinstance(v, dict):
        n = len(v)
        for x in v.values():
            if n > cap:
                break
            n += _size(x, cap)
        return n
    if isinstance(v, list | tuple):
        n = len(v)
        for x in v:
            if n > cap:
                break
            n += _size(x, cap)
        return n
    return 1


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v
