"""Fakes for every port and contract suites that every implementation must pass.

Like Optuna's storage test suite, these ship inside the library so that a user's own meter,
intensity source or plugin can run the same contract tests carbontrail runs on its own.
"""

from carbontrail.testing.contracts import MeterContract
from carbontrail.testing.fakes import FakeMeter
from carbontrail.testing.grid import FakeIntensitySource as FakeIntensitySource
from carbontrail.testing.grid import IntensitySourceContract as IntensitySourceContract

__all__ = ["FakeMeter", "MeterContract"]
from carbontrail.testing.meter import FakeGpu, FakeNvml, make_rapl_tree, set_energy_uj  # noqa: F401
