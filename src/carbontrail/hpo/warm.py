"""Warm starts: seed a study with the best configurations of earlier studies."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import TrialState

from carbontrail.errors import ConfigError

__all__ = ["warm_start"]

log = logging.getLogger(__name__)


def warm_start(
    study: Study,
    sources: Sequence[str],
    *,
    storage: Any,
    top_k: int = 3,
    space: Mapping[str, BaseDistribution] | None = None,
) -> list[dict[str, Any]]:
    """Enqueue the ``top_k`` best complete trials of each study in ``sources`` (same ``storage``).

    Configurations outside ``space`` (a parameter missing or out of its distribution) are skipped;
    already enqueued or evaluated ones are not enqueued twice. Returns the enqueued parameter sets.
    """
    out: list[dict[str, Any]] = []
    for name in sources:
        try:
            src = optuna.load_study(study_name=name, storage=storage)
        except KeyError as exc:
            raise ConfigError(f"warm start: no study {name!r} in the storage") from exc
        done = [t for t in src.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
        done.sort(key=lambda t: t.value, reverse=src.direction == StudyDirection.MAXIMIZE)  # type: ignore[arg-type, return-value]
        for t in done[:top_k]:
            params = dict(t.params)
            if space is not None:
                if not all(n in params and space[n]._contains(space[n].to_internal_repr(params[n]))
                           for n in space):
                    log.info("warm start: trial %d of %s is outside the space, skipped", t.number, name)
                    continue
                params = {n: params[n] for n in space}
            study.enqueue_trial(params, user_attrs={"warm_start_from": name, "warm_start_trial": t.number},
                                skip_if_exists=True)
            out.append(params)
    return out
