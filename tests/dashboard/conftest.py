"""A live service with a realistic ledger, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.server.conftest import NOW, Live, make_span, start_live

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


@pytest.fixture
def dash(sqlite_url, tmp_path) -> Iterator[Live]:
    gen = start_live(sqlite_url, tmp_path)
    live = next(gen)
    seed(live)
    yield live
    next(gen, None)


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium not installed (make browser)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
