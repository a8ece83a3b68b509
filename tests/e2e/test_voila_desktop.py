"""The desktop served by a real Voilà, driven in headless Chromium with no internet."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # gitignored

CARD = ".dk-pipeline-flow"
READ_NUMBERS = """() => Object.fromEntries(
    [...document.querySelectorAll('.dk-pipeline-flow [data-k][data-v]')]
        .map(e => [e.dataset.k, Number(e.dataset.v)]))"""
SHOWS = (
    "(want) => { const got = ("
    + READ_NUMBERS
    + ")(); return Object.entries(want).every(([k, v]) => got[k] === v); }"
)
BARS = f"{CARD} .dk-chart svg g.mark-rect path"


def expected(result) -> dict[str, int]:
    """The numbers the card must show: totals and every stage-table number."""
    want = {"new": result.new, "won": result.won, "lost_total": result.lost_total}
    for r in result.stages.itertuples():
        want[f"deals-{r.stage_id}"] = int(r.deals)
        want[f"net-{r.stage_id}"] = int(r.net_in)
    for r in result.stages.iloc[:-1].itertuples():
        want[f"lost-{r.stage_id}"] = int(r.lost)
    return want


def wait_for_numbers(page, want: dict[str, int], what: str) -> None:
    """Wait until the card shows ``want``; on timeout, fail with what it shows instead."""
    try:
        page.wait_for_function(SHOWS, arg=want, timeout=60_000)
    except Exception:
        got = page.evaluate(READ_NUMBERS)
        pytest.fail(f"{what}: the page shows {got}, expected {want}")


def test_desktop_follows_the_filters_offline(offline_page, voila_server, desk):
    page = offline_page
    response = page.goto(voila_server.url, timeout=180_000)
    assert response is not None and response.ok
    page.wait_for_selector(f'{CARD} [data-k="new"]', timeout=180_000)

    # Default filters: this month, the main pipeline, everyone.
    month = desk.pipeline_flow("month")
    wait_for_numbers(page, expected(month), "month, main pipeline")
    assert month.pipeline in page.inner_text(f"{CARD} .dk-card-head")
    # The chart drew (SVG renderer: one bar path per stage-table row), from the offline bundle.
    page.wait_for_selector(BARS, timeout=60_000)
    assert page.locator(BARS).count() == len(month.stages)
    page.screenshot(path=str(ARTIFACTS / "desk-month.png"), full_page=True)

    # Month → year.
    page.locator(".dk-period select").select_option(label="Year")
    wait_for_numbers(page, expected(desk.pipeline_flow("year")), "year, main pipeline")

    # Main pipeline → another one (its line has a different number of stages).
    pipes = desk.pipelines()
    other = pipes.loc[~pipes["is_main"].astype(bool)].iloc[0]
    page.locator(".dk-pipeline select").select_option(label=str(other["name"]))
    year_other = desk.pipeline_flow("year", int(other["pipeline_id"]))
    wait_for_numbers(page, expected(year_other), f"year, pipeline {other['name']}")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length === n",
        arg=[BARS, len(year_other.stages)],
        timeout=30_000,
    )
    page.screenshot(path=str(ARTIFACTS / "desk-year-other-pipeline.png"), full_page=True)

    # Drill-down: the deals behind "New".
    page.locator(".dk-drill select").select_option(label=f"New: {year_other.new:,} deals")
    page.wait_for_selector(
        f'.dk-records [data-k="records-total"][data-v="{year_other.new}"]', timeout=30_000
    )
    rows = page.locator(".dk-records table tbody tr").count()
    assert rows == min(year_other.new, 200)
    # The right deals: the first column holds the deal ids, in the records' order.
    shown = page.locator(".dk-records table tbody tr td:first-child").all_inner_texts()
    want_ids = year_other.records("new", limit=200)["deal_id"].tolist()
    assert [int(t.replace(",", "").strip()) for t in shown] == want_ids
    page.screenshot(path=str(ARTIFACTS / "desk-drill-down.png"), full_page=True)

    # Voilà ran with strip_sources: no notebook code in what the browser got.
    for text in (response.text(), page.content()):
        assert "from_environment" not in text and "wait_for_request" not in text
    # Nothing chart-related was fetched from outside (only the template's icon font was tried).
    assert not [u for u in voila_server.blocked if "vega" in u or "esm.sh" in u], (
        voila_server.blocked
    )
