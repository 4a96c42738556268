"""Search spaces: a plain dict (from code or YAML) to Optuna distributions, and a numeric encoding.

A space maps each parameter name to one of:

* an Optuna ``BaseDistribution``;
* ``{"low": 1e-4, "high": 1e-1, "log": true}`` (float; ``"type": "int"`` or integer bounds give an int;
  ``"step"`` allowed);
* ``{"choices": [...]}`` or a plain list (categorical).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from carbontrail.errors import ConfigError

__all__ = ["SpaceEncoder", "enumerate_space", "finite_values", "params_key", "parse_space"]


def parse_space(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Turn a space description into Optuna distributions (see the module docstring)."""
    if not isinstance(space, Mapping) or not space:
        raise ConfigError("space must be a non-empty mapping of parameter name to distribution")
    out: dict[str, BaseDistribution] = {}
    for name, spec in space.items():
        try:
            out[str(name)] = _one(spec)
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"space: bad distribution for {name!r}: {spec!r} ({exc})") from exc
    return out


def _one(spec: Any) -> BaseDistribution:
    if isinstance(spec, BaseDistribution):
        return spec
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return CategoricalDistribution(list(spec))
    if not isinstance(spec, Mapping):
        raise TypeError("expected a mapping, a list of choices or an Optuna distribution")
    if "choices" in spec:
        return CategoricalDistribution(list(spec["choices"]))
    low, high = spec["low"], spec["high"]
    kind = spec.get("type") or ("int" if isinstance(low, int) and isinstance(high, int) else "float")
    log = bool(spec.get("log", False))
    step = spec.get("step")
    if kind == "int":
        return IntDistribution(int(low), int(high), log=log, step=int(step or 1))
    if kind == "float":
        return FloatDistribution(float(low), float(high), log=log, step=None if step is None else float(step))
    raise ValueError(f"unknown type {kind!r}")


def params_key(params: Mapping[str, Any]) -> str:
    """A canonical key of a parameter set (floats rounded to 12 significant digits) for the result cache."""
    parts = []
    for k in sorted(params):
        v = params[k]
        if isinstance(v, float):
            v = float(f"{v:.12g}")
        parts.append(f"{k}={v!r}")
    return ";".join(parts)


def _numeric(choices: Sequence[Any]) -> bool:
    return all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices)


class SpaceEncoder:
    """Encodes parameter dicts as points of the unit cube (for the GP models).

    Floats and ints scale to [0, 1] (in log space when the distribution is log); numeric categorical
    choices are ordinal (log-spaced when all positive and spanning a factor >= 10); other categoricals
    are one-hot.
    """

    def __init__(self, space: Mapping[str, BaseDistribution]) -> None:
        self.space = dict(space)
        self.names = sorted(self.space)
        self.dim = 0
        for n in self.names:
            d = self.space[n]
            if isinstance(d, CategoricalDistribution) and not _numeric(d.choices):
                self.dim += len(d.choices)
            else:
                self.dim += 1

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """One point (a 1-D array of length :attr:`dim`)."""
        x: list[float] = []
        for n in self.names:
            d, v = self.space[n], params[n]
            if isinstance(d, FloatDistribution | IntDistribution):
                lo, hi, val = float(d.low), float(d.high), float(v)
                if d.log:
                    lo, hi, val = math.log(lo), math.log(hi), math.log(val)
                x.append(0.5 if hi == lo else (val - lo) / (hi - lo))
            elif isinstance(d, CategoricalDistribution) and _numeric(d.choices):
                vals = sorted(float(c) for c in d.choices)  # type: ignore[arg-type]
                lo, hi, val = vals[0], vals[-1], float(v)
                if lo > 0 and hi / lo >= 10:
                    lo, hi, val = math.log(lo), math.log(hi), math.log(val)
                x.append(0.5 if hi == lo else (val - lo) / (hi - lo))
            elif isinstance(d, CategoricalDistribution):
                x.extend(1.0 if c == v else 0.0 for c in d.choices)
            else:  # pragma: no cover - every Optuna distribution is one of the above
                raise ConfigError(f"cannot encode distribution {d!r}")
        return np.asarray(x, dtype=float)

    def encode_many(self, params: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Several points as a 2-D array."""
        if not params:
            return np.zeros((0, self.dim))
        return np.vstack([self.encode(p) for p in params])


def finite_values(dist: BaseDistribution, limit: int) -> list[Any] | None:
    """Every value ``dist`` can take, or None when it is continuous or has more than ``limit``."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices) if len(dist.choices) <= limit else None
    if isinstance(dist, IntDistribution):
        n = (dist.high - dist.low) // dist.step + 1
        return list(range(dist.low, dist.high + 1, dist.step)) if n <= limit else None
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        n = round((dist.high - dist.low) / dist.step) + 1
        return [float(dist.low + i * dist.step) for i in range(n)] if n <= limit else None
    return None


def enumerate_space(space: Mapping[str, BaseDistribution], limit: int) -> list[dict[str, Any]] | None:
    """Every configuration of a finite space (names sorted), or None when it is infinite or has more
    than ``limit`` configurations."""
    names = sorted(space)
    axes: list[list[Any]] = []
    size = 1
    for n in names:
        vals = finite_values(space[n], limit)
        if vals is None:
            return None
        size *= len(vals)
        if size > limit:
            return None
        axes.append(vals)
    import itertools

    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]
