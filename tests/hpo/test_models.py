"""Pure parts: expected improvement, the log-cost model, space parsing and encoding."""

from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from carbontrail.errors import ConfigError
from carbontrail.hpo.models import LogCostModel, expected_improvement
from carbontrail.hpo.space import SpaceEncoder, params_key, parse_space


def test_expected_improvement_closed_form():
    # at mu == best the EI of N(mu, sd^2) is sd / sqrt(2 pi); far above best it vanishes
    ei = expected_improvement(np.array([0.0, 10.0, -1.0]), np.array([1.0, 1.0, 1e-9]), 0.0)
    assert ei[0] == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert ei[1] == pytest.approx(0.0, abs=1e-12)
    assert ei[2] == pytest.approx(1.0)


def test_log_cost_model_learns_exponential_cost_and_bounds_it():
    x = np.linspace(0, 1, 12)[:, None]
    e = 2.0 * np.exp(4 * x[:, 0])
    m = LogCostModel(seed=0).fit(x, e)
    assert m.ready
    q = np.array([[0.5]])
    assert m.mean_j(q)[0] == pytest.approx(2.0 * math.exp(2.0), rel=0.1)
    assert m.upper(q, 0.9)[0] >= m.mean_j(q)[0]
    cold = LogCostModel(seed=0).fit(x[:2], e[:2])
    assert not cold.ready and cold.upper(q)[0] == pytest.approx(2 * e[:2].max())


def test_parse_space_and_encoder():
    d = parse_space({
        "lr": {"low": 1e-4, "high": 1e-1, "log": True},
        "n": {"low": 1, "high": 9},
        "depth": [3, 30, 300],
        "solver": {"choices": ["adam", "sgd"]},
    })
    assert isinstance(d["lr"], FloatDistribution) and d["lr"].log
    assert isinstance(d["n"], IntDistribution)
    assert isinstance(d["depth"], CategoricalDistribution)
    enc = SpaceEncoder(d)
    assert enc.dim == 5  # lr, n, depth (ordinal, log) + solver one-hot (2)
    x = enc.encode({"lr": 1e-4, "n": 9, "depth": 30, "solver": "sgd"})
    assert x.tolist() == pytest.approx([0.5, 0.0, 1.0, 0.0, 1.0])  # sorted names: depth, lr, n, solver
    assert params_key({"b": 0.1 + 0.2, "a": 1}) == params_key({"a": 1, "b": 0.3})
    for bad in ({}, {"x": {"low": "a", "high": 1}}, {"x": {"low": 0, "high": 1, "type": "complex"}}, {"x": 3}):
        with pytest.raises(ConfigError):
            parse_space(bad)
