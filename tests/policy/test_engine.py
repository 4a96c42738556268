"""Policy engine: loading with line numbers, evaluation, fail-closed behaviour, hostile policies."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from carbontrail.policy import Policy, PolicyLoadError, find_test_files, run_cases
from carbontrail.policy.engine import normalise_input, render_message
from carbontrail.provenance import digest

EXAMPLES = Path(__file__).parents[2] / "examples" / "policies"
BACKENDS = ["cel", "celpy"]

SIMPLE = """\
policy: simple
version: "1"
parameters:
  budget_g:
    default: 100.0
    by: {environment: {staging: 10.0}, team: {big: 1000}}
variables:
  total_g: "input.a_g + input.b_g"
rules:
  - id: budget
    severity: veto
    require: "total_g <= params.budget_g"
    message: "{total_g:.1f} g over {params.budget_g} g for {input.team}"
  - id: note
    severity: warn
    require: "input.a_g < 50.0"
    message: "a is large"
  - id: trace
    severity: audit
    require: "input.b_g < 1.0"
"""


def _pol(text: str = SIMPLE, backend: str = "cel") -> Policy:
    return Policy.from_text(text, file="p.yaml", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_policy_cases_pass(backend):
    files = find_test_files(EXAMPLES / "deploy-carbon.yaml")
    assert files == [EXAMPLES / "deploy-carbon.tests.yaml"]
    policy, results = run_cases(files[0], backend=backend)
    assert len(policy.rules) == 6
    failed = [(r.name, r.mismatches) for r in results if not r.ok]
    assert not failed
    assert {r.got for r in results} == {"allow", "needs-approval", "veto"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_outcomes_severities_params_and_explanation(backend):
    p = _pol(backend=backend)
    d = p.evaluate({"team": "t", "environment": "prod", "a_g": 10, "b_g": 5})
    assert d.outcome == "allow"
    assert [r.status for r in d.rules] == ["pass", "pass", "fail"]
    assert d.variables == {"total_g": 15.0}
    assert d.inputs_read == {"input.a_g": 10.0, "input.b_g": 5.0}
    assert d.policy_digest == p.digest and d.input_digest == digest(
        normalise_input({"team": "t", "environment": "prod", "a_g": 10, "b_g": 5})
    )
    d = p.evaluate({"team": "t", "environment": "staging", "a_g": 60.0, "b_g": 0.5})
    assert d.outcome == "veto"
    assert d.params == {"budget_g": 10.0}
    assert d.rules[0].message == "60.5 g over 10.0 g for t"
    assert d.rules[1].status == "fail"
    d = p.evaluate({"team": "big", "environment": "x", "a_g": 60.0, "b_g": 0.5})
    assert d.outcome == "needs-approval" and d.params["budget_g"] == 1000.0


def test_digests_ignore_key_order_and_int_float_and_yaml_comments():
    p = _pol()
    a = p.evaluate({"a_g": 1, "b_g": 2.0, "team": "x"})
    b = p.evaluate({"team": "x", "b_g": 2, "a_g": 1.0})
    assert a.input_digest == b.input_digest
    assert _pol(SIMPLE.replace('version: "1"', 'version: "1"  # a comment')).digest == p.digest
    assert _pol(SIMPLE.replace("100.0", "101.0")).digest != p.digest


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"a_g": 1.0}, "missing input"),
        ({"a_g": "x", "b_g": 1.0}, "wrong type"),
        ({"a_g": None, "b_g": 1.0}, "null"),
    ],
)
def test_evaluation_errors_fail_closed(backend, data, why):
    d = _pol(backend=backend).evaluate({"team": "t", **data})
    assert d.outcome == "veto", why
    assert d.rules[0].status == "error"
    assert d.rules[0].effective_severity == "veto"
    assert "total_g" in d.variable_errors


@pytest.mark.parametrize("bad", [{"a_g": math.nan, "b_g": 1}, {"a_g": math.inf, "b_g": 1}, {"a_g": object()}])
def test_malformed_input_is_a_veto_not_a_crash(bad):
    d = _pol().evaluate(bad)
    assert d.outcome == "veto" and d.rules[0].rule_id == "input" and d.rules[0].status == "error"


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_boolean_and_division_by_zero_fail_closed(backend):
    text = """\
policy: x
rules:
  - {id: not-bool, severity: audit, require: "input.a_g * 2.0"}
  - {id: div, severity: warn, require: "1 / int(input.z) > 0"}
  - {id: ok, severity: warn, require: "true"}
"""
    d = _pol(text, backend).evaluate({"a_g": 1.0, "z": 0})
    assert d.outcome == "veto"
    assert [r.status for r in d.rules] == ["error", "error", "pass"]


@pytest.mark.parametrize(
    ("text", "line", "rule_id", "match"),
    [
        ("policy: x\nrules:\n  - id: a\n    require: 'input.x >'\n", 4, "a", "Syntax|parse|mismatched"),
        (
            "policy: x\nrules:\n  - id: a\n    require: 'true'\n  - id: a\n    require: 'true'\n",
            5,
            "a",
            "duplicate",
        ),
        ("policy: x\nrules:\n  - id: a\n    severity: block\n    require: 'true'\n", 4, "a", "severity"),
        ("policy: x\nrules:\n  - id: a\n    requires: 'true'\n", 4, "a", "unknown key"),
        ("policy: x\nrules: [\n", 3, None, "YAML"),
        ("policy: x\nfoo: 1\nrules: []\n", 2, None, "unknown key"),
        ("policy: x\nrules:\n  - &r {id: a, require: 'true'}\n  - *r\n", 3, None, "alias"),
        ("policy: x\npolicy: y\nrules: []\n", 2, None, "duplicate key"),
        (
            "policy: x\nvariables:\n  input: 'true'\nrules:\n  - {id: a, require: 'true'}\n",
            3,
            None,
            "reserved",
        ),
        ("policy: x\nrules:\n  - id: a\n    require: '" + "1.0 + " * 400 + "1.0 > 0.0'\n", 4, "a", "limit"),
        (
            "policy: x\nrules:\n  - id: a\n    require: '[1,2].all(x, [1,2].exists(y, y > x))'\n",
            4,
            "a",
            "nested",
        ),
    ],
)
def test_bad_policy_is_refused_with_file_line_and_rule(text, line, rule_id, match):
    with pytest.raises(PolicyLoadError, match=match) as info:
        Policy.from_text(text, file="bad.yaml")
    assert info.value.file == "bad.yaml"
    assert info.value.line == line
    assert info.value.rule_id == rule_id
    assert str(info.value).startswith(f"bad.yaml:{line}:")


def test_hostile_values_fail_closed_with_bounded_cost():
    # each variable doubles a string; the size limit stops the growth long before memory does
    doubling = "\n".join(f"  v{i}: 'v{i - 1} + v{i - 1}'" for i in range(1, 40))
    text = (
        f"policy: h\nvariables:\n  v0: '\"xxxxxxxxxxxxxxxx\"'\n{doubling}\n"
        "rules:\n  - {id: r, severity: audit, require: 'size(v39) > 0'}\n"
    )
    d = Policy.from_text(text).evaluate({})
    assert d.outcome == "veto"
    assert "larger than" in next(iter(d.variable_errors.values()))
    # one comprehension over the largest list an expression can hold is fine and bounded
    big = "[" + ",".join(["1.0"] * 480) + "].all(x, x > 0.0)"
    assert (
        Policy.from_text(f"policy: b\nrules:\n  - {{id: r, require: '{big}'}}\n").evaluate({}).outcome
        == "allow"
    )


def test_message_templates_cannot_reach_python_objects():
    scope = {"input": {"a": 1.5, "n": {"b": "x"}}, "v": 2.0}
    assert (
        render_message("{input.a:.2f} {input.n.b} {v:>6.1f} {{literal}}", scope) == "1.50 x    2.0 {literal}"
    )
    assert render_message("{input.__class__} {input.a.real} {nope}", scope) == (
        "{input.__class__?} {input.a.real?} {nope?}"
    )
    assert render_message("{v:999999999d}", scope) == "2.0"  # oversized spec is ignored


def test_policy_file_errors_name_the_file(tmp_path):
    with pytest.raises(PolicyLoadError, match="cannot read"):
        Policy.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.tests.yaml"
    (tmp_path / "p.yaml").write_text(SIMPLE)
    bad.write_text("policy: p.yaml\ncases:\n  - {name: c, expect: maybe}\n")
    with pytest.raises(PolicyLoadError, match="expect") as info:
        run_cases(bad)
    assert info.value.line == 3
    bad.write_text("policy: p.yaml\ncases:\n  - {name: c, expect: allow, rules: {ghost: pass}}\n")
    with pytest.raises(PolicyLoadError, match="ghost"):
        run_cases(bad)
    bad.write_text("policy: p.yaml\ncases:\n  - {name: c, expect: veto, input: {a_g: 1, b_g: 1}}\n")
    _, res = run_cases(bad)
    assert not res[0].ok and "expected veto, got allow" in res[0].mismatches[0]


def test_normalise_handles_numpy_dates_and_tuples():
    from datetime import date

    import numpy as np

    out = normalise_input({"a": np.float64(1.5), "b": np.int64(3), "c": (1, 2), "d": date(2026, 1, 2), "e": True})
    assert out == {"a": 1.5, "b": 3.0, "c": [1.0, 2.0], "d": "2026-01-02", "e": True}
    assert type(out["b"]) is float and out["e"] is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_missing_or_mistyped_input_the_policy_reads_fails_closed(backend):
    import copy

    policy, results = run_cases(EXAMPLES / "deploy-carbon.tests.yaml", backend=backend)
    good = {**results[0].decision.inputs_read}
    assert results[0].decision.outcome == "allow"
    base = {"team": "vision", "environment": "production",
            "model": {"inference_measured": True, "training_emissions_g": 1.0},
            "deployment": {"zones": ["FR"]},
            "footprint": {"annual_g": 1.0, "total_g": 1.0, "retraining_g": 0.0, "sci_g_per_1k": 0.1,
                          "max_intensity_g_per_kwh": 50.0, "uncertainty_rel": 0.1}}
    assert policy.evaluate(base).outcome == "allow"
    for dotted, parts in policy.input_paths:
        assert dotted in good
        for bad in ("missing", None, "text", [1.0]):
            data = copy.deepcopy(base)
            cur = data
            for p in parts[:-1]:
                cur = cur[p]
            if bad == "missing":
                del cur[parts[-1]]
            else:
                cur[parts[-1]] = bad
            d = policy.evaluate(data)
            assert d.outcome == "veto", (dotted, bad, d.to_dict()["rules"])
