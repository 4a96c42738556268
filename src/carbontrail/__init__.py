"""carbontrail: measure, attribute, shift, budget, govern and report the carbon of ML pipelines.

Importing the package is cheap and has no side effects; heavy parts load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["CarbontrailError", "Ledger", "__version__", "track"]


def __getattr__(name: str) -> Any:  # lazy public names keep `import carbontrail` fast
    if name == "track":
        from carbontrail.meter.track import track

        return track
    if name == "Ledger":
        from carbontrail.ledger import Ledger

        return Ledger
    if name == "CarbontrailError":
        from carbontrail.errors import CarbontrailError

        return CarbontrailError
    raise AttributeError(f"module 'carbontrail' has no attribute {name!r}")
