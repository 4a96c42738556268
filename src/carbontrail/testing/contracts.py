"""Contract test suites. Subclass one in your tests and implement the factory fixture.

Example::

    class TestMyMeter(MeterContract):
        @pytest.fixture
        def meter(self):
            return MyMeter()
"""

from __future__ import annotations

import math
import threading

from carbontrail.meter.base import BaseMeter

__all__ = ["MeterContract"]


class MeterContract:
    """Behaviour every :class:`~carbontrail.meter.base.BaseMeter` must show.

    Requires a pytest fixture named ``meter`` returning a fresh instance.
    """

    def test_components_match_reading(self, meter: BaseMeter) -> None:
        infos = list(meter.components())
        assert infos, "a meter reports at least one component"
        assert len(meter.read()) == len(infos)
        assert len({i.component for i in infos}) == len(infos)

    def test_readings_finite_and_monotonic(self, meter: BaseMeter) -> None:
        prev = meter.read()
        for _ in range(50):
            cur = meter.read()
            for p, c in zip(prev, cur, strict=True):
                assert math.isfinite(c)
                assert c >= p
            prev = cur

    def test_unavailable_reads_zero(self, meter: BaseMeter) -> None:
        for info, value in zip(meter.components(), meter.read(), strict=True):
            if info.method == "unavailable":
                assert value == 0.0
                assert info.detail.get("reason"), "say why a component is unavailable"

    def test_uncertainty_is_a_relative_band(self, meter: BaseMeter) -> None:
        for info in meter.components():
            assert 0.0 <= info.uncertainty_rel <= 1.0

    def test_thread_safe_reads(self, meter: BaseMeter) -> None:
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(200):
                    meter.read()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors

    def test_close_is_idempotent(self, meter: BaseMeter) -> None:
        meter.close()
        meter.close()
