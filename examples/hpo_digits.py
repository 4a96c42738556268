"""Objective of examples/hpo_digits.yaml: an MLP on scikit-learn's digits, 3-fold CV accuracy.

Trains epoch by epoch (``partial_fit``) and lets the energy quota stop the trial between epochs.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def objective(ctx):
    x, y = load_digits(return_X_y=True)
    p = ctx.params
    scores = []
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(x, y):
        scaler = StandardScaler().fit(x[tr])
        model = MLPClassifier(hidden_layer_sizes=(int(p["hidden"]),), alpha=p["alpha"],
                              learning_rate_init=p["learning_rate_init"], batch_size=int(p["batch_size"]),
                              random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(int(p["max_iter"])):
                model.partial_fit(scaler.transform(x[tr]), y[tr], classes=np.arange(10))
                ctx.check()  # raises optuna.TrialPruned when the quota cannot cover another epoch
        scores.append(model.score(scaler.transform(x[te]), y[te]))
        ctx.report(float(np.mean(scores)), len(scores))
    return float(np.mean(scores))
