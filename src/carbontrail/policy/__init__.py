"""Declarative deployment policies: YAML rule files with CEL expressions, evaluated into explained
decisions (:class:`Decision`) that fail closed on any error.

``Policy.load(path)`` compiles once; ``policy.evaluate(input)`` many times. Test cases beside each
policy run with :func:`run_cases` (``carbontrail policy test``).
"""

from carbontrail.policy.cases import CaseResult, find_test_files, run_cases
from carbontrail.policy.engine import OUTCOMES, SEVERITIES, Decision, Policy, RuleResult, normalise_input
from carbontrail.policy.loader import LIMITS, Limits, PolicyLoadError

__all__ = [
    "LIMITS",
    "OUTCOMES",
    "SEVERITIES",
    "CaseResult",
    "Decision",
    "Limits",
    "Policy",
    "PolicyLoadError",
    "RuleResult",
    "find_test_files",
    "normalise_input",
    "run_cases",
]
