"""``carbontrail deploy create|request|approve|veto|override|status|reevaluate|members|member-add|whatif``.

The CLI trusts ``--as`` (or ``CARBONTRAIL_USER``) for who is acting: it is a local tool. A shared
deployment authenticates people in the server before they reach the same :class:`Gate` methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from carbontrail.cli.common import EXIT_POLICY_DENIED, cli_errors, err, open_ledger, print_json, settings
from carbontrail.errors import ConfigError, RegistryError

app = typer.Typer(help="Deployment requests, committee approvals, vetoes and overrides.", no_args_is_help=True)

POLICY_OPT = typer.Option(
    None, "--policy", envvar="CARBONTRAIL_POLICY", help="policy YAML (default: the policy activated in the ledger)"
)
INTENSITY_OPT = typer.Option([], "--intensity", help="ZONE=G_PER_KWH stated serving-zone intensity (repeat)")
HOURLY_OPT = typer.Option(False, "--hourly", help="use the grid's hour-of-day profile, not the annual factor")
AS_OPT = typer.Option(..., "--as", envvar="CARBONTRAIL_USER", help="who you are")


def parse_pairs(pairs: Sequence[str], what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise ConfigError(f"{what} {p!r}: expected KEY=NUMBER")
        try:
            out[k.strip()] = float(v)
        except ValueError as exc:
            raise ConfigError(f"{what} {p!r}: {v!r} is not a number") from exc
    return out


def _when(text: str | None, flag: str) -> Any:
    if text is None:
        return None
    from datetime import datetime

    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{flag} {text!r}: not an ISO-8601 time") from exc
    if t.tzinfo is None:
        raise ConfigError(f"{flag} {text!r}: give a UTC offset (e.g. Z); naive times are refused")
    return t


def open_gate(policy_path: Path | None, intensity: Sequence[str], *, hourly: bool = False) -> Any:
    """A :class:`Gate` over the project's ledger and audit chain. Serving-zone intensities: stated
    ``--intensity`` values first, else the grid package (annual factor, or an hourly profile with
    ``hourly``), else the settings' stated factor."""
    from carbontrail.cli.audit import open_audit
    from carbontrail.policy import Policy
    from carbontrail.registry import Gate, Registry, ZoneIntensity
    from carbontrail.registry.tables import gov_policies

    s = settings()
    audit = open_audit(None)
    ledger = audit.ledger
    if policy_path is not None:
        policy = Policy.load(policy_path)
    else:
        with ledger.engine.connect() as conn:
            row = conn.execute(gov_policies.select().where(gov_policies.c.active.is_(True))).one_or_none()
        if row is None:
            raise ConfigError("no active policy: pass --policy FILE or run `carbontrail policy activate FILE`")
        policy = Policy.from_text(row.source, file=f"<active policy {row.policy_digest[:12]}>")
    stated = parse_pairs(intensity, "--intensity")
    zones = {
        z: ZoneIntensity(z, intensity_g_per_kwh=v, provenance={"source": "stated", "via": "--intensity"})
        for z, v in stated.items()
    }

    from carbontrail.errors import GridError
    from carbontrail.registry.grid_intensity import grid_zone_intensity

    def lookup(zone: str) -> ZoneIntensity:
        if zone in zones:
            return zones[zone]
        try:
            zones[zone] = grid_zone_intensity(zone, hourly=hourly)
            return zones[zone]
        except GridError:
            pass
        if s.intensity_g_per_kwh is not None:
            return ZoneIntensity(
                zone,
                intensity_g_per_kwh=s.intensity_g_per_kwh,
                provenance={"source": "stated", "via": "settings.intensity_g_per_kwh"},
            )
        raise RegistryError(f"no grid intensity for serving zone {zone!r}: pass --intensity {zone}=G_PER_KWH")

    return Gate(Registry(ledger, audit=audit), policy, audit, lookup)


def _print_request(r: Any) -> None:
    colour = {"approved": "green", "pending-approval": "yellow"}.get(r.status, "red")
    err.print(
        f"request {r.request_id} for deployment {r.deployment_id}: [{colour}]{r.status}[/{colour}] "
        f"(policy outcome {r.decision['outcome']}, submitter {r.submitter})"
    )
    fp = r.input.get("footprint", {})
    if fp:
        err.print(
            f"  projected {fp['annual_g'] / 1e6:.2f} tCO2e/yr ±{fp['uncertainty_rel'] * 100:.0f}%, "
            f"{fp['sci_g_per_1k']:.3f} gCO2e per 1000 predictions"
        )
    t = Table()
    for c in ("rule", "severity", "status", "message"):
        t.add_column(c)
    for rr in r.decision["rules"]:
        t.add_row(rr["rule_id"], rr["severity"], rr["status"], rr["message"] or "")
    err.print(t)
    d = r.detail
    err.print(f"  approvals {d['approvals']} (quorum {d['quorum']}), overrides {d['overrides']}, vetoes {d['vetoes']}")
    for x in d["ignored"]:
        err.print(f"  [dim]not counted: {x}[/dim]")


def _emit(r: Any, json_out: bool) -> None:
    if json_out:
        print_json(r.to_dict())
    else:
        _print_request(r)


@app.command("create")
def create(
    model: str = typer.Argument(...),
    version: int = typer.Argument(...),
    environment: str = typer.Option(..., "--env"),
    zone: list[str] = typer.Option(..., "--zone", help="ZONE=SHARE of traffic (repeat; shares sum to 1)"),
    traffic_per_day: float = typer.Option(..., "--traffic-per-day", help="predictions per day"),
    horizon_days: float = typer.Option(None, "--horizon-days", help="default 365, or start to retirement"),
    retrain_every_days: float = typer.Option(None, "--retrain-every-days"),
    pue: float = typer.Option(1.0, "--pue"),
    team: str = typer.Option(None, "--team"),
    start_at: str = typer.Option(None, "--start-at", help="ISO-8601 with a UTC offset, e.g. 2026-04-01T00:00Z"),
    retire_at: str = typer.Option(
        None, "--retire-at", help="ISO-8601; sets the horizon when --horizon-days is not given"
    ),
    actor: str = typer.Option("", "--as", envvar="CARBONTRAIL_USER"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Describe a deployment of a registered version (state `draft`)."""
    from carbontrail.cli.audit import open_audit
    from carbontrail.registry import DeploymentSpec, Registry

    with cli_errors():
        start, retire = _when(start_at, "--start-at"), _when(retire_at, "--retire-at")
        if start and retire and horizon_days is None:
            horizon_days = (retire - start).total_seconds() / 86400.0
        spec = DeploymentSpec(
            environment,
            parse_pairs(zone, "--zone"),
            traffic_per_day,
            horizon_days=365.0 if horizon_days is None else horizon_days,
            retrain_every_days=retrain_every_days,
            pue=pue,
            team=team,
            start_at=start,
            retire_at=retire,
        )
        audit = open_audit(None)
        dep = Registry(audit.ledger, audit=audit).create_deployment(model, version, spec, by=actor)
        if json_out:
            print_json(dep.to_dict())
        else:
            err.print(f"deployment {dep.deployment_id}: {model} v{version} -> {environment} {spec.zones}")


@app.command("update")
def update(
    deployment_id: str = typer.Argument(...),
    zone: list[str] = typer.Option([], "--zone", help="ZONE=SHARE (replaces all zones)"),
    traffic_per_day: float = typer.Option(None, "--traffic-per-day"),
    retrain_every_days: float = typer.Option(None, "--retrain-every-days"),
    no_retraining: bool = typer.Option(False, "--no-retraining"),
    horizon_days: float = typer.Option(None, "--horizon-days"),
    actor: str = typer.Option("", "--as", envvar="CARBONTRAIL_USER"),
) -> None:
    """Change a deployment's zones, traffic or retraining cadence (then request again)."""
    from dataclasses import replace

    from carbontrail.cli.audit import open_audit
    from carbontrail.registry import Registry

    with cli_errors():
        audit = open_audit(None)
        reg = Registry(audit.ledger, audit=audit)
        spec = reg.deployment(deployment_id).spec
        changes: dict[str, Any] = {}
        if zone:
            changes["zones"] = parse_pairs(zone, "--zone")
        if traffic_per_day is not None:
            changes["traffic_per_day"] = traffic_per_day
        if retrain_every_days is not None:
            changes["retrain_every_days"] = retrain_every_days
        if no_retraining:
            changes["retrain_every_days"] = None
        if horizon_days is not None:
            changes["horizon_days"] = horizon_days
        dep = reg.update_deployment(deployment_id, replace(spec, **changes), by=actor)
        err.print(f"deployment {dep.deployment_id} updated: {dep.spec.to_dict()}")


@app.command("request")
def request(
    deployment_id: str = typer.Argument(...),
    actor: str = AS_OPT,
    policy: Path = POLICY_OPT,
    intensity: list[str] = INTENSITY_OPT,
    hourly: bool = HOURLY_OPT,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Submit a deployment to the gate; evaluated at once (exit 5 when vetoed)."""
    with cli_errors():
        r = open_gate(policy, intensity, hourly=hourly).request(deployment_id, submitter=actor)
        _emit(r, json_out)
        if r.status == "vetoed":
            raise typer.Exit(EXIT_POLICY_DENIED)


@app.command("approve")
def approve(
    request_id: str, actor: str = AS_OPT, policy: Path = POLICY_OPT, json_out: bool = typer.Option(False, "--json")
) -> None:
    """Approve a request as it stands (bound to its input and policy digests)."""
    with cli_errors():
        _emit(open_gate(policy, ()).approve(request_id, actor), json_out)


@app.command("veto")
def veto(
    request_id: str,
    reason: str = typer.Option(..., "--reason"),
    actor: str = AS_OPT,
    policy: Path = POLICY_OPT,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Reject a request (one committee member suffices)."""
    with cli_errors():
        _emit(open_gate(policy, ()).veto(request_id, actor, reason), json_out)


@app.command("override")
def override(
    request_id: str,
    justification: str = typer.Option(..., "--justification"),
    actor: str = AS_OPT,
    policy: Path = POLICY_OPT,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """One of two members needed to override a policy veto, with a written justification."""
    with cli_errors():
        _emit(open_gate(policy, ()).override(request_id, actor, justification), json_out)


@app.command("status")
def status(request_id: str, policy: Path = POLICY_OPT, json_out: bool = typer.Option(False, "--json")) -> None:
    """A request's status now (approvals may have expired)."""
    with cli_errors():
        _emit(open_gate(policy, ()).status(request_id), json_out)


@app.command("reevaluate")
def reevaluate(
    request_id: str,
    policy: Path = POLICY_OPT,
    intensity: list[str] = INTENSITY_OPT,
    hourly: bool = HOURLY_OPT,
    actor: str = typer.Option("system", "--as", envvar="CARBONTRAIL_USER"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Re-evaluate with current factors and traffic; approvals of a changed input stop counting."""
    with cli_errors():
        _emit(open_gate(policy, intensity, hourly=hourly).reevaluate(request_id, by=actor), json_out)


@app.command("member-add")
def member_add(
    name: str,
    role: str = typer.Argument(..., help="submitter | member | admin"),
    actor: str = typer.Option(None, "--as", envvar="CARBONTRAIL_USER"),
) -> None:
    """Add a person with a role (an admin acts; the very first person must be an admin)."""
    from carbontrail.cli.audit import open_audit
    from carbontrail.registry import Gate, Registry

    with cli_errors():
        audit = open_audit(None)
        gate = Gate(Registry(audit.ledger, audit=audit), None, audit, {})  # type: ignore[arg-type]
        gate.add_member(name, role, by=actor)
        err.print(f"{name}: {role}")


@app.command("members")
def members(json_out: bool = typer.Option(False, "--json")) -> None:
    """People and roles."""
    from carbontrail.registry.tables import gov_members

    with cli_errors():
        ledger = open_ledger()
        with ledger.engine.connect() as conn:
            rows = [{"name": r.name, "role": r.role} for r in conn.execute(gov_members.select())]
        if json_out:
            print_json(rows)
        else:
            for r in rows:
                err.print(f"{r['name']}: {r['role']}")
