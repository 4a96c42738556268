"""Time-resolved attribution: properties, PUE, labels, snapshots, and the ingestion attributor."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from carbontrail.config import load_settings
from carbontrail.errors import ConfigError, GridError
from carbontrail.grid.attribute import (
    Attributor,
    Emissions,
    attribute_span,
    default_chain,
    make_attributor,
    parse_series_spec,
    split_energy,
    total_emissions,
)
from carbontrail.grid.series import IntensitySeries
from carbontrail.grid.sources import FallbackChain, SeriesSource, StaticFactors
from carbontrail.ledger.schema import factor_snapshots
from carbontrail.provenance import IntensityProvenance
from carbontrail.span import SpanRecord
from carbontrail.testing import FakeIntensitySource
from carbontrail.units import emissions_g

T22 = datetime(2022, 7, 1, tzinfo=UTC).timestamp()
T26 = datetime(2026, 7, 1, tzinfo=UTC).timestamp()


def span(start_s, duration_s, energy_j, *, zone=None, bucket_s=300.0, buckets=None):
    return SpanRecord(
        span_id=uuid.uuid4().hex,
        run_id="r",
        name="step",
        kind="train",
        started_at=datetime.fromtimestamp(start_s, tz=UTC),
        ended_at=datetime.fromtimestamp(start_s + duration_s, tz=UTC),
        duration_s=duration_s,
        energy_j=energy_j,
        components=[],
        buckets=split_energy(start_s, start_s + duration_s, energy_j, bucket_s) if buckets is None else buckets,
        zone=zone,
    )


def constant(value, start=T26 - 86400 * 3, n=24 * 7, step=3600.0):
    prov = IntensityProvenance(zone="X", source="fake", dataset="d", vintage="v", resolution_s=step)
    return IntensitySeries(start, step, np.full(n, float(value)), prov)


# -- properties ---------------------------------------------------------------------------------
starts = st.floats(min_value=T26 - 86400, max_value=T26 + 86400, allow_nan=False)
durations = st.floats(min_value=0.0, max_value=86400.0, allow_nan=False)
energies = st.floats(min_value=0.0, max_value=1e9, allow_nan=False)
bucket_widths = st.sampled_from([60.0, 300.0, 900.0, 3600.0])


@settings(max_examples=150, deadline=None)
@given(starts, durations, energies, bucket_widths)
def test_bucketing_conserves_energy(start, duration, energy, bucket_s):
    bks = split_energy(start, start + duration, energy, bucket_s)
    assert math.fsum(e for _, e in bks) == pytest.approx(energy, rel=1e-12, abs=1e-9)
    assert all(b % bucket_s == 0 for b, _ in bks)
    # attribution sees exactly that energy, bucket by bucket
    profile = FakeIntensitySource(lambda z, t: 50 + (t % 86400) / 100.0, step_s=900.0)
    s = span(start, duration, energy, bucket_s=bucket_s)
    series = profile.history("DE", start - 86400, start + duration + 86400)
    out = attribute_span(s, series, bucket_s=bucket_s)
    attributed = out.provenance["buckets_intensity_g_per_kwh"]
    assert math.fsum(e for _, e, _ in attributed) == pytest.approx(energy, rel=1e-12, abs=1e-9)
    assert out.emissions_g == pytest.approx(math.fsum(emissions_g(e, i) for _, e, i in attributed), rel=1e-9, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(starts, durations, energies, bucket_widths, st.floats(min_value=0, max_value=2000, allow_nan=False))
def test_constant_signal_gives_energy_times_factor_exactly(start, duration, energy, bucket_s, factor):
    s = span(start, duration, energy, bucket_s=bucket_s)
    out = attribute_span(s, constant(factor), bucket_s=bucket_s)
    assert out.emissions_g == emissions_g(energy, factor)  # bit for bit
    if energy > 0:
        assert out.intensity_g_per_kwh == pytest.approx(factor, rel=1e-12)


def test_buckets_follow_the_hourly_signal():
    prov = IntensityProvenance(zone="X", source="fake", dataset="d", vintage="v")
    series = IntensitySeries(T26, 3600.0, np.array([100.0, 300.0]), prov)
    s = span(T26 + 1800, 3600, 3.6e6)  # 1 kWh spread over half an hour at 100 and half at 300
    out = attribute_span(s, series, bucket_s=300.0)
    assert out.emissions_g == pytest.approx(200.0)
    assert out.intensity_g_per_kwh == pytest.approx(200.0)
    # a bucket straddling two intervals gets the time-weighted mean
    s2 = span(T26 + 3000, 1200, 3.6e6, bucket_s=3600.0)
    out2 = attribute_span(s2, series, bucket_s=3600.0)
    assert out2.emissions_g == pytest.approx(0.5 * 100 + 0.5 * 300)


def test_pue_is_applied_and_stated():
    s = span(T26, 600, 3.6e6)
    out = attribute_span(s, constant(200), bucket_s=300.0, pue=1.5, pue_source="site survey 2025")
    assert out.emissions_g == pytest.approx(300.0)
    assert out.intensity_g_per_kwh == pytest.approx(200.0)  # grid intensity, PUE not folded in
    assert out.provenance["pue"] == 1.5 and out.provenance["pue_source"] == "site survey 2025"
    default = attribute_span(s, constant(200), bucket_s=300.0)
    assert default.provenance["pue"] == 1.0 and "default 1.0" in default.provenance["pue_source"]
    with pytest.raises(GridError, match="PUE"):
        attribute_span(s, constant(200), bucket_s=300.0, pue=0.9)


def test_buckets_that_do_not_add_up_are_rescaled_and_said_so():
    s = span(T26, 600, 1000.0, buckets=[(T26, 300.0), (T26 + 300, 300.0)])
    out = attribute_span(s, constant(100), bucket_s=300.0)
    assert out.emissions_g == emissions_g(1000.0, 100)
    assert out.provenance["buckets_rescaled_by"] == pytest.approx(1000 / 600)


# -- labels never mixed silently ----------------------------------------------------------------
def test_emissions_of_different_kinds_refuse_to_add():
    a = Emissions(10.0, "average", "lifecycle")
    assert (a + Emissions(5.0, "average", "lifecycle")).emissions_g == 15.0
    with pytest.raises(GridError, match="refusing to add average/lifecycle and marginal/direct"):
        a + Emissions(5.0, "marginal", "direct")
    with pytest.raises(GridError, match="refusing"):
        a + Emissions(5.0, "average", "direct")


def test_total_emissions_groups_or_refuses():
    avg = FakeIntensitySource(100.0)
    moer = FakeIntensitySource(400.0, signal="marginal", basis="direct")
    s1 = attribute_span(span(T26, 600, 3.6e6), avg.history("X", T26 - 3600, T26 + 7200), bucket_s=300.0)
    s2 = attribute_span(span(T26, 600, 3.6e6), moer.history("X", T26 - 3600, T26 + 7200), bucket_s=300.0)
    assert total_emissions([s1, s1]).emissions_g == pytest.approx(200.0)
    with pytest.raises(GridError, match="mix emission kinds"):
        total_emissions([s1, s2])
    assert total_emissions([s1, s2], by_kind=True) == {
        ("average", "lifecycle"): pytest.approx(100.0),
        ("marginal", "direct"): pytest.approx(400.0),
    }


# -- the ingestion attributor -------------------------------------------------------------------
def test_spans_without_zone_or_factor_are_left_alone():
    s = span(T26, 600, 1000.0)
    out = make_attributor(load_settings(environ={}))([s])
    assert out[0] is s and out[0].emissions_g is None


def test_stated_factor_is_used_and_labelled():
    out = make_attributor(load_settings(environ={}, intensity_g_per_kwh=250))([span(T26, 600, 3.6e6)])
    assert out[0].emissions_g == pytest.approx(250.0)
    assert out[0].provenance["source"] == "stated" and "assumed" in out[0].provenance["dataset"]


def test_zone_from_span_then_settings_and_the_same_job_at_two_hours():
    attr = make_attributor(load_settings(environ={"CARBONTRAIL_ZONE": "CISO"}))
    night = span(datetime(2022, 7, 1, 4, tzinfo=UTC).timestamp(), 3600, 3.6e6)  # 21:00 in California
    noon = span(datetime(2022, 7, 1, 20, tzinfo=UTC).timestamp(), 3600, 3.6e6)  # 13:00, solar peak
    fr = span(T22, 3600, 3.6e6, zone="azure:francecentral")
    a, b, c = attr([night, noon, fr])
    assert a.provenance["source"] == b.provenance["source"] == "series"
    assert a.provenance["vintage"] == "2022" and "EIA-930" in a.provenance["dataset"]
    ciso = SeriesSource().series_for("CISO")
    assert a.emissions_g == pytest.approx(ciso.value_at(night.started_at.timestamp()))
    assert b.emissions_g == pytest.approx(ciso.value_at(noon.started_at.timestamp()))
    assert a.emissions_g > 1.3 * b.emissions_g  # the solar trough shows
    assert c.provenance["zone"] == "FR" and c.provenance["zone_requested"] == "azure:francecentral"
    assert c.provenance["source"] == "static-factors"  # the FR series covers 2020 only: a recorded fallback
    assert c.provenance["fallbacks"][0].startswith("series: GridError")


def test_an_old_span_does_not_drag_a_batch_onto_the_fallback():
    attr = make_attributor(load_settings(environ={}, zone="PJM"))
    out = attr([span(T22, 600, 1e6), span(T26, 600, 1e6)])
    assert [o.provenance["source"] for o in out] == ["series", "static-factors"]


def test_unknown_zone_leaves_the_span_unattributed(caplog):
    s = span(T26, 600, 1000.0, zone="atlantis")
    assert make_attributor(load_settings(environ={}))([s])[0].emissions_g is None
    assert "unknown zone 'atlantis'" in caplog.text


def test_a_tracked_job_never_fails_because_a_provider_did():
    """Every live provider configured and every one failing: emissions still come, fallbacks recorded."""

    def down(request):
        raise httpx.ConnectError("network unreachable")

    s = load_settings(
        environ={},
        zone="GB",
        grid_providers="electricitymaps,uk-carbon-intensity,watttime",
        electricitymaps_token="k",
        watttime_username="u",
        watttime_password="p",
    )
    from carbontrail.grid.attribute import live_sources

    live = live_sources(s, transport=httpx.MockTransport(down), sleep=lambda x: None, retries=1)
    attr = Attributor(s, chain_for=lambda z: default_chain(s, zone=z, live=live))
    old, new = attr([span(datetime(2020, 6, 1, tzinfo=UTC).timestamp(), 600, 3.6e6), span(T26, 600, 3.6e6)])
    assert all(o.emissions_g is not None and o.emissions_g > 0 for o in (old, new))
    fb = old.provenance["fallbacks"]
    assert [f.split(":")[0] for f in fb] == ["electricitymaps", "uk-carbon-intensity", "watttime"]
    assert all("connection failed" in f for f in fb)
    assert old.provenance["source"] == "series"  # the bundled GB 2020 series
    fb = new.provenance["fallbacks"]
    assert [f.split(":")[0] for f in fb] == ["electricitymaps", "uk-carbon-intensity", "watttime", "series"]
    assert all("skipped: failed" in f for f in fb[:3])  # providers in cooldown: no second timeout
    assert new.provenance["source"] == "static-factors"


def test_misconfigured_provider_is_recorded_not_raised():
    s = load_settings(environ={}, zone="DE", grid_providers="electricitymaps")  # no token
    out = make_attributor(s)([span(T26, 600, 3.6e6)])
    assert out[0].provenance["fallbacks"][0].startswith("electricitymaps: GridError: Electricity Maps needs")


def test_snapshots_are_stored_once_and_recompute_the_number(ledger):
    attr = make_attributor(load_settings(environ={}, zone="ERCO"), ledger)
    s = span(datetime(2022, 3, 3, 10, 17, tzinfo=UTC).timestamp(), 5000, 7.2e6)
    first = attr([s])[0]
    again = make_attributor(load_settings(environ={}, zone="ERCO"), ledger)([s])[0]
    sid = first.provenance["snapshot_id"]
    assert sid and again.provenance["snapshot_id"] == sid
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(factor_snapshots)).mappings().all()
    assert len(rows) == 1 and rows[0]["snapshot_id"] == sid and rows[0]["zone"] == "ERCO"
    # recompute from the stored data and the span's buckets alone
    points = {t: v for t, v in rows[0]["data"]}
    recomputed = math.fsum(
        emissions_g(e, points[math.floor(b / 3600) * 3600])
        for b, e, _ in first.provenance["buckets_intensity_g_per_kwh"]
    )
    assert recomputed == pytest.approx(first.emissions_g, rel=1e-12)
    # an annual factor is stored as a single value
    fr = make_attributor(load_settings(environ={}, zone="FR"), ledger)([span(T26, 600, 1e6)])[0]
    with ledger.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(factor_snapshots).where(factor_snapshots.c.snapshot_id == fr.provenance["snapshot_id"])
            )
            .mappings()
            .one()
        )
    assert row["data"] == {"value": fr.intensity_g_per_kwh} and row["source"] == "static-factors"


def test_attributed_spans_round_trip_through_the_ledger(ledger):
    attr = make_attributor(load_settings(environ={}, zone="DE"), ledger)
    s = span(datetime(2020, 2, 2, 2, tzinfo=UTC).timestamp(), 1800, 5e5)
    ledger.add_spans([s])
    ledger.update_emissions(attr([s]))
    back = ledger.span(s.span_id)
    assert back.emissions_g is not None and back.provenance["source"] == "series"
    assert IntensityProvenance.from_dict(back.provenance).zone == "DE"


# -- user series via settings -------------------------------------------------------------------
def test_series_spec(tmp_path):
    p = tmp_path / "site.csv"
    p.write_text("ts,moer\n" + "\n".join(f"{T26 + 300 * i},{1000}" for i in range(24)))
    path, kw = parse_series_spec(f"{p}?unit=lbs/MWh&time=ts&value=moer&signal=marginal&basis=direct")
    assert path == p and kw["unit"] == "lbs/MWh" and kw["signal"] == "marginal"
    s = load_settings(environ={}, zone="US-CA", grid_series=f"{p}?unit=lbs/MWh&time=ts&value=moer&signal=marginal")
    out = make_attributor(s)([span(T26, 600, 3.6e6)])[0]
    assert out.provenance["source"] == "series" and out.provenance["signal"] == "marginal"
    assert out.emissions_g == pytest.approx(453.59237)
    with pytest.raises(ConfigError, match="declare the unit"):
        parse_series_spec(str(p))
    with pytest.raises(ConfigError, match="unknown keys"):
        parse_series_spec(f"{p}?unit=g/kWh&colour=red")


def test_default_chain_is_offline_by_default():
    chain = default_chain(load_settings(environ={}))
    assert isinstance(chain, FallbackChain)
    assert [type(s) for s in chain.sources] == [SeriesSource, StaticFactors]


def test_bucket_width_is_read_from_the_span():
    # recorded with 60 s buckets, attributed under the default 300 s setting
    t = datetime(2022, 7, 1, 4, tzinfo=UTC).timestamp()
    s = span(t + 3540, 120, 7.2e6, bucket_s=60.0, zone="CISO")  # one minute in each of two hours
    out = make_attributor(load_settings(environ={}))([s])[0]
    ciso = SeriesSource().series_for("CISO")
    assert out.emissions_g == pytest.approx(ciso.value_at(t + 3540) + ciso.value_at(t + 3600))
    assert out.provenance["bucket_s"] == 60.0
    # and wider buckets than the setting: the window fetched covers the last one
    wide = span(datetime(2022, 7, 1, 4, 30, tzinfo=UTC).timestamp(), 7200, 7.2e6, bucket_s=3600.0, zone="CISO")
    got = make_attributor(load_settings(environ={}))([wide])[0]
    assert got.emissions_g is not None and got.provenance["bucket_s"] == 3600.0


def test_the_same_job_shifted_to_two_hours():
    from carbontrail.grid.attribute import shift_span

    job = span(T26 + 123, 5400, 9e6, zone="CISO")
    attr = make_attributor(load_settings(environ={}))
    a = shift_span(job, datetime(2022, 7, 1, 4, tzinfo=UTC).timestamp(), 300.0)
    b = shift_span(job, datetime(2022, 7, 1, 20, tzinfo=UTC).timestamp(), 300.0)
    assert [e for _, e in a.buckets] == [e for _, e in job.buckets] and a.span_id != job.span_id
    assert a.tags["what_if_shift_s"] and a.energy_j == job.energy_j
    ea, eb = (s.emissions_g for s in attr([a, b]))
    assert ea > 1.5 * eb  # evening gas vs midday solar in California


def test_a_zone_known_only_from_the_users_series(tmp_path):
    p = tmp_path / "plant.csv"
    p.write_text("timestamp,intensity\n" + "\n".join(f"{T26 + 3600 * i},{50 + i}" for i in range(24)))
    s = load_settings(environ={}, zone="ACME-PLANT-7", grid_series=f"{p}?unit=g/kWh")
    out = make_attributor(s)([span(T26 + 3600, 600, 3.6e6)])[0]
    assert out.emissions_g == pytest.approx(51.0) and out.provenance["zone"] == "ACME-PLANT-7"
    other = make_attributor(s)([span(T26, 600, 3.6e6, zone="ACME-PLANT-8")])[0]
    assert other.emissions_g is None  # unknown and no series: left alone, logged
