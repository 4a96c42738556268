"""Objective of examples/hpo_digits.yaml: an MLP on scikit-learn's digits, 3-fold CV accuracy.

Reports after each fold so the energy quota can stop a trial between folds.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def objective(ctx):
    x, y = load_digits(return_X_y=True)
    p = ctx.params
    scores = []
    for step, (tr, te) in enumerate(StratifiedKFold(3, shuffle=True, random_state=0).split(x, y)):
        model = make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(int(p["hidden"]),), alpha=p["alpha"], learning_rate_init=p["learning_rate_init"],
            max_iter=int(p["max_iter"]), batch_size=int(p["batch_size"]), random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x[tr], y[tr])
        scores.append(model.score(x[te], y[te]))
        ctx.report(float(np.mean(scores)), step)
        ctx.check()  # stops the trial here if the quota cannot cover another fold
    return float(np.mean(scores))
