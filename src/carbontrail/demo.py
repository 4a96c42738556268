"""``make demo``: the whole model lifecycle on the embedded default (SQLite, bundled data, no network).

Run as ``python -m carbontrail.demo [--home DIR] [--serve]``. Each stage prints what it did;
the ledger it fills is kept in ``DIR`` (default ``.carbontrail/demo``) for ``carbontrail spans list``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from carbontrail.config import Settings, load_settings
from carbontrail.units import j_to_kwh

console = Console(width=150)

DEMO_ZONE = "CISO"  # California ISO, hourly EIA-930 2022 series bundled with carbontrail
POLICY = Path(__file__).parent / "data" / "policies" / "deploy-carbon.yaml"
DEMO_BUDGET_T = 0.03            # the vision team's budget for this service: 30 kgCO2e a year
DEMO_TRAFFIC_PER_DAY = 1e10     # predictions a day: a large public service


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



def stage_grid(settings: Settings, ledger: Any) -> None:
    """The same training job at two hours of the bundled CISO 2022 series."""
    from carbontrail.grid.attribute import attribute_span, shift_span
    from carbontrail.grid.bundled import load_series

    series = load_series(DEMO_ZONE)
    (train,) = ledger.spans(kind="train")
    noon = datetime(2022, 6, 15, 20, tzinfo=UTC).timestamp()   # 13:00 in California: solar peak
    night = datetime(2022, 6, 16, 3, tzinfo=UTC).timestamp()   # 20:00 in California: evening ramp
    t = Table(title=f"the same {_energy(train.energy_j)} training job at two hours of {DEMO_ZONE} 2022",
              title_justify="left")
    for col in ("starts (UTC)", "g/kWh", "g CO2e", "source", "dataset"):
        t.add_column(col, overflow="fold")
    for at in (noon, night):
        moved = attribute_span(shift_span(train, at, settings.bucket_s), series, bucket_s=settings.bucket_s)
        prov = moved.provenance or {}
        t.add_row(datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M"), f"{moved.intensity_g_per_kwh:.0f}",
                  f"{moved.emissions_g:.5f}", str(prov.get("source")), str(prov.get("dataset"))[:70])
    console.print(t)


def stage_hpo(settings: Settings, ledger: Any, data: dict[str, Any]) -> None:
    """Bayesian optimisation of an MLP on digits under an energy quota."""
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from carbontrail.hpo import optimize

    X_tr, X_va, y_tr, y_va = train_test_split(data["X"], data["y"], test_size=0.3, random_state=1)

    def objective(ctx: Any) -> float:
        p = ctx.params
        clf = MLPClassifier(hidden_layer_sizes=(int(p["hidden"]),), alpha=p["alpha"],
                            learning_rate_init=p["lr"], random_state=0)
        classes = sorted(set(y_tr))
        score = 0.0
        for epoch in range(int(p["epochs"])):
            clf.partial_fit(X_tr, y_tr, classes=classes)
            score = float(clf.score(X_va, y_va))
            ctx.report(score, epoch)
            ctx.check()
        return score

    space = {"hidden": {"low": 16, "high": 128, "log": True}, "alpha": {"low": 1e-5, "high": 1e-2, "log": True},
             "lr": {"low": 1e-3, "high": 3e-2, "log": True}, "epochs": {"low": 3, "high": 15}}
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quota = "20 J"
    result = optimize(objective, space, quota=quota, study_name="digits-mlp", ledger=ledger, seed=0,
                      n_trials=200, intensity_g_per_kwh=None, tags={"team": "vision"})
    acc = result.account
    console.print(f"  quota {quota}: spent {acc.spent_j:.1f} J over {sum(acc.counts.values())} trials "
                  f"{ {k: v for k, v in acc.counts.items() if v} }; overshoot {acc.overshoot:.1f} J")
    if result.best_value is not None:
        console.print(f"  best validation accuracy {result.best_value:.4f} with {result.best_params}")


def stage_schedule(settings: Settings, ledger: Any, data: dict[str, Any]) -> None:
    """Plan a week of nightly retraining into low-carbon hours (simulated clock over CISO 2022)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    import carbontrail
    from carbontrail.grid.bundled import load_series
    from carbontrail.grid.forecast import forecast_series
    from carbontrail.schedule import Job, Signal, plan
    from carbontrail.schedule.queue import realised_for_plan, record_plan, record_realised

    with carbontrail.track("retrain on fresh digits", kind="retrain", pipeline="digits", model="digits-hgb",
                           team="vision") as span:
        HistGradientBoostingClassifier(max_iter=40, random_state=1).fit(data["X"], data["y"])
    from carbontrail.meter import get_tracker

    get_tracker().flush()
    retrain = ledger.span(span.span_id)
    power_w = max(retrain.energy_j / max(retrain.duration_s, 1e-3), 1.0)
    history = load_series(DEMO_ZONE)
    t = Table(title=f"nightly 1-hour retraining, deadline 24 h, {DEMO_ZONE} 2022, built-in forecaster",
              title_justify="left")
    for col in ("night", "decision", "planned start (UTC)", "expected saving", "realised g", "run-now g"):
        t.add_column(col)
    realised_total = run_now_total = 0.0
    for day in range(7):
        now = datetime(2022, 6, 10 + day, 1, tzinfo=UTC)   # 18:00 in California: the nightly trigger
        fc = forecast_series(history, now.timestamp(), 24 * 3600)
        job = Job(earliest_at=now, deadline_at=now + timedelta(hours=24), duration_s=3600, power_w=power_w,
                  name="nightly retrain digits-hgb")
        sig = Signal.single(fc)
        p = plan(job, sig)
        pid = record_plan(ledger, p, sig, job=job)
        start_s = p.chunks[0][0].timestamp()
        buckets = [(start_s + i * settings.bucket_s, power_w * settings.bucket_s) for i in range(12)]
        real, now_g = realised_for_plan(buckets, history, run_now_s=now.timestamp(), bucket_s=settings.bucket_s)
        record_realised(ledger, pid, realised_emissions_g=real, realised_run_now_emissions_g=now_g,
                        energy_j=power_w * 3600)
        realised_total += real or 0.0
        run_now_total += now_g or 0.0
        t.add_row(now.strftime("%a %d %b"), p.decision, p.chunks[0][0].strftime("%H:%M"),
                  f"{p.saving_pct:.1f} %", f"{real:.3f}" if real is not None else "-",
                  f"{now_g:.3f}" if now_g is not None else "-")
    console.print(t)
    if run_now_total:
        console.print(f"  realised over the week: {realised_total:.3f} g vs {run_now_total:.3f} g run-now "
                      f"({100 * (1 - realised_total / run_now_total):.1f} % saved); the retraining step measured "
                      f"{_energy(retrain.energy_j)} in {retrain.duration_s:.1f} s ({power_w:.1f} W)")


def stage_queue(settings: Settings, ledger: Any) -> None:
    """Queue two retraining jobs; a worker re-plans them on a later forecast, then runs them (simulated clock)."""
    from carbontrail.schedule import Job, SimulatedClock, plan
    from carbontrail.schedule.queue import JobQueue, record_plan
    from carbontrail.schedule.signals import ForecastSource
    from carbontrail.schedule.worker import Worker

    t0 = datetime(2022, 6, 20, 1, tzinfo=UTC)
    clock = SimulatedClock(t0.timestamp())
    queue = JobQueue(ledger, clock=clock)

    def forecasts(zones: tuple[str, ...], objective: str) -> ForecastSource:
        return ForecastSource(zones, settings=settings, objective=objective)

    rows: dict[str, list[str]] = {}
    for name, zones in (("retrain digits-hgb", ("CISO",)), ("retrain digits-mlp", ("CISO", "BPAT", "AZPS"))):
        job = Job(earliest_at=t0, deadline_at=t0 + timedelta(hours=24), duration_s=3600, power_w=300.0,
                  zones=zones, name=name)
        sig = forecasts(zones, "emissions")(t0.timestamp(), job.deadline_at.timestamp())
        p = plan(job, sig)
        pid = record_plan(ledger, p, sig, job=job, clock=clock)
        jid = queue.submit(job, [sys.executable, "-c", "pass"], p, plan_id=pid, replan=True)
        rows[jid] = [name, ", ".join(zones), f"{p.zone} {p.start_at:%H:%M}"]
    clock.sleep_until(t0.timestamp() + 6 * 3600)  # six hours later the forecast is fresher
    worker = Worker(ledger, clock=clock, forecasts=forecasts, replan_every_s=3600, poll_s=0)
    worker.replan_queued()
    for j in queue.jobs():
        rows[j.job_id].append(f"{j.zone} {j.planned_start_at:%H:%M}")
    while (due := queue.next_due_at()) is not None:
        clock.sleep_until(max(clock.now(), due.timestamp()))
        worker.run_once()
    t = Table(title="queued jobs (submitted 01:00 UTC, re-planned at 07:00 by a worker, run at their planned time)",
              title_justify="left")
    for col in ("job", "may run in", "plan at submit", "plan after re-planning", "status", "plans recorded"):
        t.add_column(col)
    from carbontrail.schedule.queue import list_plans

    for j in queue.jobs():
        t.add_row(*rows[j.job_id], f"{j.status} (exit {j.returncode})", str(len(list_plans(ledger, job_id=j.job_id))))
    console.print(t)


def stage_governance(settings: Settings, ledger: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Register the model, then a deployment the policy vetoes and, after a change of zone, approves."""
    import yaml

    from carbontrail.audit import AuditLog, load_or_create_key
    from carbontrail.policy import Policy
    from carbontrail.registry import DeploymentSpec, Gate, Registry
    from carbontrail.registry.grid_intensity import grid_lookup

    audit = AuditLog(ledger, signing_key=load_or_create_key(settings.home / "audit_ed25519.pem"))
    reg = Registry(ledger, audit=audit)
    reg.register_model("digits-hgb", team="vision", description="handwritten digits classifier")
    lineage = {"training": [s.span_id for s in ledger.spans(kind="train")],
               "retraining": [s.span_id for s in ledger.spans(kind="retrain")]}
    mv = reg.register_version("digits-hgb", lineage=lineage, hardware={"cpu": "container CPU"})
    X = data["X"]
    reg.profile("digits-hgb", mv.version, lambda n: data["model"].predict(X[:n]), predictions=200_000,
                batch_size=500)
    card = reg.version("digits-hgb", mv.version).card
    console.print(f"  carbon card v{mv.version}: {card_line(card)}")

    # the organisation's policy, with the vision team's budget for this small service
    doc = yaml.safe_load(Path(POLICY).read_text())
    doc["parameters"]["annual_budget_t"]["by"]["team"]["vision"] = DEMO_BUDGET_T
    policy_path = settings.home / "deploy-carbon.yaml"
    policy_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    gate = Gate(reg, Policy.load(policy_path), audit, grid_lookup())
    gate.add_member("root", "admin")
    for name, role in (("ana", "member"), ("bo", "member"), ("sam", "submitter")):
        gate.add_member(name, role, by="root")
    gate.activate_policy(by="root")

    spec = DeploymentSpec("production", {"AZPS": 1.0}, traffic_per_day=DEMO_TRAFFIC_PER_DAY, horizon_days=365,
                          retrain_every_days=1, team="vision")
    dep = reg.create_deployment("digits-hgb", mv.version, spec)
    results = []
    options: tuple[tuple[str, dict[str, Any] | None], ...] = (
        ("AZPS (coal and gas), daily retraining", None),
        ("BPAT (hydro), weekly retraining", {"zones": {"BPAT": 1.0}, "retrain_every_days": 7}),
    )
    for label, change in options:
        if change:
            reg.update_deployment(dep.deployment_id, dataclasses.replace(spec, **change), by="sam")
        req = gate.request(dep.deployment_id, submitter="sam")
        fp = req.input["footprint"]
        console.print(f"  request for {label}: projected {fp['annual_g'] / 1000:.2f} kgCO2e/yr "
                      f"(budget {DEMO_BUDGET_T * 1000:.0f} kg) -> [bold]{req.status}[/bold]")
        for rule in req.decision["rules"]:
            if rule.get("status") != "pass":
                console.print(f"    {rule['rule_id']} ({rule.get('severity')}): {rule.get('message')}")
        if req.status == "pending-approval":
            gate.approve(req.request_id, "ana")
            req = gate.approve(req.request_id, "bo")
            console.print(f"    approved by ana and bo (quorum 2, submitter excluded) -> {req.status}")
        results.append(req.status)
    ok, _ = gate.allowed(dep.deployment_id)
    console.print(f"  deployment {dep.deployment_id[:8]} allowed: {ok}")
    audit.checkpoint()
    report = audit.verify()
    console.print(f"  audit chain: {report.entries if hasattr(report, 'entries') else ''} entries, "
                  f"verified={report.ok}, first bad entry: {report.first_bad_seq}")
    return {"statuses": results}


def stage_report(settings: Settings, ledger: Any) -> Path:
    from carbontrail.report import ReportOptions, SciSpec, render, report_from_ledger

    now = datetime.now(UTC)
    rep = report_from_ledger(ledger, period_start=now - timedelta(days=1), period_end=now + timedelta(hours=1),
                             generated_at=now,
                             options=ReportOptions(sci=[SciSpec("digits-hgb", "1000 predictions", units=25.0)],
                                                   ai_act_models=["digits-hgb"]))
    out = settings.home / "report.html"
    out.write_text(render(rep, "html"))
    t = Table(title="where the carbon goes (lifecycle breakdown, this run)", title_justify="left")
    for col in ("stage (kind)", "energy", "g CO2e", "share"):
        t.add_column(col)
    for row in rep.breakdowns.get("kind", []):
        t.add_row(row.key, _energy(row.energy.value or 0.0), f"{row.emissions.value or 0.0:.5f}", f"{row.share:.0%}")
    console.print(t)

    return out


def serve(settings: Settings, port: int = 8520) -> None:
    """Serve the dashboard over the demo's ledger until interrupted."""
    import uvicorn

    from carbontrail.ledger import Ledger
    from carbontrail.server import create_app
    from carbontrail.server.auth import TokenStore

    token, _ = TokenStore(Ledger.open(settings=settings)).create("demo-admin", "admin")
    console.print(f"  dashboard: http://127.0.0.1:{port}/ui/   sign in with the admin token {token}")
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


def card_line(card: Any) -> str:
    """Training energy/emissions and inference energy per 1,000 predictions from a carbon card."""
    d = card if isinstance(card, dict) else card.to_dict()
    tr = d.get("training") or {}
    inf = d.get("inference") or {}
    parts = [f"training {tr.get('energy_j', 0):.1f} J / {tr.get('emissions_g') or 0:.5f} g over "
             f"{len(tr.get('spans') or [])} span(s)"]
    for key in ("energy_j_per_1k", "j_per_1k", "energy_per_1k_j"):
        if key in inf:
            parts.append(f"inference {inf[key]:.3f} J per 1,000 predictions ({', '.join(inf.get('methods') or [])})")
            break
    else:
        parts.append(f"inference {inf}")
    return "; ".join(parts)


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
    data = stage_measure(settings)
    show_spans(ledger)
    console.rule("[bold]2. grid: provenance of every factor, and the hour matters")
    stage_grid(settings, ledger)
    console.rule("[bold]3. hyperparameter search under an energy quota")
    stage_hpo(settings, ledger, data)
    console.rule("[bold]4. retraining shifted into low-carbon hours")
    stage_schedule(settings, ledger, data)
    stage_queue(settings, ledger)
    console.rule("[bold]5. registry, policy gate and committee")
    stage_governance(settings, ledger, data)
    console.rule("[bold]6. report")
    out = stage_report(settings, ledger)
    console.print(f"  HTML report written to {out}")
    if args.serve:
        serve(settings)
    console.rule(f"done in {time.perf_counter() - t0:.1f} s — ledger: {ledger.safe_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
