"""A live service with a realistic ledger, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.server.conftest import NOW, Live, make_span, seed_gov, start_live

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"


def seed(live: Live) -> None:
    """Two weeks of pipeline work: data prep, training, HPO trials, retraining and inference."""
    rng = random.Random(7)
    spans = []
    i = 0
    for day in range(14):
        t0 = NOW - timedelta(days=14 - day)
        for kind, model, e_j, zone, g_per_kwh in (
            ("data-prep", "digits-mlp", 2.0e5, "DE", 380),
            ("train", "digits-mlp", 1.5e6, "DE", 380),
            ("hpo-trial", "digits-hgb", 6.0e5, "FR", 55),
            ("inference", "digits-mlp", 9.0e5, "FR", 55),
            ("retrain", "digits-hgb", 8.0e5 if day % 3 == 0 else 0.0, "CISO", 240),
        ):
            if e_j <= 0:
                continue
            e = e_j * rng.uniform(0.6, 1.4)
            g = e / 3.6e6 * g_per_kwh * rng.uniform(0.8, 1.2)
            spans.append(
                make_span(
                    i,
                    kind=kind,
                    model=model,
                    energy_j=e,
                    emissions_g=g,
                    zone=zone,
                    start=t0 + timedelta(hours=rng.uniform(0, 20)),
                )
            )
            i += 1
    live.ledger.add_spans(spans)
    seed_areas(live, rng)


def seed_areas(live: Live, rng: random.Random) -> None:
    """An HPO study with its charges, and scheduler plans with the forecast they used."""
    import math

    from carbontrail.hpo.tables import hpo_accounts, hpo_charges
    from carbontrail.schedule.tables import schedule_plans

    t = NOW - timedelta(days=2)
    account = {
        "study_name": "digits-mlp-search",
        "basis": "energy",
        "limit_value": 3.6e6,
        "spent_j": 0.0,
        "spent_g": 0.0,
        "n_complete": 0,
        "n_pruned": 0,
        "n_failed": 0,
        "status": "open",
        "created_at": t,
        "updated_at": t,
    }
    charges, spent = [], 0.0
    for k in range(24):
        e = rng.uniform(4e4, 2.2e5)
        spent += e
        charges.append(
            {
                "charge_id": f"c{k}",
                "study_name": "digits-mlp-search",
                "purpose": "trial",
                "trial_number": k,
                "state": "PRUNED" if k % 5 == 4 else "COMPLETE",
                "energy_j": e,
                "emissions_g": e / 3.6e6 * 300,
                "span_id": None,
                "worker": "w1",
                "charged_at": t + timedelta(minutes=10 * k),
            }
        )
    account.update(spent_j=spent, spent_g=spent / 3.6e6 * 300, n_complete=20, n_pruned=4)
    start = (NOW - timedelta(hours=30)).timestamp() // 3600 * 3600
    values = [300 + 120 * math.sin(i / 24 * 2 * math.pi) + rng.uniform(-15, 15) for i in range(48)]
    fc = {
        "DE": {
            "start_s": start,
            "step_s": 3600.0,
            "values_g_per_kwh": values,
            "uncertainty_rel": [0.1] * 48,
            "source": "series",
            "dataset": "test",
        }
    }
    plans = []
    for j, (offset_h, realised) in enumerate(((6, True), (30, False))):
        a = datetime.fromtimestamp(start + offset_h * 3600, UTC)
        plans.append(
            {
                "plan_id": f"plan{j}",
                "job_id": f"job{j}",
                "job_name": f"nightly-retrain-{j}",
                "created_at": NOW - timedelta(hours=29 - j),
                "zone": "DE",
                "decision": "shift",
                "reason": "lower-carbon window",
                "objective": "emissions",
                "chunks": [[a.isoformat(), (a + timedelta(hours=2)).isoformat()]],
                "immediate_chunks": [],
                "energy_j": 7.2e6,
                "expected_emissions_g": 400.0,
                "run_now_emissions_g": 620.0,
                "saving_g": 220.0,
                "uncertainty_g": 30.0,
                "forecast_source": "blend",
                "forecast_generated_at": NOW,
                "forecast_digest": "d",
                "forecast": fc,
                "realised_emissions_g": 410.0 if realised else None,
                "realised_run_now_emissions_g": 600.0 if realised else None,
                "realised_energy_j": 7.2e6 if realised else None,
                "realised_span_ids": [] if realised else None,
                "realised_at": NOW if realised else None,
            }
        )
    with live.ledger.write() as conn:
        conn.execute(hpo_accounts.insert(), [account])
        conn.execute(hpo_charges.insert(), charges)
        conn.execute(schedule_plans.insert(), plans)


@pytest.fixture
def dash(sqlite_url, tmp_path) -> Iterator[Live]:
    gen = start_live(sqlite_url, tmp_path)
    live = next(gen)
    seed(live)
    live.ids = seed_gov(live)  # type: ignore[attr-defined]
    yield live
    next(gen, None)


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is not installed: `make test` installs it (make browser)")
        pytest.skip("Debian chromium not installed (make browser)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
