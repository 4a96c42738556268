"""Every dashboard page in Debian's chromium: renders, charts drawn, roles respected; screenshots saved."""

from __future__ import annotations

import pytest
from tests.dashboard.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def login(page, live, role: str) -> None:
    page.goto(f"{live.url}/ui/")
    assert page.url.endswith("/ui/login")
    page.fill("#token", live.tokens[role])
    page.click("#login")
    page.wait_for_url(f"{live.url}/ui/")


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_every_page_renders_with_charts(dash, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    login(page, dash, "viewer")
    # overview: budget by stage, emissions by model, trend
    assert page.locator("svg.ct-chart").count() == 4
    assert page.locator("svg.ct-chart rect.ct-bar").count() >= 5 + 5 + 14 + 2
    assert "kWh" in page.inner_text("#total-energy")
    assert page.locator("#by-kind tr").count() == 6  # header + 5 stages
    shot(page, "overview")
    page.goto(f"{dash.url}/ui/intensity")
    # the forecast the scheduler planned on, and the intensity realised per zone
    assert page.locator("svg.ct-chart path.ct-line").count() == 4
    assert page.locator("svg.ct-chart rect.ct-band").count() >= 2
    assert page.locator("#jobs .badge.scheduled").count() == 1
    shot(page, "intensity")
    for name in ("hpo", "registry", "committee", "audit", "spans"):
        page.goto(f"{dash.url}/ui/{name}")
        assert page.locator("h1").count() == 1
        assert page.locator("nav a.active").inner_text().lower() == name
        shot(page, name)
    page.goto(f"{dash.url}/ui/hpo")
    assert page.locator("svg.ct-chart path.ct-line").count() == 1  # the quota burn-down
    assert page.locator("svg.ct-chart circle.ct-point").count() == 25  # the limit, then one per charge
    assert "open" in page.inner_text("#studies")
    page.goto(f"{dash.url}/ui/reports")
    assert page.locator("#preview svg.ct-chart").count() == 3
    shot(page, "reports")
    for fmt in ("html", "md", "csv", "json", "codecarbon"):
        href = page.get_attribute(f"#dl-{fmt}", "href")
        r = page.request.get(f"{dash.url}{href}")
        assert r.status == 200, fmt
    assert page.request.get(f"{dash.url}/api/v1/reports?format=json").json()["totals"]["energy"]["value"] > 0
    assert not errors
    assert all(u.startswith(dash.url) for u in requests), "the dashboard must not load anything from elsewhere"


def test_bad_token_and_logout(dash, browser):
    page = browser.new_page()
    page.goto(f"{dash.url}/ui/login")
    page.fill("#token", "ct_nope_nope")
    page.click("#login")
    assert "invalid token" in page.inner_text("#flash")
    page.fill("#token", dash.tokens["ingest"])  # ingest-only tokens cannot read
    page.click("#login")
    assert "invalid token" in page.inner_text("#flash")
    login(page, dash, "viewer")
    page.click("text=log out")
    page.goto(f"{dash.url}/ui/spans")
    assert page.url.endswith("/ui/login")


def test_committee_approves_and_overrides_in_the_browser(dash, browser):
    ids = dash.ids
    # a viewer sees the queue but no buttons
    viewer = browser.new_page(viewport={"width": 1280, "height": 800})
    login(viewer, dash, "viewer")
    viewer.goto(f"{dash.url}/ui/committee")
    assert viewer.locator("#requests tr").count() == 3
    assert viewer.locator("button[data-action]").count() == 0
    viewer.close()
    members = []
    for role in ("committee", "committee2", "committee3"):
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        login(page, dash, role)
        members.append(page)
    first, second, third = members
    first.goto(f"{dash.url}/ui/committee")
    first.click(f"button[data-action=approve][data-request='{ids['pending']}']")
    assert "is now pending-approval" in first.inner_text("#flash")
    second.goto(f"{dash.url}/ui/committee")
    second.click(f"button[data-action=approve][data-request='{ids['pending']}']")
    assert "is now approved" in second.inner_text("#flash")
    shot(second, "committee-approved")
    # the vetoed request: two members override it, each with a written justification
    why = "moving serving to a PPA-covered site next month; budget re-baselined"
    for page, expect in ((first, "vetoed"), (third, "approved")):
        page.goto(f"{dash.url}/ui/committee")
        form = page.locator(f"form:has(button[data-request='{ids['vetoed']}'])")
        form.locator("input[name=justification]").fill(why)
        form.locator("button[data-action=override]").click()
        assert f"is now {expect}" in page.inner_text("#flash")
    rows = {r.request_id: r.status for r in dash.app.state.ct.gov.gate().requests()}
    assert rows == {ids["pending"]: "approved", ids["vetoed"]: "approved"}
    # the audit page shows the chain intact, with the committee's actions appended
    third.goto(f"{dash.url}/ui/audit")
    assert "Chain intact" in third.inner_text("main")
    shot(third, "audit")
    third.goto(f"{dash.url}/ui/registry")
    assert third.locator("#versions tr").count() == 2
    assert third.locator("svg.ct-chart rect.ct-bar").count() == 1
    shot(third, "registry")
