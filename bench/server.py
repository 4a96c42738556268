"""Service benchmark: p50/p99 latency and throughput of ingest and gate decisions at 50 concurrent clients.

Starts ``carbontrail serve`` as a real process on loopback over a fresh ledger (SQLite by default,
``--pg`` for PostgreSQL), seeds a model, a committee, the example policy and a deployment, then runs
50 concurrent HTTP clients (asyncio + httpx, one connection each) against:

* ``POST /api/v1/spans`` — batches of ``--batch`` spans (idempotent ingest, audit entry per batch);
* ``GET /api/v1/deployments/{id}/allowed`` — the CI gate: re-evaluates the deployment's projected
  footprint against the active policy and the committee's approvals;
* ``POST /api/v1/policy/evaluate`` — a bare six-rule policy decision on a stored input.

Baselines, measured side by side in the same run: the same work in-process without HTTP
(``Ledger.add_spans`` for the same batches; ``Gate.allowed`` and ``Policy.evaluate`` called directly,
sequentially). Medians of ``--repeats`` rounds are printed. Client and server share the machine's cores.

    PYTHONPATH=src python bench/server.py [--clients 50] [--requests 20] [--batch 20] [--pg]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from carbontrail.ledger import Ledger  # noqa: E402
from carbontrail.provenance import ComponentEnergy  # noqa: E402
from carbontrail.span import SpanRecord  # noqa: E402

POLICY = ROOT / "examples" / "policies" / "deploy-carbon.yaml"
NOW = datetime.now(UTC)


def make_span(energy_j: float = 3600.0, *, model: str = "bench", kind: str = "train") -> SpanRecord:
    t = NOW - timedelta(minutes=5)
    return SpanRecord(
        span_id=uuid.uuid4().hex,
        run_id="bench",
        name="step",
        kind=kind,
        started_at=t,
        ended_at=t + timedelta(seconds=10),
        duration_s=10.0,
        energy_j=energy_j,
        components=[ComponentEnergy("cpu:package-0", energy_j, "rapl", 0.05)],
        buckets=[(t.timestamp() // 300 * 300, energy_j)],
        zone="DE",
        model=model,
        emissions_g=energy_j / 3.6e6 * 380.0,
        intensity_g_per_kwh=380.0,
        provenance={"snapshot_id": "bench", "zone": "DE", "uncertainty_rel": 0.1},
    )


def seed(url: str, home: Path) -> tuple[dict[str, str], str, dict]:
    """Tokens, a model with a carbon card, a committee, the example policy and an approved deployment."""
    from carbontrail.audit import AuditLog, load_or_create_key
    from carbontrail.audit.keys import KEY_FILE
    from carbontrail.policy import Policy
    from carbontrail.registry import DeploymentSpec, Gate, Registry, ZoneIntensity
    from carbontrail.server.auth import TokenStore

    led = Ledger.open(url)
    store = TokenStore(led)
    tokens = {r: store.create(f"{r}-user", r)[0] for r in ("ingest", "viewer", "admin")}
    audit = AuditLog(led, signing_key=load_or_create_key(home / KEY_FILE))
    reg = Registry(led, audit=audit)
    train = [make_span(3.6e8, model="resnet-lite") for _ in range(2)]
    led.add_spans(train)
    reg.register_model("resnet-lite", team="vision")
    mv = reg.register_version("resnet-lite", lineage={"training": [s.span_id for s in train]})
    reg.set_inference("resnet-lite", mv.version, {"measured": True, "energy_j_per_1k": 720.0, "uncertainty_rel": 0.1})
    policy = Policy.load(POLICY)
    from carbontrail.grid.sources import StaticFactors

    prov = StaticFactors().provenance("FR")
    zones = {"FR": ZoneIntensity("FR", intensity_g_per_kwh=prov.intensity_g_per_kwh, provenance=prov.to_dict())}
    gate = Gate(reg, policy, audit, zones)
    gate.add_member("admin-user", "admin")
    gate.add_member("sub", "submitter", by="admin-user")
    gate.activate_policy(by="admin-user")
    spec = DeploymentSpec("production", {"FR": 1.0}, 1e7, horizon_days=365.0, retrain_every_days=30.0)
    dep = reg.create_deployment("resnet-lite", 1, replace(spec), by="sub")
    req = gate.request(dep.deployment_id, submitter="sub")
    led.close()
    return tokens, dep.deployment_id, req.input


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def run_clients(n: int, per_client: int, make_request) -> tuple[list[float], float, int]:
    """``n`` concurrent clients each sending ``per_client`` requests; latencies (s), wall time, errors."""
    lat: list[float] = []
    errors = 0
    start_gate = asyncio.Event()

    async def client(k: int) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=60, limits=limits) as c:
            await start_gate.wait()
            for i in range(per_client):
                t0 = time.perf_counter()
                r = await make_request(c, k, i)
                lat.append(time.perf_counter() - t0)
                if r.status_code >= 300:
                    errors += 1

    tasks = [asyncio.create_task(client(k)) for k in range(n)]
    await asyncio.sleep(0.2)
    t0 = time.perf_counter()
    start_gate.set()
    await asyncio.gather(*tasks)
    return lat, time.perf_counter() - t0, errors


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=20, help="requests per client per round")
    ap.add_argument("--batch", type=int, default=20, help="spans per ingest request")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL ledger (CARBONTRAIL_TEST_PG_URL schema)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ct-bench-"))
    home = tmp / ".carbontrail"
    home.mkdir()
    schema = None
    if args.pg:
        import sqlalchemy as sa

        base = os.environ.get("CARBONTRAIL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
        base = base.replace("postgresql://", "postgresql+psycopg://")
        schema = "ctbench_" + uuid.uuid4().hex[:8]
        admin = sa.create_engine(base)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = f"{base}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp / 'ledger.db'}"
    tokens, dep_id, policy_input = seed(url, home)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CARBONTRAIL_HOME": str(home), "CARBONTRAIL_LEDGER_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbontrail", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base_url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("server did not start: " + (proc.stderr.read().decode() if proc.stderr else ""))

        ing_h = {"Authorization": f"Bearer {tokens['ingest']}"}
        view_h = {"Authorization": f"Bearer {tokens['viewer']}"}

        async def ingest(c, k, i):
            body = {"spans": [make_span().to_dict() for _ in range(args.batch)]}
            return await c.post(f"{base_url}/api/v1/spans", json=body, headers=ing_h)

        async def allowed(c, k, i):
            return await c.get(f"{base_url}/api/v1/deployments/{dep_id}/allowed", headers=view_h)

        async def evaluate(c, k, i):
            return await c.post(f"{base_url}/api/v1/policy/evaluate", json={"input": policy_input}, headers=view_h)

        # in-process baselines
        from carbontrail.config import load_settings
        from carbontrail.server.gov import Governance

        led = Ledger.open(url)
        gov = Governance(load_settings(home=home, ledger_url=url), led, lambda: datetime.now(UTC))
        gate = gov.gate()
        policy = gov.active_policy()

        results: dict[str, dict[str, list[float]]] = {}
        n_req = args.clients * args.requests
        for _ in range(args.repeats):
            for name, fn in (("ingest", ingest), ("gate allowed", allowed), ("policy evaluate", evaluate)):
                lat, wall, errs = asyncio.run(run_clients(args.clients, args.requests, fn))
                if errs:
                    raise SystemExit(f"{name}: {errs} failed requests")
                r = results.setdefault(name, {"p50": [], "p99": [], "rps": [], "base_rps": []})
                r["p50"].append(pct(lat, 0.5))
                r["p99"].append(pct(lat, 0.99))
                r["rps"].append(n_req / wall)
            # baselines: the same number of operations, in process, one after another
            batches = [[make_span() for _ in range(args.batch)] for _ in range(min(n_req, 200))]
            t0 = time.perf_counter()
            for b in batches:
                led.add_spans(b)
            results["ingest"]["base_rps"].append(len(batches) / (time.perf_counter() - t0))
            m = min(n_req, 100)
            t0 = time.perf_counter()
            for _ in range(m):
                gate.allowed(dep_id)
            results["gate allowed"]["base_rps"].append(m / (time.perf_counter() - t0))
            m = min(n_req, 2000)
            t0 = time.perf_counter()
            for _ in range(m):
                policy.evaluate(policy_input)
            results["policy evaluate"]["base_rps"].append(m / (time.perf_counter() - t0))
        led.close()

        print(
            f"carbontrail serve on {'PostgreSQL' if args.pg else 'SQLite'}, {args.clients} concurrent clients, "
            f"{args.requests} requests each per round, {args.batch} spans per ingest request, "
            f"median of {args.repeats} rounds, {os.cpu_count()} CPU(s) shared by clients and server"
        )
        print(
            f"{'operation':<18}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'spans/s':>10}"
            f"{'in-process/s':>14}{'HTTP/in-proc':>14}"
        )
        for name, r in results.items():
            rps = statistics.median(r["rps"])
            base = statistics.median(r["base_rps"])
            spans = rps * args.batch if name == "ingest" else float("nan")
            print(
                f"{name:<18}{statistics.median(r['p50']) * 1e3:>9.1f}{statistics.median(r['p99']) * 1e3:>9.1f}"
                f"{rps:>9.0f}{spans:>10.0f}{base:>14.0f}{rps / base:>14.2f}"
            )
        chk = Ledger.open(url)
        print(f"ledger holds {chk.count_spans()} spans after the run")
        chk.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if schema:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
