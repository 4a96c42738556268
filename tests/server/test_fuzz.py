"""Schemathesis fuzzing of the OpenAPI schema against the real server: no input produces a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from tests.server.conftest import make_span, start_live


def test_no_server_errors_on_any_operation(sqlite_url, tmp_path):
    gen = start_live(sqlite_url, tmp_path)
    live = next(gen)
    try:
        live.ledger.add_spans([make_span(i) for i in range(3)])
        config = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)
        ops = [r.ok() for r in schema.get_all_operations()]
        assert len(ops) >= 10
        tried: dict[str, int] = {}
        for op in ops:

            @given(case=op.as_strategy())
            @settings(
                max_examples=10,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case):
                tried[case.operation.label] = tried.get(case.operation.label, 0) + 1
                case.call_and_validate(base_url=live.url, headers=live.headers("admin"), checks=[not_a_server_error])

            run()
        assert all(n >= 1 for n in tried.values()) and len(tried) == len(ops)
    finally:
        next(gen, None)
