"""Live intensity providers on httpx: Electricity Maps v3, WattTime v3, UK Carbon Intensity API.

Every client:

* has a timeout on every call (``timeout_s``), retries timeouts, connection errors and 5xx responses a
  bounded number of times with exponential backoff, and honours ``429 Retry-After`` (seconds or an HTTP
  date) up to ``max_retry_after_s`` — beyond that it gives up at once rather than stall a job;
* translates every failure into :class:`~carbontrail.errors.ProviderError` (timeouts, HTTP errors,
  bodies that are not JSON or not the documented shape, unknown or wrong units, NaN or negative values);
* returns values in gCO2e/kWh with full provenance (provider, zone, signal, basis, resolution,
  retrieval time, a digest of the points, ``estimated`` for modelled or forecast values).

Use them inside a :class:`~carbontrail.grid.sources.FallbackChain` so that a failing provider falls
back to the cache, a series or an annual factor instead of failing the job. Tests pass an
``httpx.MockTransport`` (``transport=``) and a no-op ``sleep``; nothing here reads the environment.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from carbontrail.errors import GridError, ProviderError, UnitError, UnknownZoneError
from carbontrail.grid.loaders import MAX_PLAUSIBLE_G_PER_KWH, regularise
from carbontrail.grid.series import IntensitySeries
from carbontrail.grid.sources import BaseIntensitySource, IntensityValue, canonical_zone, check_window
from carbontrail.grid.zones import lookup
from carbontrail.provenance import IntensityProvenance, digest
from carbontrail.units import parse_intensity_g_per_kwh

__all__ = ["ElectricityMaps", "HttpSource", "UKCarbonIntensity", "WattTime"]

log = logging.getLogger(__name__)


class _Unauthorized(ProviderError):
    """HTTP 401 (internal: WattTime refreshes its token on it)."""


def _utc(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, tz=UTC)


def _parse_ts(value: Any, provider: str) -> float:
    if not isinstance(value, str):
        raise ProviderError(f"{provider}: expected a timestamp string, got {value!r}")
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ProviderError(f"{provider}: cannot parse timestamp {value!r}") from exc
    if dt.tzinfo is None:
        raise ProviderError(f"{provider}: timestamp {value!r} has no time zone")
    return dt.timestamp()


def _value(raw: Any, unit: str, provider: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ProviderError(f"{provider}: intensity {raw!r} is not a number")
    try:
        v = parse_intensity_g_per_kwh(float(raw), unit)
    except UnitError as exc:
        raise ProviderError(f"{provider}: unusable intensity value {raw!r} {unit}: {exc}") from exc
    if v > MAX_PLAUSIBLE_G_PER_KWH:
        raise ProviderError(f"{provider}: implausible intensity {v:.0f} g/kWh (from {raw!r} {unit})")
    return v


def _retry_after_s(header: str | None, now_s: float) -> float | None:
    if not header:
        return None
    h = header.strip()
    try:
        return max(0.0, float(h))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(h)
    except (TypeError, ValueError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return max(0.0, dt.timestamp() - now_s)


class HttpSource(BaseIntensitySource):
    """Common HTTP behaviour of the live clients (timeouts, retries, backoff, Retry-After, JSON).

    Args:
        base_url: API root.
        timeout_s: per-request timeout (connect, read, write, pool).
        retries: extra attempts after a timeout, connection error, 5xx or 429 (bounded).
        backoff_s: first backoff; doubles each attempt, capped at ``max_backoff_s``.
        max_retry_after_s: give up on a 429 whose Retry-After asks for longer than this.
        transport: an httpx transport (``httpx.MockTransport`` in tests).
        sleep: how to wait between attempts (injected in tests).
        clock: POSIX time source, for ``retrieved_at`` and Retry-After dates.
    """

    live = True

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_retry_after_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise GridError("timeout_s must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = max(0, int(retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.sleep = sleep
        self.clock = clock
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "carbontrail"},
        )

    def close(self) -> None:
        self._client.close()

    def _now(self) -> datetime:
        return _utc(self.clock())

    def _is_now(self, at_s: float) -> bool:
        """Whether ``at_s`` is within the current hour (the "latest" endpoints answer only for now)."""
        return abs(at_s - self.clock()) <= 3600.0

    def _get(self, path: str, *, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """GET ``path`` and return parsed JSON, retrying what is worth retrying."""
        last: ProviderError | None = None
        for attempt in range(self.retries + 1):
            wait = min(self.max_backoff_s, self.backoff_s * 2**attempt)
            try:
                r = self._client.get(path, params=params, **kw)
            except httpx.TimeoutException as exc:
                last = ProviderError(f"{self.name}: no answer within {self.timeout_s:g} s ({path})")
                last.__cause__ = exc
            except httpx.TransportError as exc:
                last = ProviderError(f"{self.name}: connection failed ({path}): {exc}")
                last.__cause__ = exc
            else:
                status = r.status_code
                if status == 429:
                    ra = _retry_after_s(r.headers.get("Retry-After"), self.clock())
                    if ra is not None and ra > self.max_retry_after_s:
                        raise ProviderError(
                            f"{self.name}: rate limited; Retry-After {ra:.0f} s exceeds {self.max_retry_after_s:g} s"
                        )
                    last = ProviderError(f"{self.name}: rate limited (429) on {path}")
                    wait = ra if ra is not None else wait
                elif status >= 500:
                    last = ProviderError(f"{self.name}: server error {status} on {path}")
                elif status == 401:
                    raise _Unauthorized(f"{self.name}: 401 unauthorized on {path}; check the credentials")
                elif status >= 400:
                    raise ProviderError(f"{self.name}: HTTP {status} on {path}: {r.text[:200]}")
                else:
                    try:
                        return r.json()
                    except ValueError as exc:
                        raise ProviderError(f"{self.name}: response to {path} is not JSON: {r.text[:80]!r}") from exc
            if attempt < self.retries:
                log.info("%s: attempt %d failed (%s); retrying in %.2f s", self.name, attempt + 1, last, wait)
                self.sleep(wait)
        assert last is not None
        raise last

    def _series(
        self,
        zone: str,
        points: list[tuple[float, float]],
        *,
        step_s: float,
        dataset: str,
        signal: str,
        basis: str,
        estimated: bool,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> IntensitySeries:
        if not points:
            raise ProviderError(f"{self.name}: no data points for {zone}")
        times = np.array([p[0] for p in points])
        vals = np.array([p[1] for p in points])
        now = self._now()
        prov = IntensityProvenance(
            zone=zone,
            source=self.name,
            dataset=dataset,
            vintage=now.date().isoformat(),
            signal=signal,
            basis=basis,
            resolution_s=step_s,
            retrieved_at=now,
            estimated=estimated,
            uncertainty_rel=0.2 if estimated else 0.1,  # judgement, as for bundled series
            data_digest=digest(sorted([float(a), float(b)] for a, b in points)),
        )
        try:
            s = regularise(times, vals, prov, step_s=step_s)
        except GridError as exc:
            raise ProviderError(f"{self.name}: unusable data for {zone}: {exc}") from exc
        if start_s is not None and end_s is not None:
            if s.start_s > start_s or s.end_s < end_s:
                raise ProviderError(
                    f"{self.name}: data for {zone} covers {s.start_s:.0f}..{s.end_s:.0f}, "
                    f"not the requested {start_s:.0f}..{end_s:.0f}"
                )
            s = s.window(start_s, end_s)
        return s


def _chunks(start_s: float, end_s: float, size_s: float) -> list[tuple[float, float]]:
    out = []
    t = start_s
    while t < end_s:
        out.append((t, min(end_s, t + size_s)))
        t += size_s
    return out


def _obj(data: Any, key: str, provider: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise ProviderError(f"{provider}: malformed response, no {key!r}")
    return data[key]


class ElectricityMaps(HttpSource):
    """Electricity Maps API v3: consumption-based (flow-traced) average intensity, hourly.

    Args:
        token: API key, sent as the ``auth-token`` header.
        base_url: ``https://api.electricitymap.org/v3`` (older) or ``https://api.electricitymaps.com/v3``.
        emission_factor_type: ``lifecycle`` (default) or ``direct``.
        zone_map: carbontrail zone -> Electricity Maps zone, overriding the default (ISO alpha-2 for
            countries, ``US-CAL-CISO``-style ids for the bundled balancing authorities).
        **kwargs: see :class:`HttpSource`.
    """

    name = "electricitymaps"
    supports_forecast = True

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://api.electricitymap.org/v3",
        emission_factor_type: str = "lifecycle",
        zone_map: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if not token:
            raise GridError("Electricity Maps needs an API token (settings.electricitymaps_token)")
        if emission_factor_type not in ("lifecycle", "direct"):
            raise GridError("emission_factor_type must be 'lifecycle' or 'direct'")
        super().__init__(base_url, **kwargs)
        self._client.headers["auth-token"] = token
        self.basis = emission_factor_type
        self.zone_map = {canonical_zone(k): v for k, v in (zone_map or {}).items()}

    def em_zone(self, zone: str) -> str:
        """Electricity Maps zone id for a carbontrail zone."""
        z = canonical_zone(zone)
        if z in self.zone_map:
            return self.zone_map[z]
        try:
            info = lookup(z)
        except UnknownZoneError:
            return z
        if info.kind == "country":
            return info.zone_id
        if info.kind == "balancing-authority":
            em = [a for a in info.aliases if a.startswith("US-")]
            if em:
                return em[0]
        raise ProviderError(f"{self.name}: no Electricity Maps zone known for {z}; pass zone_map")

    def _params(self, zone: str, **extra: Any) -> dict[str, Any]:
        return {"zone": self.em_zone(zone), "emissionFactorType": self.basis, **extra}

    def _point(self, d: Any) -> tuple[float, float, bool]:
        if not isinstance(d, dict):
            raise ProviderError(f"{self.name}: malformed data point {d!r}")
        unit = d.get("unit") or "gCO2eq/kWh"
        ci = _obj(d, "carbonIntensity", self.name)
        if ci is None:
            raise ProviderError(f"{self.name}: missing carbonIntensity at {d.get('datetime')}")
        eft = d.get("emissionFactorType")
        if eft is not None and eft != self.basis:
            raise ProviderError(f"{self.name}: asked for {self.basis} factors, got {eft!r}")
        return (
            _parse_ts(_obj(d, "datetime", self.name), self.name),
            _value(ci, str(unit), self.name),
            bool(d.get("isEstimated", False)),
        )

    _DATASET = "Electricity Maps API v3 carbon-intensity (consumption-based, flow-traced)"

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        check_window(start_s, end_s)
        z = canonical_zone(zone)
        pts: list[tuple[float, float, bool]] = []
        q0 = math.floor(start_s / 3600) * 3600
        for a, b in _chunks(q0, end_s, 10 * 86400.0):
            data = self._get(
                "/carbon-intensity/past-range",
                params=self._params(z, start=_utc(a).isoformat(), end=_utc(b).isoformat()),
            )
            rows = _obj(data, "data", self.name)
            if not isinstance(rows, list):
                raise ProviderError(f"{self.name}: malformed response, 'data' is not a list")
            pts.extend(self._point(d) for d in rows)
        return self._series(
            z,
            [(t, v) for t, v, _ in pts],
            step_s=3600.0,
            dataset=self._DATASET,
            signal="average",
            basis=self.basis,
            estimated=any(e for *_, e in pts),
            start_s=start_s,
            end_s=end_s,
        )

    def latest(self, zone: str, at_s: float) -> IntensityValue:
        if not self._is_now(at_s):
            return super().latest(zone, at_s)
        z = canonical_zone(zone)
        t, v, est = self._point(self._get("/carbon-intensity/latest", params=self._params(z)))
        now = self._now()
        prov = IntensityProvenance(
            zone=z,
            source=self.name,
            dataset=self._DATASET,
            vintage=now.date().isoformat(),
            signal="average",
            basis=self.basis,
            resolution_s=3600.0,
            intensity_g_per_kwh=v,
            retrieved_at=now,
            estimated=est,
            data_digest=digest([[t, v]]),
        )
        return IntensityValue(v, t, prov)

    def forecast(self, zone: str, now_s: float, horizon_s: float) -> IntensitySeries:
        z = canonical_zone(zone)
        hours = max(1, math.ceil(horizon_s / 3600))
        params = self._params(z, **({"horizonHours": hours} if hours > 24 else {}))
        data = self._get("/carbon-intensity/forecast", params=params)
        rows = _obj(data, "forecast", self.name)
        if not isinstance(rows, list):
            raise ProviderError(f"{self.name}: malformed response, 'forecast' is not a list")
        pts = [self._point({**d, "emissionFactorType": self.basis}) for d in rows]
        s = self._series(
            z,
            [(t, v) for t, v, _ in pts],
            step_s=3600.0,
            dataset=f"Electricity Maps API v3 forecast (updatedAt {data.get('updatedAt')})",
            signal="average",
            basis=self.basis,
            estimated=True,
        )
        return s


class WattTime(HttpSource):
    """WattTime API v3: marginal operating emission rate (``co2_moer``), 5-minute points.

    Logs in with HTTP Basic auth at ``/login`` for a bearer token (valid ~30 min) and logs in again
    once when a data call answers 401. Values arrive in lbs CO2/MWh (``meta.units``) and are converted
    to g/kWh; any other unit is refused. ``co2_moer`` is labelled ``marginal``, ``co2_aoer``
    ``average``; WattTime rates count combustion emissions, so the basis is ``direct``.

    Args:
        username, password: WattTime account.
        base_url: ``https://api.watttime.org``.
        signal_type: ``co2_moer`` (default) or ``co2_aoer``.
        region_map: carbontrail zone -> WattTime region (default ``CISO -> CAISO_NORTH``); other zones
            are sent as given.
        **kwargs: see :class:`HttpSource`.
    """

    name = "watttime"
    supports_forecast = True

    def __init__(
        self,
        username: str,
        password: str,
        *,
        base_url: str = "https://api.watttime.org",
        signal_type: str = "co2_moer",
        region_map: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if not (username and password):
            raise GridError("WattTime needs a username and password (settings.watttime_username/password)")
        if signal_type not in ("co2_moer", "co2_aoer"):
            raise GridError("signal_type must be 'co2_moer' or 'co2_aoer'")
        super().__init__(base_url, **kwargs)
        self._auth = (username, password)
        self._token: str | None = None
        self.signal_type = signal_type
        self.signal = "marginal" if signal_type == "co2_moer" else "average"
        self.region_map = {
            "CISO": "CAISO_NORTH",
            **{canonical_zone(k): v for k, v in (region_map or {}).items()},
        }

    def region(self, zone: str) -> str:
        """WattTime region for a carbontrail zone."""
        z = canonical_zone(zone)
        return self.region_map.get(z, z)

    def _login(self) -> str:
        data = self._get("/login", auth=httpx.BasicAuth(*self._auth))
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderError(f"{self.name}: login answered without a token")
        self._token = token
        return token

    def _call(self, path: str, params: dict[str, Any]) -> Any:
        token = self._token or self._login()
        try:
            return self._get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        except _Unauthorized:
            log.info("%s: token rejected, logging in again", self.name)
            token = self._login()
            return self._get(path, params=params, headers={"Authorization": f"Bearer {token}"})

    def _points(self, data: Any) -> tuple[list[tuple[float, float]], dict[str, Any]]:
        meta = _obj(data, "meta", self.name)
        rows = _obj(data, "data", self.name)
        if not isinstance(meta, dict) or not isinstance(rows, list):
            raise ProviderError(f"{self.name}: malformed response")
        unit = meta.get("units")
        if not isinstance(unit, str):
            raise ProviderError(f"{self.name}: response states no units")
        if meta.get("signal_type", self.signal_type) != self.signal_type:
            raise ProviderError(f"{self.name}: asked for {self.signal_type}, got {meta.get('signal_type')!r}")
        pts = []
        for d in rows:
            if not isinstance(d, dict):
                raise ProviderError(f"{self.name}: malformed data point {d!r}")
            pts.append(
                (
                    _parse_ts(_obj(d, "point_time", self.name), self.name),
                    _value(_obj(d, "value", self.name), unit, self.name),
                )
            )
        return pts, meta

    def _step(self, meta: dict[str, Any]) -> float:
        step = meta.get("data_point_period_seconds", 300)
        if not isinstance(step, int | float) or step <= 0:
            raise ProviderError(f"{self.name}: bad data_point_period_seconds {step!r}")
        return float(step)

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        check_window(start_s, end_s)
        z = canonical_zone(zone)
        pts: list[tuple[float, float]] = []
        step = 300.0
        for a, b in _chunks(math.floor(start_s / 300) * 300, end_s, 30 * 86400.0):
            data = self._call(
                "/v3/historical",
                {
                    "region": self.region(z),
                    "start": _utc(a).isoformat(),
                    "end": _utc(b).isoformat(),
                    "signal_type": self.signal_type,
                },
            )
            p, meta = self._points(data)
            step = self._step(meta)
            pts.extend(p)
        return self._series(
            z,
            pts,
            step_s=step,
            dataset=f"WattTime API v3 {self.signal_type} ({self.region(z)})",
            signal=self.signal,
            basis="direct",
            estimated=False,
            start_s=start_s,
            end_s=end_s,
        )

    def latest(self, zone: str, at_s: float) -> IntensityValue:
        """The last point at or before ``at_s`` within the hour before it."""
        z = canonical_zone(zone)
        data = self._call(
            "/v3/historical",
            {
                "region": self.region(z),
                "start": _utc(at_s - 3600.0).isoformat(),
                "end": _utc(at_s + 1.0).isoformat(),
                "signal_type": self.signal_type,
            },
        )
        pts, meta = self._points(data)
        before = [p for p in pts if p[0] <= at_s]
        if not before:
            raise ProviderError(f"{self.name}: no {self.signal_type} point for {z} in the hour before {_utc(at_s)}")
        t, v = max(before)
        s = self._series(
            z,
            [(t, v)],
            step_s=self._step(meta),
            dataset=f"WattTime API v3 {self.signal_type} ({self.region(z)})",
            signal=self.signal,
            basis="direct",
            estimated=False,
        )
        return IntensityValue(v, t, replace(s.provenance, intensity_g_per_kwh=v))

    def forecast(self, zone: str, now_s: float, horizon_s: float) -> IntensitySeries:
        z = canonical_zone(zone)
        hours = max(1, math.ceil(horizon_s / 3600))
        data = self._call(
            "/v3/forecast",
            {
                "region": self.region(z),
                "signal_type": self.signal_type,
                "horizon_hours": hours,
            },
        )
        pts, meta = self._points(data)
        return self._series(
            z,
            pts,
            step_s=self._step(meta),
            dataset=f"WattTime API v3 forecast {self.signal_type} ({self.region(z)}, "
            f"generated_at {meta.get('generated_at')})",
            signal=self.signal,
            basis="direct",
            estimated=True,
        )


    def past_forecasts(self, zone: str, start_s: float, end_s: float) -> list[IntensitySeries]:
        """Every forecast WattTime generated between ``start_s`` and ``end_s`` (``/v3/forecast/historical``,
        asked for one day at a time), oldest first — for back-testing a scheduler on the forecasts it
        would really have had. Each series' ``provenance.retrieved_at`` is its ``generated_at``."""
        check_window(start_s, end_s)
        z = canonical_zone(zone)
        out: list[IntensitySeries] = []
        for a, b in _chunks(start_s, end_s, 86400.0):
            data = self._call(
                "/v3/forecast/historical",
                {
                    "region": self.region(z),
                    "start": _utc(a).isoformat(),
                    "end": _utc(b).isoformat(),
                    "signal_type": self.signal_type,
                },
            )
            meta = _obj(data, "meta", self.name)
            runs = _obj(data, "data", self.name)
            if not isinstance(runs, list) or not isinstance(meta, dict):
                raise ProviderError(f"{self.name}: malformed response")
            for run in runs:
                gen_text = _obj(run, "generated_at", self.name)
                generated = _parse_ts(gen_text, self.name)
                pts, _ = self._points({"data": _obj(run, "forecast", self.name), "meta": meta})
                s = self._series(
                    z,
                    pts,
                    step_s=self._step(meta),
                    dataset=f"WattTime API v3 forecast {self.signal_type} ({self.region(z)}, generated_at {gen_text})",
                    signal=self.signal,
                    basis="direct",
                    estimated=True,
                )
                out.append(replace(s, provenance=replace(s.provenance, retrieved_at=_utc(generated))))
        out.sort(key=lambda s: s.provenance.retrieved_at or _utc(0.0))
        return out


class UKCarbonIntensity(HttpSource):
    """UK Carbon Intensity API (National Energy System Operator): Great Britain, half-hourly.

    Zone ``GB`` uses the national endpoints (``actual`` where published, else the forecast, marked
    estimated); zones ``GB-R1`` .. ``GB-R17`` use the regional endpoints, which publish forecasts only
    (always estimated). No key needed. Values are gCO2/kWh of generation with operational (direct)
    factors (nuclear, wind and solar count zero). Data CC BY 4.0 (NESO).

    Args:
        base_url: ``https://api.carbonintensity.org.uk``.
        **kwargs: see :class:`HttpSource`.
    """

    name = "uk-carbon-intensity"
    supports_forecast = True
    _DATASET = "UK Carbon Intensity API (NESO), CC BY 4.0"

    def __init__(self, *, base_url: str = "https://api.carbonintensity.org.uk", **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)

    @staticmethod
    def _region(zone: str) -> int | None:
        z = canonical_zone(zone)
        if z == "GB":
            return None
        if z.startswith("GB-R") and z[4:].isdigit() and 1 <= int(z[4:]) <= 17:
            return int(z[4:])
        raise ProviderError(f"uk-carbon-intensity serves GB and GB-R1..GB-R17, not {z}")

    @staticmethod
    def _fmt(t_s: float) -> str:
        return _utc(t_s).strftime("%Y-%m-%dT%H:%MZ")

    def _periods(self, data: Any, region: int | None) -> list[tuple[float, float, bool]]:
        rows = _obj(data, "data", self.name)
        if isinstance(rows, dict):  # /regional/regionid/{id} wraps one region
            rows = _obj(rows, "data", self.name)
        if not isinstance(rows, list):
            raise ProviderError(f"{self.name}: malformed response, 'data' is not a list")
        out = []
        for d in rows:
            if not isinstance(d, dict):
                raise ProviderError(f"{self.name}: malformed period {d!r}")
            t = _parse_ts(_obj(d, "from", self.name), self.name)
            if region is not None and "regions" in d:
                match = [r for r in d["regions"] if isinstance(r, dict) and r.get("regionid") == region]
                if not match:
                    raise ProviderError(f"{self.name}: region {region} missing at {d.get('from')}")
                d = match[0]
            ints = _obj(d, "intensity", self.name)
            if not isinstance(ints, dict):
                raise ProviderError(f"{self.name}: malformed intensity {ints!r}")
            actual = ints.get("actual") if region is None else None
            if actual is not None:
                out.append((t, _value(actual, "g/kWh", self.name), False))
            else:
                fc = _obj(ints, "forecast", self.name)
                if fc is None:
                    raise ProviderError(f"{self.name}: no value at {d.get('from')}")
                out.append((t, _value(fc, "g/kWh", self.name), True))
        return out

    def _build(self, zone: str, pts: list[tuple[float, float, bool]], **kw: Any) -> IntensitySeries:
        return self._series(
            canonical_zone(zone),
            [(t, v) for t, v, _ in pts],
            step_s=1800.0,
            dataset=self._DATASET,
            signal="average",
            basis="direct",
            estimated=kw.pop("estimated", False) or any(e for *_, e in pts),
            **kw,
        )

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        check_window(start_s, end_s)
        region = self._region(zone)
        pts: list[tuple[float, float, bool]] = []
        for a, b in _chunks(math.floor(start_s / 1800) * 1800, end_s, 14 * 86400.0):
            path = (
                f"/intensity/{self._fmt(a)}/{self._fmt(b)}"
                if region is None
                else (f"/regional/intensity/{self._fmt(a)}/{self._fmt(b)}/regionid/{region}")
            )
            pts.extend(self._periods(self._get(path), region))
        return self._build(zone, pts, start_s=start_s, end_s=end_s)

    def latest(self, zone: str, at_s: float) -> IntensityValue:
        if not self._is_now(at_s):
            return super().latest(zone, at_s)
        region = self._region(zone)
        path = "/intensity" if region is None else f"/regional/regionid/{region}"
        pts = self._periods(self._get(path), region)
        s = self._build(zone, pts[-1:])
        v = float(s.values_g_per_kwh[0])
        return IntensityValue(v, s.start_s, replace(s.provenance, intensity_g_per_kwh=v))

    def forecast(self, zone: str, now_s: float, horizon_s: float) -> IntensitySeries:
        region = self._region(zone)
        span = "fw24h" if horizon_s <= 86400 else "fw48h"
        frm = self._fmt(math.floor(now_s / 1800) * 1800)
        path = f"/intensity/{frm}/{span}" if region is None else f"/regional/intensity/{frm}/{span}/regionid/{region}"
        pts = self._periods(self._get(path), region)
        return self._build(zone, [(t, v, True) for t, v, _ in pts], estimated=True)
