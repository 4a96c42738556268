"""Multi-fidelity promotion with checkpoint reuse: resume saved models instead of retraining.

A :class:`Fidelity` names the parameter that sets the training budget (``max_iter``, epochs...)
and its levels. New trials start at the lowest level; once a level has ``eta`` complete trials per
promotion slot, the best ``1/eta`` of them are enqueued at the next level (asynchronous successive
halving). A promoted trial finds the checkpoint its configuration saved at the lower level
(:meth:`Checkpoints.load`), resumes it (``warm_start=True`` then ``fit``, or ``partial_fit``) and
pays only the extra training. Checkpoints are Optuna artifacts (any ``ArtifactStore``, e.g.
``optuna.artifacts.FileSystemArtifactStore``) referenced from the trial's user attributes.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.artifacts import download_artifact, upload_artifact
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState

from carbontrail.errors import ConfigError
from carbontrail.hpo.space import params_key

__all__ = ["Checkpoints", "Fidelity", "promote"]

log = logging.getLogger(__name__)

CHECKPOINT_ATTR = "checkpoint"


@dataclass(frozen=True)
class Fidelity:
    """The budget parameter and its increasing levels; the best ``1/eta`` of a level are promoted."""

    param: str
    levels: tuple[float, ...]
    eta: int = 3

    def __post_init__(self) -> None:
        if len(self.levels) < 2 or list(self.levels) != sorted(set(self.levels)):
            raise ConfigError("fidelity levels must be at least two increasing values")
        if self.eta < 2:
            raise ConfigError("fidelity eta must be >= 2")

    def key(self, params: Mapping[str, Any]) -> str:
        """The configuration without its fidelity (what a checkpoint is shared by)."""
        return params_key({k: v for k, v in params.items() if k != self.param})


def promote(study: Study, fidelity: Fidelity) -> list[dict[str, Any]]:
    """Enqueue the configurations that deserve the next level; return their parameters.

    At each level with ``n`` complete trials, the best ``n // eta`` are promoted unless their
    configuration already has a trial (any state) at the next level.
    """
    trials = study.get_trials(deepcopy=False)
    by_level: dict[float, list[FrozenTrial]] = {}
    taken: set[tuple[float, str]] = set()
    for t in trials:
        if fidelity.param not in t.params and fidelity.param not in t.system_attrs.get("fixed_params", {}):
            continue
        lvl = t.params.get(fidelity.param, t.system_attrs.get("fixed_params", {}).get(fidelity.param))
        full = t.params if fidelity.param in t.params else {**t.system_attrs.get("fixed_params", {})}
        taken.add((float(lvl), fidelity.key(full)))
        if t.state == TrialState.COMPLETE and t.value is not None:
            by_level.setdefault(float(lvl), []).append(t)
    out: list[dict[str, Any]] = []
    maximize = study.direction == StudyDirection.MAXIMIZE
    for lo, hi in zip(fidelity.levels, fidelity.levels[1:], strict=False):
        done = sorted(by_level.get(float(lo), []), key=lambda t: t.value, reverse=maximize)  # type: ignore[arg-type, return-value]
        for t in done[: len(done) // fidelity.eta]:
            k = fidelity.key(t.params)
            if (float(hi), k) in taken:
                continue
            params = {**t.params, fidelity.param: hi}
            study.enqueue_trial(params, user_attrs={"promoted_from": t.number})
            taken.add((float(hi), k))
            out.append(params)
    return out


class Checkpoints:
    """Save and find model checkpoints of a study as Optuna artifacts."""

    def __init__(self, store: Any, fidelity: Fidelity) -> None:
        self.store = store
        self.fidelity = fidelity

    def save(self, trial: Trial, params: Mapping[str, Any], obj: Any) -> str:
        """Pickle ``obj`` as an artifact of ``trial``; return the artifact id."""
        fd, path = tempfile.mkstemp(suffix=".pkl")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
            aid = upload_artifact(artifact_store=self.store, file_path=path, study_or_trial=trial)
        finally:
            os.unlink(path)
        trial.set_user_attr(CHECKPOINT_ATTR, {
            "artifact_id": aid, "key": self.fidelity.key(params), "level": params[self.fidelity.param],
        })
        return aid

    def load(self, study: Study, params: Mapping[str, Any]) -> tuple[Any, float] | None:
        """The checkpoint of the same configuration at the highest lower level, and that level; or None."""
        key = self.fidelity.key(params)
        level = float(params[self.fidelity.param])
        best: dict[str, Any] | None = None
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            c = t.user_attrs.get(CHECKPOINT_ATTR)
            if c and c["key"] == key and float(c["level"]) < level and (
                    best is None or float(c["level"]) > float(best["level"])):
                best = c
        if best is None:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ckpt.pkl")
            download_artifact(artifact_store=self.store, file_path=path, artifact_id=best["artifact_id"])
            with open(path, "rb") as f:
                obj = pickle.load(f)
        return obj, float(best["level"])


def lowest_level_params(fidelity: Fidelity) -> dict[str, Any]:
    """Partial parameters that start a new configuration at the lowest level."""
    return {fidelity.param: fidelity.levels[0]}


def levels_choices(fidelity: Fidelity, space: Mapping[str, Any]) -> Sequence[Any]:
    """Check the space holds the fidelity parameter as a categorical of exactly the levels."""
    from optuna.distributions import CategoricalDistribution

    d = space.get(fidelity.param)
    if not isinstance(d, CategoricalDistribution) or [float(c) for c in d.choices] != [float(v) for v in  # type: ignore[arg-type]
                                                                                        fidelity.levels]:
        raise ConfigError(f"space must hold {fidelity.param!r} as the choices {list(fidelity.levels)}")
    return d.choices
