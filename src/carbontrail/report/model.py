"""Report records: inputs the user enters and the traceable figures a report is made of. Pure data.

Every number in a report is a :class:`Figure`: value, unit, method, absolute uncertainty, and the
span ids and factor snapshot ids it was computed from, so an auditor can recompute it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from carbontrail.errors import UnitError
from carbontrail.units import check_finite

__all__ = [
    "AuditAnchor",
    "Figure",
    "GridMix",
    "Instrument",
    "QuotaUse",
    "ScheduleOutcome",
    "SciSpec",
]

#: instrument kinds accepted for the market-based method (GHG Protocol Scope 2 quality criteria apply)
INSTRUMENT_KINDS: tuple[str, ...] = ("certificate", "ppa", "supplier")


@dataclass(frozen=True, slots=True)
class Figure:
    """One reported number and where it came from.

    Attributes:
        value: the number, in ``unit``; ``None`` when it cannot be computed (``note`` says why).
        unit: ``J``, ``kWh``, ``MWh``, ``g``, ``tCO2e``, ``gCO2e/kWh``, ``s``...
        method: ``measured``, ``modelled``, ``mixed (...)``, ``calculated``, ``stated`` or ``unavailable``.
        uncertainty: absolute half-width of the uncertainty band, in ``unit`` (``None`` when unknown).
        span_ids: spans the figure sums (sorted).
        snapshot_ids: factor snapshots used (sorted).
        note: assumptions, fallbacks and data gaps.
    """

    value: float | None
    unit: str
    method: str = "calculated"
    uncertainty: float | None = None
    span_ids: tuple[str, ...] = ()
    snapshot_ids: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["span_ids"] = list(self.span_ids)
        d["snapshot_ids"] = list(self.snapshot_ids)
        return d


@dataclass(frozen=True, slots=True)
class Instrument:
    """A contractual instrument for the market-based Scope 2 method.

    Attributes:
        instrument_id: the user's reference (certificate serial, contract number).
        kind: ``certificate`` (EAC: GO, REC, I-REC), ``ppa`` or ``supplier`` (a supplier-specific rate).
        energy_j: energy the instrument covers (enter MWh through :func:`carbontrail.units.parse_energy_j`).
        zone: the market zone where it may be claimed; only energy used in this zone is covered.
        start_at, end_at: the period the instrument covers (tz-aware UTC, end exclusive).
        intensity_g_per_kwh: the instrument's emission rate (0 for renewable certificates and PPAs).
    """

    instrument_id: str
    kind: str
    energy_j: float
    zone: str
    start_at: datetime
    end_at: datetime
    intensity_g_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in INSTRUMENT_KINDS:
            raise UnitError(f"instrument {self.instrument_id}: kind must be one of {INSTRUMENT_KINDS}")
        check_finite(self.energy_j, f"instrument {self.instrument_id} energy_j")
        check_finite(self.intensity_g_per_kwh, f"instrument {self.instrument_id} intensity_g_per_kwh")
        if self.start_at.tzinfo is None or self.end_at.tzinfo is None:
            raise UnitError(f"instrument {self.instrument_id}: start_at/end_at must be tz-aware UTC")
        if self.end_at <= self.start_at:
            raise UnitError(f"instrument {self.instrument_id}: end_at must be after start_at")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start_at"] = self.start_at.isoformat()
        d["end_at"] = self.end_at.isoformat()
        return d


@dataclass(frozen=True, slots=True)
class GridMix:
    """Shares of a zone's electricity generation by source (for CSRD E1-5); shares sum to 1.

    Attributes:
        fossil, nuclear, renewable: shares in [0, 1].
        source: dataset, publisher and year the shares come from.
    """

    fossil: float
    nuclear: float
    renewable: float
    source: str

    def __post_init__(self) -> None:
        for name in ("fossil", "nuclear", "renewable"):
            v = check_finite(getattr(self, name), f"grid mix {name}")
            if v > 1.0:
                raise UnitError(f"grid mix {name} share must be <= 1, got {v}")
        total = self.fossil + self.nuclear + self.renewable
        if abs(total - 1.0) > 0.02:
            raise UnitError(f"grid mix shares must sum to 1 (got {total:.3f}) — {self.source}")


@dataclass(frozen=True, slots=True)
class SciSpec:
    """How to compute the Software Carbon Intensity of a model.

    ``SCI = (E * I + M) / R`` where E*I is the location-based emissions of the model's spans of
    ``kinds`` in the period, M the embodied share and R the number of functional units served.

    Attributes:
        model: the model's name (span tag ``model``).
        functional_unit: what R counts, e.g. ``"1000 predictions"``.
        units: R, the number of functional units in the period (> 0).
        kinds: span kinds counted (default inference).
        embodied_g: M, embodied emissions share in grams for the period (0 if not known; say so).
        embodied_source: where M comes from (``TE * TiR/EL * RR/ToR`` inputs).
    """

    model: str
    functional_unit: str
    units: float
    kinds: tuple[str, ...] = ("inference",)
    embodied_g: float = 0.0
    embodied_source: str = "not included (M = 0)"

    def __post_init__(self) -> None:
        if check_finite(self.units, "SCI functional units R") <= 0:
            raise UnitError("SCI functional units R must be > 0")
        check_finite(self.embodied_g, "SCI embodied_g")


@dataclass(frozen=True, slots=True)
class ScheduleOutcome:
    """One deferred job's scheduling result, as the scheduler records it.

    Attributes:
        job_id: the queue's job id.
        zone: where it ran.
        planned_at: when the plan was made (tz-aware UTC).
        run_now_g: expected emissions had the job started immediately.
        expected_g: expected emissions of the chosen plan.
        realised_g: measured emissions of the run (``None`` while the job has not run).
        span_id: the job's span, when it ran.
        realised_run_now_g: the run's measured energy at the intensity actually in force in the
            run-now slot (better than ``run_now_g`` for the realised saving, when known).
        span_ids: every span of the run.
    """

    job_id: str
    zone: str | None
    planned_at: datetime
    run_now_g: float
    expected_g: float
    realised_g: float | None = None
    span_id: str | None = None
    realised_run_now_g: float | None = None
    span_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """One HPO study's quota account.

    Attributes:
        study: the study name.
        quota: the quota as entered by the user, with its unit (``"5 kWh"``).
        quota_j, quota_g: the quota in joules or grams (one of them).
        spent_j, spent_g: energy and emissions charged to the study (every trial, failed and pruned
            ones included).
        trials: trials charged.
        status: ``running``, ``stopped`` or ``exhausted``.
    """

    study: str
    quota_j: float | None
    quota_g: float | None
    spent_j: float
    spent_g: float | None
    trials: int
    status: str = ""


@dataclass(frozen=True, slots=True)
class AuditAnchor:
    """The audit-chain checkpoint a report is tied to.

    Attributes:
        checkpoint_id: the checkpoint's id or sequence number.
        entries: number of chain entries it covers.
        root_hash: the Merkle root it signs.
        signed_at: when it was signed (tz-aware UTC).
        verified: whether the chain verified when the report was built (``None``: not checked).
    """

    checkpoint_id: str
    entries: int
    root_hash: str
    signed_at: datetime | None
    verified: bool | None


@dataclass(slots=True)
class ReportOptions:
    """Everything besides spans that a report may use; all optional."""

    instruments: list[Instrument] = field(default_factory=list)
    residual_mix_g_per_kwh: dict[str, float] = field(default_factory=dict)
    residual_mix_source: str = ""
    grid_mix: dict[str, GridMix] = field(default_factory=dict)
    sci: list[SciSpec] = field(default_factory=list)
    ai_act_models: list[str] = field(default_factory=list)
    training_compute_flops: dict[str, float] = field(default_factory=dict)
    schedule: list[ScheduleOutcome] = field(default_factory=list)
    quotas: list[QuotaUse] = field(default_factory=list)
    audit: AuditAnchor | None = None
    period_granularity: str = "day"
    organisation: str = ""
    boundary: str = (
        "ML pipeline work tracked by carbontrail (process attribution unless a span says machine); "
        "electricity only (Scope 2); embodied emissions only where stated (SCI M)"
    )
