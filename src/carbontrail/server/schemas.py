"""Request and response bodies of the REST API (pydantic), with strict bounds.

Every string is length-bounded and free of NUL characters, every number finite, every timestamp
tz-aware: input the ledger could not store is refused with 422 before it reaches the database.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from carbontrail.provenance import METHODS
from carbontrail.server.auth import ROLES
from carbontrail.span import KINDS, STATUSES, SpanRecord

__all__ = [
    "IngestBatch",
    "IngestResult",
    "Problem",
    "ReportRequest",
    "SpanIn",
    "TokenCreate",
    "TokenCreated",
]


def _no_nul(v: str) -> str:
    if "\x00" in v:
        raise ValueError("NUL characters are not allowed")
    return v


def _clean_json(v: Any, depth: int = 0) -> Any:
    if depth > 8:
        raise ValueError("nested too deeply (max 8 levels)")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("numbers must be finite")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
        raise ValueError("integers must fit in 53 bits")
    if isinstance(v, str):
        _no_nul(v)
        if len(v) > 10_000:
            raise ValueError("strings are limited to 10000 characters")
    elif isinstance(v, dict):
        if len(v) > 200:
            raise ValueError("objects are limited to 200 keys")
        for k, x in v.items():
            _no_nul(str(k))
            _clean_json(x, depth + 1)
    elif isinstance(v, list):
        if len(v) > 1000:
            raise ValueError("arrays are limited to 1000 items")
        for x in v:
            _clean_json(x, depth + 1)
    return v


def Text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_no_nul)]


JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False, le=1e18)]
SpanId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ComponentIn(_Strict):
    """One component's energy in a span (see :class:`carbontrail.provenance.ComponentEnergy`)."""

    component: Text(200, 1)  # type: ignore[valid-type]
    energy_j: NonNeg
    method: Literal[METHODS]  # type: ignore[valid-type]
    uncertainty_rel: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0.0
    detail: JsonObject = Field(default_factory=dict)


class SpanIn(_Strict):
    """A span record as JSON (the shape of :meth:`carbontrail.span.SpanRecord.to_dict`)."""

    span_id: SpanId
    run_id: Text(64, 1)  # type: ignore[valid-type]
    parent_id: SpanId | None = None
    name: Text(300, 1)  # type: ignore[valid-type]
    kind: Literal[KINDS] = "other"  # type: ignore[valid-type]
    status: Literal[STATUSES] = "ok"  # type: ignore[valid-type]
    started_at: AwareDatetime
    ended_at: AwareDatetime
    duration_s: NonNeg
    energy_j: NonNeg
    components: Annotated[list[ComponentIn], Field(max_length=64)] = Field(default_factory=list)
    buckets: Annotated[list[tuple[Finite, NonNeg]], Field(max_length=10_000)] = Field(default_factory=list)
    attribution: Literal["process", "machine"] = "process"
    zone: Text(64) | None = None  # type: ignore[valid-type]
    pipeline: Text(200) | None = None  # type: ignore[valid-type]
    model: Text(200) | None = None  # type: ignore[valid-type]
    team: Text(200) | None = None  # type: ignore[valid-type]
    tags: Annotated[dict[Text(200), Text(1000)], Field(max_length=100)] = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    host: Text(200) = ""  # type: ignore[valid-type]
    pid: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    error: Text(10_000) | None = None  # type: ignore[valid-type]
    emissions_g: NonNeg | None = None
    intensity_g_per_kwh: NonNeg | None = None
    provenance: JsonObject | None = None

    @model_validator(mode="after")
    def _times(self) -> SpanIn:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        for t in (self.started_at, self.ended_at):
            if not (1970 <= t.year <= 9998):
                raise ValueError("timestamps must lie between 1970 and 9998")
        if self.parent_id == self.span_id:
            raise ValueError("a span cannot be its own parent")
        return self

    def to_record(self) -> SpanRecord:
        """The :class:`SpanRecord` this body describes."""
        return SpanRecord.from_dict(self.model_dump())


class IngestBatch(_Strict):
    """A batch of spans from a remote worker (1 to 1000); re-sending a span is harmless."""

    spans: Annotated[list[SpanIn], Field(min_length=1, max_length=1000)]


class IngestResult(BaseModel):
    """What happened to a batch: ``inserted`` new spans, ``duplicates`` already stored."""

    received: int
    inserted: int
    duplicates: int


class TokenCreate(_Strict):
    """A new API token's name and role."""

    name: Text(200, 1)  # type: ignore[valid-type]
    role: Literal[ROLES]  # type: ignore[valid-type]


class TokenCreated(BaseModel):
    """A created token: ``token`` is shown this once."""

    token: str
    token_id: str
    name: str
    role: str


class TokenInfo(BaseModel):
    """A token without its secret."""

    token_id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


class Problem(BaseModel):
    """An RFC 9457 problem detail (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    errors: list[dict[str, Any]] | None = None


class InstrumentIn(_Strict):
    """A market-based instrument: certificate, PPA or supplier rate (energy in MWh)."""

    instrument_id: Text(200, 1)  # type: ignore[valid-type]
    kind: Literal["certificate", "ppa", "supplier"]
    energy_mwh: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    zone: Text(64, 1)  # type: ignore[valid-type]
    start_at: AwareDatetime
    end_at: AwareDatetime
    intensity_g_per_kwh: Annotated[float, Field(ge=0, le=1e5, allow_inf_nan=False)] = 0.0


class GridMixIn(_Strict):
    """Generation shares of a zone (fossil + nuclear + renewable = 1)."""

    fossil: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    nuclear: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    renewable: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    source: Text(300, 1)  # type: ignore[valid-type]


class SciIn(_Strict):
    """How to compute one model's SCI."""

    model: Text(200, 1)  # type: ignore[valid-type]
    functional_unit: Text(100, 1)  # type: ignore[valid-type]
    units: Annotated[float, Field(gt=0, le=1e15, allow_inf_nan=False)]
    kinds: Annotated[list[Literal[KINDS]], Field(min_length=1, max_length=7)] = ["inference"]  # type: ignore[valid-type]
    embodied_g: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] = 0.0
    embodied_source: Text(300) = "not included (M = 0)"  # type: ignore[valid-type]


class ReportRequest(_Strict):
    """A report over ``[period_start, period_end)`` with the user's market-based and SCI inputs."""

    period_start: AwareDatetime
    period_end: AwareDatetime
    format: Literal["json", "csv", "md", "html"] = "json"
    instruments: Annotated[list[InstrumentIn], Field(max_length=1000)] = Field(default_factory=list)
    residual_mix_g_per_kwh: Annotated[
        dict[Text(64), Annotated[float, Field(ge=0, le=1e5, allow_inf_nan=False)]],  # type: ignore[valid-type]
        Field(max_length=500),
    ] = Field(default_factory=dict)
    residual_mix_source: Text(300) = ""  # type: ignore[valid-type]
    grid_mix: Annotated[dict[Text(64), GridMixIn], Field(max_length=500)] = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    sci: Annotated[list[SciIn], Field(max_length=100)] = Field(default_factory=list)
    ai_act_models: Annotated[list[Text(200, 1)], Field(max_length=100)] = Field(  # type: ignore[valid-type]
        default_factory=list
    )
    training_compute_flops: Annotated[
        dict[Text(200), Annotated[float, Field(ge=0, le=1e40, allow_inf_nan=False)]],  # type: ignore[valid-type]
        Field(max_length=100),
    ] = Field(default_factory=dict)
    organisation: Text(300) = ""  # type: ignore[valid-type]


class ComponentOut(BaseModel):
    """A component's energy as stored."""

    component: str
    energy_j: float
    method: str
    uncertainty_rel: float
    detail: dict[str, Any]


class SpanOut(BaseModel):
    """A span as stored in the ledger (units in the field names; timestamps tz-aware UTC)."""

    span_id: str
    run_id: str
    parent_id: str | None
    name: str
    kind: str
    status: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    energy_j: float
    components: list[ComponentOut]
    buckets: list[tuple[float, float]]
    attribution: str
    zone: str | None
    pipeline: str | None
    model: str | None
    team: str | None
    tags: dict[str, str]
    host: str
    pid: int
    error: str | None
    emissions_g: float | None
    intensity_g_per_kwh: float | None
    provenance: dict[str, Any] | None
