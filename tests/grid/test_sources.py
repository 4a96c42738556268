"""Zones, annual factors, series, the fallback chain, and the source contract on every implementation."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from carbontrail.config import load_settings
from carbontrail.errors import GridError, ProviderError, UnknownZoneError
from carbontrail.grid import zones
from carbontrail.grid.providers import UKCarbonIntensity
from carbontrail.grid.sources import FallbackChain, SeriesSource, StaticFactors
from carbontrail.testing import FakeIntensitySource, IntensitySourceContract
from carbontrail.units import lbs_per_mwh_to_g_per_kwh

T22 = datetime(2022, 7, 1, tzinfo=UTC).timestamp()
T26 = datetime(2026, 7, 1, tzinfo=UTC).timestamp()


# -- zones --------------------------------------------------------------------------------------
def test_zone_kinds_and_aliases():
    assert zones.lookup("deu").zone_id == "DE"
    assert zones.lookup("US-CA").kind == "us-state"
    assert zones.lookup("US-DE").name.startswith("Delaware")  # not Germany
    assert zones.lookup("ERCOT").zone_id == "ERCO"
    assert zones.lookup("US-MIDA-PJM").zone_id == "PJM"
    assert zones.lookup("GB-R13").parent == "GB"
    kinds = {z.kind for z in zones.all_zones()}
    assert kinds == {"country", "us-state", "balancing-authority", "uk-region"}
    assert sum(z.kind == "country" for z in zones.all_zones()) == 213


def test_cloud_regions_resolve_with_a_source_per_row():
    assert zones.lookup("aws:eu-central-1").zone_id == "DE"
    assert zones.lookup("gcp:us-central1").zone_id == "US-IA"
    assert zones.lookup("Azure:WestEurope").zone_id == "NL"
    rows = zones.cloud_regions()
    assert {r.provider for r in rows} == {"aws", "gcp", "azure"}
    assert all(sum(r.provider == p for r in rows) >= 25 for p in ("aws", "gcp", "azure"))
    for r in rows:
        assert r.source.startswith("https://") and r.basis.startswith("region located in")
        zones.lookup(r.zone)  # every target zone is known
    assert len({r.key for r in rows}) == len(rows)


def test_unknown_zones_suggest_close_matches():
    with pytest.raises(UnknownZoneError, match=r"did you mean.*aws:eu-central-1"):
        zones.lookup("aws:eu-centrl-1")
    with pytest.raises(UnknownZoneError, match=r"did you mean.*DE"):
        zones.lookup("DEX")
    with pytest.raises(UnknownZoneError, match="cloud provider"):
        zones.lookup("oracle:eu-1")


def test_zone_resolution_order_and_no_guessing():
    s = load_settings(environ={"CARBONTRAIL_ZONE": "aws:us-west-2"})
    assert zones.resolve_zone(settings=s).zone_id == "US-OR"
    assert zones.resolve_zone("FR", settings=s).zone_id == "FR"  # explicit wins
    assert zones.resolve_zone(settings=load_settings(environ={})) is None  # nothing stated: no zone


def test_search():
    zs, regions = zones.search("frankfurt")
    assert {r.key for r in regions} >= {"aws:eu-central-1", "gcp:europe-west3", "azure:germanywestcentral"}
    zs, _ = zones.search("california")
    assert {z.zone_id for z in zs} >= {"US-CA", "CISO"}


# -- annual factors -----------------------------------------------------------------------------
def test_static_factors_rows_carry_year_and_source():
    sf = StaticFactors()
    de = sf.latest("DE", T26)
    assert de.provenance.vintage in ("2022", "2023") and "Ember" in de.provenance.dataset
    assert de.provenance.basis == "lifecycle" and de.provenance.resolution_s == 365 * 86400
    ca = sf.latest("US-CA", T26)
    assert ca.intensity_g_per_kwh == pytest.approx(lbs_per_mwh_to_g_per_kwh(394.769))
    assert ca.provenance.basis == "direct" and "eGRID2023" in ca.provenance.dataset
    ciso = sf.latest("CISO", T26)
    assert ciso.intensity_g_per_kwh == pytest.approx(float(np.mean(SeriesSource().series_for("CISO").values_g_per_kwh)))
    london = sf.latest("GB-R13", T26)
    assert london.intensity_g_per_kwh == sf.latest("GB", T26).intensity_g_per_kwh
    assert "used GB's" in london.provenance.fallbacks[0]


def test_static_factors_give_a_constant_series_over_any_window():
    s = StaticFactors().history("FR", T26 + 1234, T26 + 10 * 86400)
    assert s.start_s <= T26 + 1234 and s.end_s >= T26 + 10 * 86400
    assert np.all(s.values_g_per_kwh == s.values_g_per_kwh[0])


# -- series -------------------------------------------------------------------------------------
def test_series_source_refuses_windows_outside_the_data_unless_replaying():
    with pytest.raises(GridError, match="covers 2022"):
        SeriesSource().history("CISO", T26, T26 + 3600)
    replay = SeriesSource(replay=True)
    s = replay.history("CISO", T26, T26 + 6 * 3600)
    assert s.start_s == T26 and len(s) == 6 and s.provenance.estimated
    assert "replayed -208 weeks" in s.provenance.dataset
    orig = SeriesSource().history("CISO", T26 - 208 * 7 * 86400, T26 - 208 * 7 * 86400 + 6 * 3600)
    assert np.array_equal(s.values_g_per_kwh, orig.values_g_per_kwh)
    # same weekday and hour
    assert (
        datetime.fromtimestamp(T26 - 208 * 7 * 86400, tz=UTC).weekday() == datetime.fromtimestamp(T26, tz=UTC).weekday()
    )


def test_user_series_file_works_like_a_zone_series(tmp_path):
    p = tmp_path / "site.csv"
    p.write_text("timestamp,intensity\n" + "\n".join(f"{T26 + 3600 * i},{100 + i}" for i in range(48)))
    src = SeriesSource()
    src.add_file(p, time_column="timestamp", value_column="intensity", unit="g/kWh", zone="DE")
    s = src.history("DEU", T26 + 3600, T26 + 7200)
    assert s.values_g_per_kwh.tolist() == [101.0]
    assert "DE" in src.zones()


# -- fallback chain -----------------------------------------------------------------------------
def test_chain_records_every_fallback_and_never_raises_while_one_source_answers():
    down = FakeIntensitySource(fail=ProviderError("electricitymaps: server error 503"), live=True, name="live")
    chain = FallbackChain([down, SeriesSource(), StaticFactors()])
    s = chain.history("CISO", T26, T26 + 3600)
    assert s.provenance.source == "static-factors"
    assert s.provenance.fallbacks[0].startswith("live: ProviderError: electricitymaps: server error 503")
    assert s.provenance.fallbacks[1].startswith("series: GridError: the CISO series")
    s22 = chain.history("CISO", T22, T22 + 3600)
    assert s22.provenance.source == "series" and len(s22.provenance.fallbacks) == 1
    assert "skipped: failed" in s22.provenance.fallbacks[0]  # cooling down: not called again
    assert len(down.calls) == 1


def test_chain_survives_a_buggy_provider_and_reports_total_failure():
    buggy = FakeIntensitySource(fail=ZeroDivisionError("bug"), live=True, name="buggy")
    chain = FallbackChain([buggy, StaticFactors()], cooldown_s=0)
    assert chain.latest("FR", T26).provenance.fallbacks == ("buggy: ZeroDivisionError: bug",)
    with pytest.raises(GridError, match="no source could give history for NOWHERE"):
        FallbackChain([buggy, SeriesSource()]).history("NOWHERE", T26, T26 + 60)


def test_chain_forecast_falls_back_past_sources_without_one():
    chain = FallbackChain([StaticFactors(), FakeIntensitySource(42.0)])
    fc = chain.forecast("DE", T26, 3600)
    assert fc.values_g_per_kwh[0] == 42.0
    assert fc.provenance.fallbacks == ("static-factors: NotImplementedError: static-factors has no forecast",)
    assert chain.supports_forecast


def test_chain_with_a_real_provider_that_is_down():
    def handler(request):
        return httpx.Response(503, text="down")

    uk = UKCarbonIntensity(base_url="https://uk.test", transport=httpx.MockTransport(handler), sleep=lambda s: None)
    chain = FallbackChain([uk, SeriesSource(), StaticFactors()])
    s = chain.history("GB", datetime(2020, 5, 1, tzinfo=UTC).timestamp(), datetime(2020, 5, 2, tzinfo=UTC).timestamp())
    assert s.provenance.source == "series" and "Let's Wait Awhile" in s.provenance.dataset
    assert s.provenance.fallbacks[0].startswith(
        "uk-carbon-intensity: ProviderError: uk-carbon-intensity: server error 503"
    )


# -- the contract on every implementation -------------------------------------------------------
class TestStaticFactorsContract(IntensitySourceContract):
    @pytest.fixture
    def source(self):
        return StaticFactors()

    @pytest.fixture
    def served(self):
        return ("aws:eu-west-3", T26, T26 + 7200)


class TestSeriesContract(IntensitySourceContract):
    @pytest.fixture
    def source(self):
        return SeriesSource()

    @pytest.fixture
    def served(self):
        return ("US-CAL-CISO", T22, T22 + 7200)


class TestFakeContract(IntensitySourceContract):
    @pytest.fixture
    def source(self):
        return FakeIntensitySource(lambda z, t: 100 + (t % 86400) / 3600, zones=("DE",))

    @pytest.fixture
    def served(self):
        return ("DE", T26, T26 + 7200)


class TestChainContract(IntensitySourceContract):
    @pytest.fixture
    def source(self):
        down = FakeIntensitySource(fail=ProviderError("down"), live=True)
        return FallbackChain([down, StaticFactors(), FakeIntensitySource(50.0, zones=("FR",))])

    @pytest.fixture
    def served(self):
        return ("FR", T26, T26 + 7200)
