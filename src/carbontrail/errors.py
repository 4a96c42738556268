"""The exception tree of carbontrail.

Every error the library raises on purpose derives from :class:`CarbontrailError`;
third-party exceptions are translated at the edge (``raise GridError(...) from exc``)::

    CarbontrailError
    ├── ConfigError            bad or contradictory settings
    ├── UnitError              a value in the wrong unit, NaN, infinite or negative where forbidden
    ├── MeterError             a meter could not be read
    ├── GridError              intensity data missing or unusable
    │   ├── UnknownZoneError   a zone carbontrail does not know
    │   └── ProviderError      a live provider failed (timeout, 4xx/5xx, garbage)
    ├── LedgerError            the database refused or lost a write
    ├── ScheduleError          no feasible plan, bad job
    ├── QuotaExceeded          an energy or carbon quota would be (or was) overshot
    ├── PolicyError            a policy file or expression is invalid
    ├── RegistryError          unknown model, version or deployment; illegal transition
    ├── AuditIntegrityError    the audit chain does not verify
    └── RemoteError            the carbontrail service refused a request or could not be reached

HTTP status codes live only in ``carbontrail.server`` and exit codes only in ``carbontrail.cli``.
"""

from __future__ import annotations


class CarbontrailError(Exception):
    """Root of every error carbontrail raises on purpose."""


class ConfigError(CarbontrailError):
    """Settings are malformed or contradictory."""


class UnitError(CarbontrailError, ValueError):
    """A quantity is in an unknown unit, not finite, or outside its allowed range."""


class MeterError(CarbontrailError):
    """A meter could not be read."""


class GridError(CarbontrailError):
    """Grid intensity data is missing or unusable."""


class UnknownZoneError(GridError, KeyError):
    """A zone identifier carbontrail does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown zone"


class ProviderError(GridError):
    """A live intensity provider failed: timeout, HTTP error, or a response that does not parse."""


class LedgerError(CarbontrailError):
    """The ledger database refused or lost a write, or its schema is not current."""


class ScheduleError(CarbontrailError):
    """A job cannot be planned (no feasible window, bad constraints)."""


class QuotaExceeded(CarbontrailError):
    """An energy or carbon quota would be, or has been, overshot."""


class PolicyError(CarbontrailError):
    """A policy file or expression is invalid, or a rule could not be evaluated."""


class RegistryError(CarbontrailError):
    """Unknown model, version or deployment, or an illegal lifecycle transition."""


class AuditIntegrityError(CarbontrailError):
    """The audit chain does not verify: an entry or checkpoint was altered, removed or forged."""


class RemoteError(CarbontrailError):
    """The carbontrail service refused a request (bad token, invalid data) or could not be reached."""
