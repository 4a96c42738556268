"""Policy test cases: YAML files beside a policy, run by ``carbontrail policy test``.

Format (``deploy-carbon.tests.yaml`` beside ``deploy-carbon.yaml``)::

    policy: deploy-carbon.yaml      # relative to this file
    base: {...}                     # an input every case starts from (optional)
    cases:
      - name: small model in a clean zone is allowed
        input: {...}                # deep-merged over `base` (mappings merge, other values replace)
        expect: allow               # allow | needs-approval | veto
        rules: {annual-budget: pass, zone-intensity: fail}   # optional per-rule status
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carbontrail.policy.engine import OUTCOMES, Decision, Policy
from carbontrail.policy.loader import LineMap, PolicyLoadError, load_yaml

__all__ = ["CaseResult", "deep_merge", "find_test_files", "run_cases"]


@dataclass
class CaseResult:
    """One case: ``ok`` when the outcome and every listed rule status matched."""

    name: str
    line: int
    ok: bool
    expected: str
    got: str
    mismatches: list[str] = field(default_factory=list)
    decision: Decision | None = None


def deep_merge(base: Any, over: Any) -> Any:
    """``over`` merged into ``base``: mappings merge recursively, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = deep_merge(base.get(k), v) if k in base else v
        return out
    return over


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def find_test_files(path: str | Path) -> list[Path]:
    """The test files for a policy file (``X.tests.yaml`` beside ``X.yaml``), a test file itself,
    or every ``*.tests.yaml`` under a folder."""
    p = Path(path)
    if p.is_dir():
        return sorted(p.rglob("*.tests.yaml"))
    if p.name.endswith(".tests.yaml"):
        return [p]
    cand = p.with_name(p.name.removesuffix(".yaml").removesuffix(".yml") + ".tests.yaml")
    return [cand] if cand.exists() else []


def run_cases(test_file: str | Path, *, backend: str = "auto") -> tuple[Policy, list[CaseResult]]:
    """Load the policy a test file names and run every case in it."""
    tf = Path(test_file)
    fname = str(tf)
    try:
        doc = load_yaml(tf.read_text(encoding="utf-8"), fname)
    except OSError as exc:
        raise PolicyLoadError(f"cannot read: {exc}", file=fname) from exc
    if not isinstance(doc, LineMap) or not isinstance(doc.get("policy"), str):
        raise PolicyLoadError("a test file is a mapping with `policy:` (path) and `cases:`", file=fname, line=1)
    policy = Policy.load(tf.parent / doc["policy"], backend=backend)
    base = _plain(doc.get("base") or {})
    cases = doc.get("cases")
    if not isinstance(cases, list) or not cases:
        raise PolicyLoadError("`cases` must be a non-empty list", file=fname, line=doc.key_lines.get("cases"))
    results: list[CaseResult] = []
    rule_ids = {r.rule_id for r in policy.rules}
    for i, case in enumerate(cases):
        if not isinstance(case, LineMap):
            raise PolicyLoadError(f"case {i + 1} is not a mapping", file=fname, line=doc.key_lines["cases"])
        name = str(case.get("name", f"case {i + 1}"))
        expect = case.get("expect")
        if expect not in OUTCOMES:
            raise PolicyLoadError(f"case {name!r}: `expect` must be one of {OUTCOMES}", file=fname, line=case.line)
        want_rules = case.get("rules") or {}
        if not isinstance(want_rules, dict):
            raise PolicyLoadError(f"case {name!r}: `rules` maps rule id to pass|fail|error", file=fname, line=case.line)
        for rid, st in want_rules.items():
            if rid not in rule_ids:
                raise PolicyLoadError(
                    f"case {name!r}: no rule {rid!r} in the policy",
                    file=fname,
                    line=want_rules.key_lines.get(rid, case.line) if isinstance(want_rules, LineMap) else case.line,
                )
            if st not in ("pass", "fail", "error"):
                raise PolicyLoadError(f"case {name!r}: rule status must be pass|fail|error", file=fname, line=case.line)
        data = deep_merge(base, _plain(case.get("input") or {}))
        d = policy.evaluate(data)
        got = {r.rule_id: r.status for r in d.rules}
        mism = [f"outcome: expected {expect}, got {d.outcome}"] if d.outcome != expect else []
        mism += [
            f"rule {rid}: expected {st}, got {got.get(rid)}" for rid, st in want_rules.items() if got.get(rid) != st
        ]
        results.append(CaseResult(name, case.line, not mism, expect, d.outcome, mism, d))
    return policy, results
