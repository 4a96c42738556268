"""Governance benchmarks: policy decisions per second, audit appends per second, chain verification.

Run: ``PYTHONPATH=src python bench/policy.py [--verify-entries 1000000] [--repeats 5]``

* decisions/s of the six-rule example policy (examples/policies/deploy-carbon.yaml), compiled once,
  on one core (the process is pinned to one CPU), against two baselines measured side by side:
  the pure-Python ``cel-python`` backend behind the same adapter, and compiling the policy for
  every decision. Rates are given per wall second and per CPU second (the machine is shared).
* audit appends/s on SQLite: ``append_many`` batches vs one ``append`` (one transaction) per entry.
* time to verify N entries (default 1,000,000) with checkpoints every 10,000 entries.

Medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carbontrail.audit import AuditLog
from carbontrail.ledger import Ledger
from carbontrail.policy import Policy

POLICY = Path(__file__).parents[1] / "examples" / "policies" / "deploy-carbon.yaml"


def _inputs(n: int) -> list[dict]:
    """Varied, realistic inputs (as Gate.build_input makes them, trimmed of term provenance)."""
    out = []
    for i in range(n):
        annual = 2e5 + (i * 7919) % 7_000_000
        out.append(
            {
                "team": ("vision", "search", "ads")[i % 3],
                "environment": ("production", "staging", "research")[i % 3],
                "model": {
                    "name": f"m{i % 17}",
                    "version": 1 + i % 5,
                    "state": "staging",
                    "inference_measured": i % 11 != 0,
                    "inference_energy_j_per_1k": 500.0 + i % 300,
                    "training_emissions_g": 80_000.0,
                    "training_energy_j": 7.2e8,
                    "model_size_bytes": 45_000_000,
                },
                "deployment": {
                    "deployment_id": f"d{i}",
                    "zones": [("FR", "DE", "PL", "SE")[i % 4]],
                    "horizon_days": 365,
                    "retrain_every_days": 30,
                    "traffic_per_day": 1e7,
                    "pue": 1.2,
                },
                "footprint": {
                    "training_g": 80_000.0,
                    "retraining_g": annual * 0.3,
                    "inference_g": annual * 0.6,
                    "total_g": annual,
                    "annual_g": annual,
                    "uncertainty_g": annual * 0.1,
                    "uncertainty_rel": 0.1 + (i % 5) / 20,
                    "sci_g_per_1k": (i % 40) / 10,
                    "predictions": 3.65e9,
                    "horizon_days": 365.0,
                    "max_intensity_g_per_kwh": (56.0, 380.0, 700.0, 30.0)[i % 4],
                    "mean_intensity_g_per_kwh": (56.0, 380.0, 700.0, 30.0)[i % 4],
                },
            }
        )
    return out


def _rate(fn, n: int, repeats: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(n / (time.perf_counter() - w))
        cpus.append(n / max(time.process_time() - c, 1e-9))
    return statistics.median(walls), statistics.median(cpus)


def bench_policy(repeats: int) -> None:
    data = _inputs(2000)
    pol = Policy.load(POLICY, backend="cel")
    outcomes = {}
    for d in data:
        o = pol.evaluate(d).outcome
        outcomes[o] = outcomes.get(o, 0) + 1
    n = len(data)
    w, c = _rate(lambda: [pol.evaluate(d) for d in data], n, repeats)
    py = Policy.load(POLICY, backend="celpy")
    m = 100
    pw, pc = _rate(lambda: [py.evaluate(d) for d in data[:m]], m, repeats)
    text = POLICY.read_text()
    cw, cc = _rate(lambda: [Policy.from_text(text).evaluate(d) for d in data[:m]], m, repeats)
    print(f"policy: six-rule policy, {n} varied inputs, outcomes {outcomes}")
    print(f"  compiled once, Rust CEL : {w:10,.0f} decisions/s wall  {c:10,.0f} per CPU-second")
    print(
        f"  baseline cel-python     : {pw:10,.0f} decisions/s wall  {pc:10,.0f} per CPU-second  "
        f"(x{c / pc:,.0f} slower per CPU-s)"
    )
    print(
        f"  baseline compile each   : {cw:10,.0f} decisions/s wall  {cc:10,.0f} per CPU-second  "
        f"(x{c / cc:,.0f} slower per CPU-s)"
    )
    print(f"  target >= 10,000/s on one core: {'met' if c >= 10_000 else 'NOT met'} (per CPU-second)")


def bench_audit(repeats: int, tmp: Path) -> None:
    payload = {
        "request_id": "0123456789abcdef",
        "outcome": "veto",
        "policy_digest": "ab" * 32,
        "input_digest": "cd" * 32,
        "rules": [{"rule_id": "annual-budget", "status": "fail"}],
    }
    batch_rates, batch_cpu, single_rates = [], [], []
    for r in range(repeats):
        led = Ledger.open(f"sqlite:///{tmp / f'a{r}.db'}")
        log = AuditLog(led, signing_key=Ed25519PrivateKey.generate(), checkpoint_every=10_000)
        n = 50_000
        items = [[("decision", {**payload, "i": k + j}) for j in range(5000)] for k in range(0, n, 5000)]
        t, c = time.perf_counter(), time.process_time()
        for chunk in items:
            log.append_many(chunk)
        batch_rates.append(n / (time.perf_counter() - t))
        batch_cpu.append(n / (time.process_time() - c))
        m = 300
        t = time.perf_counter()
        for j in range(m):
            log.append("decision", {**payload, "i": j})
        single_rates.append(m / (time.perf_counter() - t))
        led.close()
    b, s = statistics.median(batch_rates), statistics.median(single_rates)
    print("audit appends on SQLite (WAL, synchronous=NORMAL):")
    print(
        f"  append_many (batches of 5,000): {b:10,.0f} entries/s wall  "
        f"{statistics.median(batch_cpu):10,.0f} per CPU-second"
    )
    print(f"  baseline append() per entry   : {s:10,.0f} entries/s  (batching x{b / s:,.0f})")
    print(f"  target >= 20,000/s: {'met' if b >= 20_000 else 'NOT met'}")


def bench_verify(n: int, tmp: Path) -> None:
    led = Ledger.open(f"sqlite:///{tmp / 'v.db'}")
    log = AuditLog(led, signing_key=Ed25519PrivateKey.generate(), checkpoint_every=10_000)
    t = time.perf_counter()
    batch = 10_000
    for k in range(0, n, batch):
        log.append_many([("span-batch", {"i": k + j, "energy_j": 1.5 * j, "spans": 20}) for j in range(batch)])
    build = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    rep = log.verify()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    assert rep.ok and rep.entries == n, rep.problems
    print(
        f"audit verify: {n:,} entries, {rep.checkpoints} signed checkpoints: {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"({n / wall:,.0f} entries/s); building the chain took {build:.1f} s ({n / build:,.0f} appends/s)"
    )
    led.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--verify-entries", type=int, default=1_000_000)
    ap.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: the last one)")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    cpu = args.cpu if args.cpu is not None else cpus[-1]
    os.sched_setaffinity(0, {cpu})
    print(
        f"pinned to CPU {cpu} of {os.cpu_count()}; medians of {args.repeats} runs; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as d:
        bench_policy(args.repeats)
        bench_audit(args.repeats, Path(d))
        bench_verify(args.verify_entries, Path(d))


if __name__ == "__main__":
    main()
