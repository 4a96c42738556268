"""``carbontrail registry add-model|add-version|list|show|transition|profile|footprint``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from carbontrail.cli.common import cli_errors, err, print_json
from carbontrail.errors import ConfigError

app = typer.Typer(
    help="Model registry: versions with carbon cards, profiling, projected footprints.", no_args_is_help=True
)


def _registry() -> Any:
    from carbontrail.cli.audit import open_audit
    from carbontrail.registry import Registry

    audit = open_audit(None)
    return Registry(audit.ledger, audit=audit)


@app.command("add-model")
def add_model(
    name: str, team: str = typer.Option(None, "--team"), description: str = typer.Option("", "--description")
) -> None:
    """Register a model name."""
    with cli_errors():
        _registry().register_model(name, team=team, description=description)
        err.print(f"model {name} registered")


@app.command("add-version")
def add_version(
    model: str,
    training: list[str] = typer.Option([], "--training", help="span id (or 6+ char prefix) of training work"),
    search: list[str] = typer.Option([], "--search", help="span id of hyperparameter search work"),
    retraining: list[str] = typer.Option([], "--retraining", help="span id of a retraining run"),
    hardware: list[str] = typer.Option([], "--hardware", help="KEY=VALUE, e.g. gpu=A100"),
    size_bytes: int = typer.Option(None, "--size-bytes"),
    artifact_uri: str = typer.Option(None, "--artifact-uri"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Register the next version with lineage to its spans; its carbon card is built from them."""
    with cli_errors():
        hw = {}
        for h in hardware:
            k, sep, v = h.partition("=")
            if not sep:
                raise ConfigError(f"--hardware {h!r}: expected KEY=VALUE")
            hw[k] = v
        lineage = {k: v for k, v in (("training", training), ("search", search), ("retraining", retraining)) if v}
        mv = _registry().register_version(
            model, lineage=lineage, hardware=hw, model_size_bytes=size_bytes, artifact_uri=artifact_uri
        )
        if json_out:
            print_json(mv.to_dict())
        else:
            _print_card(mv)


def _print_card(mv: Any) -> None:
    c = mv.card
    err.print(f"[bold]{mv.model} v{mv.version}[/bold] ({mv.state})")
    t = Table(title="carbon card")
    for col in ("stage", "spans", "energy (kWh)", "emissions (gCO2e)", "measured share"):
        t.add_column(col)
    for k in ("search", "training", "retraining"):
        s = c[k]
        t.add_row(
            k,
            str(len(s["spans"])),
            f"{s['energy_j'] / 3.6e6:.3f}",
            "-" if s["emissions_g"] is None else f"{s['emissions_g']:.1f}",
            f"{s['measured_share']:.0%}",
        )
    err.print(t)
    inf = c.get("inference") or {}
    if inf.get("energy_j_per_1k") is not None:
        err.print(
            f"inference: {inf['energy_j_per_1k']:.2f} J per 1000 predictions "
            f"({', '.join(inf.get('methods') or [])}; span {str(inf.get('span_id'))[:12]})"
        )
    else:
        err.print("inference: not profiled (carbontrail registry profile)")


@app.command("list")
def list_models(json_out: bool = typer.Option(False, "--json")) -> None:
    """Models and their versions."""
    with cli_errors():
        reg = _registry()
        rows = [
            {**m, "versions": [{"version": v.version, "state": v.state} for v in reg.versions(m["name"])]}
            for m in reg.models()
        ]
        if json_out:
            print_json(rows)
            return
        for m in rows:
            err.print(
                f"{m['name']} (team {m['team']}): " + ", ".join(f"v{v['version']} {v['state']}" for v in m["versions"])
            )


@app.command("show")
def show(model: str, version: int, json_out: bool = typer.Option(False, "--json")) -> None:
    """A version's carbon card and lineage."""
    with cli_errors():
        mv = _registry().version(model, version)
        if json_out:
            print_json(mv.to_dict())
        else:
            _print_card(mv)


@app.command("transition")
def transition(
    model: str, version: int, state: str, actor: str = typer.Option("", "--as", envvar="CARBONTRAIL_USER")
) -> None:
    """Move a version through registered -> staging -> production -> deprecated -> retired."""
    with cli_errors():
        mv = _registry().transition(model, version, state, by=actor)
        err.print(f"{model} v{version}: {mv.state}")


@app.command("profile")
def profile(
    model: str,
    version: int,
    predict: str = typer.Option(..., "--predict", help="module:function taking a batch size"),
    predictions: int = typer.Option(10_000, "--predictions"),
    batch_size: int = typer.Option(100, "--batch-size"),
    min_duration_s: float = typer.Option(2.0, "--min-duration-s", help="run at least this long for a stable reading"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Run inference in a tracked span and store energy per 1,000 predictions in the carbon card."""
    with cli_errors():
        mod_name, sep, fn_name = predict.partition(":")
        if not sep:
            raise ConfigError("--predict takes module:function")
        import sys

        sys.path.insert(0, str(Path.cwd()))
        try:
            fn = getattr(importlib.import_module(mod_name), fn_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import {predict}: {exc}") from exc
        mv = _registry().profile(
            model, version, fn, predictions=predictions, batch_size=batch_size, min_duration_s=min_duration_s
        )
        from carbontrail.meter.track import get_tracker

        try:
            get_tracker().flush()
        except Exception as exc:  # the span stays in the journal for later ingestion
            err.print(f"[yellow]warning:[/yellow] profiling span kept in the journal, not yet in the ledger: {exc}")
        if json_out:
            print_json(mv.card["inference"])
        else:
            _print_card(mv)


@app.command("footprint")
def footprint(
    deployment_id: str,
    intensity: list[str] = typer.Option([], "--intensity", help="ZONE=G_PER_KWH (repeat)"),
    zone_option: list[str] = typer.Option([], "--what-if-zone", help="compare serving from ZONE (needs --intensity)"),
    cadence: list[float] = typer.Option([], "--what-if-cadence", help="compare retraining every N days"),
    policy: Path = typer.Option(None, "--policy", envvar="CARBONTRAIL_POLICY"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Projected footprint of a deployment, with what-if rows across zones and cadences."""
    from carbontrail.cli.deploy import open_gate
    from carbontrail.registry.footprint import what_if

    with cli_errors():
        gate = open_gate(policy, intensity) if policy else _bare_gate(intensity)
        gate.intensity = _with_grid(gate.intensity)
        dep = gate.registry.deployment(deployment_id)
        fp = gate.footprint(dep)
        rows = []
        if zone_option or cadence:
            base_inputs = gate.footprint_inputs(dep)
            zones = {z: gate._zone(z) for z in zone_option} or None
            rows = what_if(base_inputs, zones=zones, cadences_days=cadence or None)
        if json_out:
            print_json(
                {"footprint": fp.to_dict(), "what_if": [{k: v for k, v in r.items() if k != "footprint"} for r in rows]}
            )
            return
        t = Table(title=f"deployment {deployment_id}: {fp.total_g / 1e6:.3f} tCO2e over {fp.horizon_days:g} days")
        for c in ("term", "gCO2e", "±%", "formula"):
            t.add_column(c)
        for term in fp.terms:
            t.add_row(term.name, f"{term.emissions_g:,.0f}", f"{term.uncertainty_rel * 100:.0f}", term.formula)
        err.print(t)
        err.print(f"SCI: {fp.sci_g_per_1k:.4f} gCO2e per 1000 predictions; annual {fp.annual_g / 1e6:.3f} t")
        if rows:
            w = Table(title="what if")
            for c in ("zone", "retrain every (days)", "tCO2e/yr", "delta (t)"):
                w.add_column(c)
            for r in rows:
                w.add_row(
                    r["zone"], str(r["retrain_every_days"]), f"{r['annual_g'] / 1e6:.3f}", f"{r['delta_g'] / 1e6:+.3f}"
                )
            err.print(w)


def _with_grid(base: Any) -> Any:
    """Stated intensities first, then the grid package's annual factor."""
    from carbontrail.errors import GridError
    from carbontrail.registry.grid_intensity import grid_zone_intensity

    def lookup(zone: str) -> Any:
        if not callable(base) and zone in base:
            return base[zone]
        if callable(base):
            try:
                return base(zone)
            except Exception:  # fall through to the grid
                pass
        try:
            return grid_zone_intensity(zone)
        except GridError as exc:
            raise ConfigError(f"no intensity for zone {zone!r}: pass --intensity {zone}=G_PER_KWH ({exc})") from exc

    return lookup


def _bare_gate(intensity: list[str]) -> Any:
    from carbontrail.cli.audit import open_audit
    from carbontrail.cli.deploy import parse_pairs
    from carbontrail.registry import Gate, Registry, ZoneIntensity

    audit = open_audit(None)
    zones = {
        z: ZoneIntensity(z, intensity_g_per_kwh=v, provenance={"source": "stated"})
        for z, v in parse_pairs(intensity, "--intensity").items()
    }
    return Gate(Registry(audit.ledger, audit=audit), None, audit, zones)  # type: ignore[arg-type]


def _mlflow_client(tracking_uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise ConfigError("MLflow support needs `pip install carbontrail[mlflow]`") from exc
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


TRACKING_OPT = typer.Option(..., "--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow server URL")


@app.command("mirror")
def mirror(
    model: str, version: int, tracking_uri: str = TRACKING_OPT, json_out: bool = typer.Option(False, "--json")
) -> None:
    """Copy a version's carbon card to MLflow model-version tags (carbontrail.*)."""
    from carbontrail.registry.mlflow_sync import mirror_card

    with cli_errors():
        tags = mirror_card(_mlflow_client(tracking_uri), model, version, _registry().version(model, version).card)
        if json_out:
            print_json(tags)
        else:
            err.print(f"{len(tags)} carbontrail tags set on {model} v{version}")


@app.command("promote")
def promote_cmd(
    model: str,
    version: int,
    alias: str = typer.Argument(..., help="MLflow alias, read as the deployment environment"),
    tracking_uri: str = TRACKING_OPT,
    actor: str = typer.Option(..., "--as", envvar="CARBONTRAIL_USER"),
    policy: Path = typer.Option(None, "--policy", envvar="CARBONTRAIL_POLICY"),
) -> None:
    """Set an MLflow alias only when the gate has approved a deployment of this version to that
    environment (exit 5 when refused; the attempt is audited either way)."""
    from carbontrail.cli.common import EXIT_POLICY_DENIED
    from carbontrail.cli.deploy import open_gate
    from carbontrail.errors import PolicyError
    from carbontrail.registry.mlflow_sync import promote

    with cli_errors():
        gate = open_gate(policy, ())
        try:
            reason = promote(gate, _mlflow_client(tracking_uri), model, version, alias, by=actor)
        except PolicyError as exc:
            err.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(EXIT_POLICY_DENIED) from exc
        err.print(f"[green]{model} v{version} is now {alias!r}[/green] ({reason})")
