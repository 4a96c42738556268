"""``make demo``: the whole model lifecycle on the embedded default (SQLite, bundled data, no network).

Run as ``python -m carbontrail.demo [--home DIR] [--serve]``. Each stage prints what it did;
the ledger it fills is kept in ``DIR`` (default ``.carbontrail/demo``) for ``carbontrail spans list``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from carbontrail.config import Settings, load_settings
from carbontrail.units import j_to_kwh

console = Console(width=150)

DEMO_ZONE = "CISO"  # California ISO, hourly EIA-930 2022 series bundled with carbontrail


def _energy(j: float) -> str:
    return f"{j:,.1f} J" if j < 3600 else f"{j_to_kwh(j) * 1000:,.3f} Wh"


def stage_measure(settings: Settings) -> dict[str, Any]:
    """Train a real small model on scikit-learn's bundled digits in tracked steps."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    import carbontrail
    from carbontrail.meter.track import Tracker, set_tracker

    tracker = Tracker(settings)
    set_tracker(tracker)
    common = {"pipeline": "digits", "model": "digits-hgb", "team": "vision"}
    with carbontrail.track("digits pipeline", kind="other", **common):
        with carbontrail.track("load and split digits", kind="data-prep", **common):
            X, y = load_digits(return_X_y=True)
            X = X / 16.0
            X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
        with carbontrail.track("fit gradient boosting", kind="train", **common):
            model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X_tr, y_tr)
        with carbontrail.track("evaluate on held-out set", kind="evaluate", **common):
            accuracy = float((model.predict(X_te) == y_te).mean())
        with carbontrail.track("batch inference, 5,000 predictions", kind="inference", **common) as inf:
            batch = np.repeat(X_te, 12, axis=0)[:5_000]
            model.predict(batch)
    tracker.flush()
    console.print(f"  model accuracy on held-out digits: {accuracy:.3f}")
    return {"tracker": tracker, "model": model, "accuracy": accuracy, "inference_span": inf.span_id,
            "X": X, "y": y}


def show_spans(ledger: Any) -> None:
    """The ledger's spans with energy, method and the provenance of the factor applied."""
    t = Table(title="spans recorded in the ledger", title_justify="left")
    for col in ("step", "kind", "s", "energy", "± J", "method", "g CO2e", "g/kWh", "zone", "source", "vintage"):
        t.add_column(col, overflow="fold")
    datasets: dict[str, str] = {}
    for r in ledger.spans():
        prov = r.provenance or {}
        if prov:
            datasets[f"{prov.get('source')} {prov.get('vintage')}"] = str(prov.get("dataset"))
        t.add_row(("  " if r.parent_id else "") + r.name, r.kind, f"{r.duration_s:.2f}", _energy(r.energy_j),
                  f"{r.uncertainty_j:.1f}", ",".join(r.methods),
                  "-" if r.emissions_g is None else f"{r.emissions_g:.4f}",
                  "-" if r.intensity_g_per_kwh is None else f"{r.intensity_g_per_kwh:.0f}",
                  str(prov.get("zone", "-")), str(prov.get("source", "-")), str(prov.get("vintage", "-")))
    console.print(t)
    for key, dataset in datasets.items():
        console.print(f"  [dim]{key}: {dataset}[/dim]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbontrail.demo", description=__doc__)
    parser.add_argument("--home", default=".carbontrail/demo", help="state folder for the demo (reset first)")
    parser.add_argument("--serve", action="store_true", help="serve the dashboard at the end")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    home = Path(args.home)
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    os.environ["CARBONTRAIL_HOME"] = str(home)
    settings = load_settings(home=home, zone=DEMO_ZONE)

    from carbontrail.ledger import Ledger

    ledger = Ledger.open(settings=settings)
    console.rule("[bold]1. measure: a real model trained in tracked steps")
    stage_measure(settings)
    show_spans(ledger)
    console.rule(f"done in {time.perf_counter() - t0:.1f} s — ledger: {ledger.safe_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
