"""Live provider clients against recorded fixtures (httpx.MockTransport and a loopback server). No network."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from carbontrail.errors import GridError, ProviderError
from carbontrail.grid.providers import ElectricityMaps, UKCarbonIntensity, WattTime
from carbontrail.testing import IntensitySourceContract
from carbontrail.units import LBS_PER_MWH_TO_G_PER_KWH

FIX = Path(__file__).parent / "fixtures"
T0 = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
NOW = T0 + 86400.0


def fixture(name: str) -> dict:
    return json.loads((FIX / name).read_text())


class Script:
    """Answers requests from a list of (status, body, headers) in order, recording every request."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.responses:
            raise AssertionError(f"unexpected request {request.url}")
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        status, body, headers = (*item, {})[:3] if len(item) == 2 else item
        content = body if isinstance(body, str | bytes) else json.dumps(body)
        return httpx.Response(status, content=content, headers=headers)


class Sleeps(list):
    def __call__(self, s: float) -> None:
        self.append(s)


def make(kind: str, script: Script, sleeps: Sleeps | None = None, **kw):
    common = {
        "transport": kw.pop("transport", None) or httpx.MockTransport(script),
        "sleep": sleeps if sleeps is not None else Sleeps(),
        "clock": lambda: NOW,
        **kw,
    }
    if kind == "electricitymaps":
        return ElectricityMaps("key-123", base_url="https://em.test/v3", **common)
    if kind == "watttime":
        return WattTime("ann", "secret", base_url="https://wt.test", **common)
    return UKCarbonIntensity(base_url="https://uk.test", **common)


LOGIN = (200, {"token": "tok-1"})


def ok_history(kind: str):
    """(zone, start, end, the scripted responses for a successful history call)."""
    if kind == "electricitymaps":
        return "DE", T0, T0 + 86400, [(200, fixture("em_past_range_DE.json"))]
    if kind == "watttime":
        return "CISO", T0, T0 + 3600, [LOGIN, (200, fixture("wt_historical_CAISO_NORTH.json"))]
    return "GB", T0, T0 + 86400, [(200, fixture("uk_intensity_range.json"))]


KINDS = ["electricitymaps", "watttime", "uk-carbon-intensity"]


# -- success ------------------------------------------------------------------------------------
def test_electricitymaps_history_success():
    script = Script((200, fixture("em_past_range_DE.json")))
    em = make("electricitymaps", script)
    s = em.history("DE", T0, T0 + 86400)
    req = script.requests[0]
    assert req.url.path == "/v3/carbon-intensity/past-range"
    assert req.headers["auth-token"] == "key-123"
    assert req.url.params["zone"] == "DE" and req.url.params["emissionFactorType"] == "lifecycle"
    assert len(s) == 24 and s.step_s == 3600 and s.start_s == T0
    assert s.values_g_per_kwh[0] == 300.0
    p = s.provenance
    assert (p.source, p.signal, p.basis, p.zone) == ("electricitymaps", "average", "lifecycle", "DE")
    assert p.estimated is True  # the fixture's last hours are estimated
    assert p.retrieved_at == datetime.fromtimestamp(NOW, tz=UTC) and len(p.data_digest) == 64


def test_electricitymaps_latest_forecast_and_zone_mapping():
    script = Script((200, fixture("em_latest_DE.json")), (200, fixture("em_forecast_DE.json")))
    em = make("electricitymaps", script)
    v = em.latest("aws:eu-central-1", NOW)
    assert v.intensity_g_per_kwh == 302 and v.provenance.zone == "DE" and v.provenance.estimated
    fc = em.forecast("DE", T0, 24 * 3600)
    assert len(fc) == 24 and fc.provenance.estimated
    assert em.em_zone("CISO") == "US-CAL-CISO"
    with pytest.raises(ProviderError, match="no Electricity Maps zone"):
        em.em_zone("US-CA")


def test_watttime_login_history_units_and_signal():
    script = Script(LOGIN, (200, fixture("wt_historical_CAISO_NORTH.json")))
    wt = make("watttime", script)
    s = wt.history("CISO", T0, T0 + 3600)
    login, data = script.requests
    assert login.url.path == "/login" and login.headers["authorization"].startswith("Basic ")
    assert data.url.path == "/v3/historical" and data.headers["authorization"] == "Bearer tok-1"
    assert data.url.params["region"] == "CAISO_NORTH" and data.url.params["signal_type"] == "co2_moer"
    assert s.step_s == 300 and len(s) == 12
    assert s.values_g_per_kwh[0] == pytest.approx(900 * LBS_PER_MWH_TO_G_PER_KWH)
    assert s.provenance.signal == "marginal" and s.provenance.basis == "direct"


def test_watttime_forecast():
    script = Script(LOGIN, (200, fixture("wt_forecast_CAISO_NORTH.json")))
    fc = make("watttime", script).forecast("CISO", T0, 7200)
    assert script.requests[1].url.params["horizon_hours"] == "2"
    assert len(fc) == 24 and fc.provenance.estimated and "generated_at" in fc.provenance.dataset


def test_watttime_past_forecasts_for_back_tests():
    day = fixture("wt_forecast_historical_CAISO_NORTH.json")
    empty = {"data": [], "meta": day["meta"]}
    script = Script(LOGIN, (200, day), (200, empty))
    runs = make("watttime", script).past_forecasts("CISO", T0, T0 + 1.5 * 86400)  # asked a day at a time
    first, second = script.requests[1:]
    assert first.url.path == "/v3/forecast/historical" and first.url.params["region"] == "CAISO_NORTH"
    assert first.url.params["start"].startswith("2024-03-01T00:00")
    assert second.url.params["start"].startswith("2024-03-02")
    assert [r.provenance.retrieved_at for r in runs] == [datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
                                                          datetime(2024, 3, 1, 0, 5, tzinfo=UTC)]
    assert all(len(r) == 12 and r.provenance.estimated and r.provenance.signal == "marginal" for r in runs)
    assert runs[1].values_g_per_kwh[0] == pytest.approx(760 * LBS_PER_MWH_TO_G_PER_KWH)
    bad = {"data": [{"forecast": day["data"][0]["forecast"]}], "meta": day["meta"]}  # no generated_at
    with pytest.raises(ProviderError, match="generated_at"):
        make("watttime", Script(LOGIN, (200, bad))).past_forecasts("CISO", T0, T0 + 3600)


def test_uk_national_history_prefers_actuals():
    script = Script((200, fixture("uk_intensity_range.json")))
    s = make("uk", script).history("GB", T0, T0 + 86400)
    assert script.requests[0].url.path == "/intensity/2024-03-01T00:00Z/2024-03-02T00:00Z"
    assert s.step_s == 1800 and len(s) == 48
    assert s.values_g_per_kwh[0] == 148 and s.values_g_per_kwh[47] == 150 + 47  # forecast where no actual
    assert s.provenance.estimated and s.provenance.basis == "direct"


def test_uk_regional_history_and_forecast():
    script = Script((200, fixture("uk_regional_13_range.json")), (200, fixture("uk_regional_fw24h.json")))
    uk = make("uk", script)
    s = uk.history("GB-R13", T0, T0 + 86400)
    assert script.requests[0].url.path.endswith("/regionid/13")
    assert s.values_g_per_kwh[0] == 120 and s.provenance.zone == "GB-R13" and s.provenance.estimated
    fc = uk.forecast("GB-R13", T0, 86400)
    assert script.requests[1].url.path == "/regional/intensity/2024-03-01T00:00Z/fw24h/regionid/13"
    assert fc.values_g_per_kwh[0] == 100 + 13 and fc.provenance.estimated


def test_uk_latest_and_unsupported_zone():
    uk = make("uk", Script((200, fixture("uk_intensity_now.json"))))
    v = uk.latest("GB", NOW)
    assert v.intensity_g_per_kwh == 175 and not v.provenance.estimated
    with pytest.raises(ProviderError, match="serves GB"):
        uk.history("DE", T0, T0 + 3600)


# -- failures, for every provider -----------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_429_retry_after_is_honoured(kind):
    zone, a, b, ok = ok_history(kind)
    later = format_datetime(datetime.fromtimestamp(NOW + 7, tz=UTC), usegmt=True)
    pre = [LOGIN] if kind == "watttime" else []
    rest = ok[1:] if kind == "watttime" else ok
    script = Script(*pre, (429, "slow down", {"Retry-After": "2"}), (429, "", {"Retry-After": later}), *rest)
    sleeps = Sleeps()
    s = make(kind, script, sleeps).history(zone, a, b)
    assert sleeps == [2.0, 7.0] and len(s) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_429_with_a_long_retry_after_gives_up_at_once(kind):
    zone, a, b, _ = ok_history(kind)
    pre = [LOGIN] if kind == "watttime" else []
    sleeps = Sleeps()
    with pytest.raises(ProviderError, match="Retry-After 3600"):
        make(kind, Script(*pre, (429, "", {"Retry-After": "3600"})), sleeps).history(zone, a, b)
    assert sleeps == []


@pytest.mark.parametrize("kind", KINDS)
def test_5xx_is_retried_with_bounded_backoff(kind):
    zone, a, b, ok = ok_history(kind)
    pre = [LOGIN] if kind == "watttime" else []
    rest = ok[1:] if kind == "watttime" else ok
    sleeps = Sleeps()
    s = make(kind, Script(*pre, (503, "busy"), (502, "bad gateway"), *rest), sleeps).history(zone, a, b)
    assert sleeps == [0.5, 1.0] and len(s) > 0
    sleeps = Sleeps()
    script = Script(*pre, *[(500, "boom")] * 4)
    with pytest.raises(ProviderError, match="server error 500"):
        make(kind, script, sleeps, retries=3, max_backoff_s=1.5).history(zone, a, b)
    assert sleeps == [0.5, 1.0, 1.5]  # doubling, capped; 4 attempts in all
    assert len(script.requests) == len(pre) + 4


@pytest.mark.parametrize("kind", KINDS)
def test_timeout_is_retried_then_reported(kind):
    zone, a, b, _ = ok_history(kind)
    pre = [LOGIN] if kind == "watttime" else []
    timeouts = [httpx.ReadTimeout("slow") for _ in range(2)]
    with pytest.raises(ProviderError, match="no answer within"):
        make(kind, Script(*pre, *timeouts), retries=1).history(zone, a, b)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("body", "match"),
    [("<html>maintenance</html>", "not JSON"), ({"unexpected": []}, "malformed"), ([1, 2], "malformed")],
)
def test_malformed_json(kind, body, match):
    zone, a, b, _ = ok_history(kind)
    pre = [LOGIN] if kind == "watttime" else []
    with pytest.raises(ProviderError, match=match):
        make(kind, Script(*pre, (200, body))).history(zone, a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_401_is_an_error_not_retried(kind):
    zone, a, b, _ = ok_history(kind)
    script = Script((401, "bad password" if kind == "watttime" else "bad key"))  # WattTime: the login
    with pytest.raises(ProviderError, match="401"):
        make(kind, script).history(zone, a, b)
    assert len(script.requests) == 1


def test_watttime_refreshes_its_token_on_401():
    script = Script(
        (200, {"token": "old"}),
        (401, "expired"),
        (200, {"token": "fresh"}),
        (200, fixture("wt_historical_CAISO_NORTH.json")),
    )
    s = make("watttime", script).history("CISO", T0, T0 + 3600)
    paths = [r.url.path for r in script.requests]
    assert paths == ["/login", "/v3/historical", "/login", "/v3/historical"]
    assert script.requests[1].headers["authorization"] == "Bearer old"
    assert script.requests[3].headers["authorization"] == "Bearer fresh"
    assert len(s) == 12


def _mutate(doc, fn):
    doc = json.loads(json.dumps(doc))
    fn(doc)
    return doc


def test_wrong_units_are_refused():
    wt = fixture("wt_historical_CAISO_NORTH.json")
    for units, match in (("kWh", "unusable intensity"), (None, "no units")):
        doc = _mutate(wt, lambda d, u=units: d["meta"].__setitem__("units", u))
        with pytest.raises(ProviderError, match=match):
            make("watttime", Script(LOGIN, (200, doc))).history("CISO", T0, T0 + 3600)
    # a value in lbs/MWh mislabelled as g/kWh is implausible and refused
    doc = _mutate(wt, lambda d: d["data"][0].__setitem__("value", 9000))
    doc["meta"]["units"] = "g/kWh"
    with pytest.raises(ProviderError, match="implausible"):
        make("watttime", Script(LOGIN, (200, doc))).history("CISO", T0, T0 + 3600)
    em = fixture("em_past_range_DE.json")
    doc = _mutate(em, lambda d: d["data"][0].__setitem__("unit", "kWh"))
    with pytest.raises(ProviderError, match="unusable intensity"):
        make("electricitymaps", Script((200, doc))).history("DE", T0, T0 + 86400)
    doc = _mutate(em, lambda d: d["data"][0].__setitem__("emissionFactorType", "direct"))
    with pytest.raises(ProviderError, match="asked for lifecycle"):
        make("electricitymaps", Script((200, doc))).history("DE", T0, T0 + 86400)
    uk = fixture("uk_intensity_range.json")
    for bad in (-5, "high", float("nan")):
        doc = _mutate(uk, lambda d, b=bad: d["data"][0]["intensity"].__setitem__("actual", b))
        with pytest.raises(ProviderError):
            make("uk", Script((200, doc))).history("GB", T0, T0 + 86400)


def test_incomplete_data_is_refused():
    em = fixture("em_past_range_DE.json")
    em["data"] = em["data"][:10]
    with pytest.raises(ProviderError, match="not the requested"):
        make("electricitymaps", Script((200, em))).history("DE", T0, T0 + 86400)


def test_configuration_errors():
    with pytest.raises(GridError, match="token"):
        ElectricityMaps("")
    with pytest.raises(GridError, match="username"):
        WattTime("", "")
    with pytest.raises(GridError, match="signal_type"):
        WattTime("a", "b", signal_type="health_damage")


# -- a real loopback server that answers too late -----------------------------------------------
class _Slow(BaseHTTPRequestHandler):
    delay_s = 1.0

    def do_GET(self):
        time.sleep(self.delay_s)
        body = json.dumps(fixture("uk_intensity_now.json")).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_real_timeout_against_a_loopback_server(slow_server):
    uk = UKCarbonIntensity(base_url=slow_server, timeout_s=0.2, retries=1, backoff_s=0.01)
    t = time.perf_counter()
    with pytest.raises(ProviderError, match=r"no answer within 0\.2 s"):
        uk.latest("GB", time.time())
    assert time.perf_counter() - t < 1.5  # two attempts of 0.2 s, not the server's 1 s each
    uk.close()
    fast = UKCarbonIntensity(base_url=slow_server, timeout_s=3.0, retries=0)
    _Slow.delay_s = 0.0
    try:
        assert fast.latest("GB", time.time()).intensity_g_per_kwh == 175
    finally:
        _Slow.delay_s = 1.0
        fast.close()


def test_latest_for_a_past_time_reads_history_not_the_latest_endpoint():
    script = Script((200, fixture("em_past_range_DE.json")))
    v = make("electricitymaps", script).latest("DE", T0 + 2 * 3600 + 60)  # NOW is a day later
    assert script.requests[0].url.path.endswith("/past-range") and v.intensity_g_per_kwh == pytest.approx(
        fixture("em_past_range_DE.json")["data"][2]["carbonIntensity"]
    )
    script = Script((200, fixture("uk_intensity_range.json")))
    v = make("uk", script).latest("GB", T0 + 1800)
    assert script.requests[0].url.path.startswith("/intensity/2024-03-01T00:30Z/") and v.intensity_g_per_kwh == 149


# -- the source contract, against handlers that answer like the real APIs (404 for unknown zones) ----------
def _api(request: httpx.Request) -> httpx.Response:
    p, q = request.url.path, request.url.params
    if request.url.host == "em.test":
        if q.get("zone") != "DE":
            return httpx.Response(404, json={"error": "Zone not found"})
        doc = fixture("em_forecast_DE.json") if p.endswith("/forecast") else fixture("em_past_range_DE.json")
        return httpx.Response(200, json=doc)
    if request.url.host == "wt.test":
        if p == "/login":
            return httpx.Response(200, json={"token": "t"})
        if q.get("region") != "CAISO_NORTH":
            return httpx.Response(403, json={"error": "no access to region"})
        name = "wt_forecast_CAISO_NORTH.json" if p == "/v3/forecast" else "wt_historical_CAISO_NORTH.json"
        return httpx.Response(200, json=fixture(name))
    name = "uk_regional_fw24h.json" if p.startswith("/regional") else "uk_intensity_range.json"
    return httpx.Response(200, json=fixture(name))


class _ProviderContract(IntensitySourceContract):
    kind = ""

    @pytest.fixture
    def source(self):
        return make(self.kind, Script(), transport=httpx.MockTransport(_api))

    @pytest.fixture
    def served(self):
        zone, a, _, _ = ok_history(self.kind)
        return zone, a + 1800, a + 3600


class TestElectricityMapsContract(_ProviderContract):
    kind = "electricitymaps"


class TestWattTimeContract(_ProviderContract):
    kind = "watttime"


class TestUKContract(_ProviderContract):
    kind = "uk-carbon-intensity"
