"""The custom-widget builder on the real Voilà desktop, in headless Chromium with no internet:
configure mode -> New widget -> deals whose Segment is Enterprise -> preview -> save -> the
card is on the desktop with its number -> reload -> still there; then a split widget, edit
(the builder opens on the definition) and delete (asked first; gone after a reload)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import deskkit.custom as custom
from deskkit.custom import Condition, CustomWidget, Display

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # gitignored

TITLE = "Enterprise deals (e2e)"
WIDGET_ID = "enterprise_deals_e2e"
SEGMENT = "cf:3301002"
PRODUCT = "cf:3301001"
ENTERPRISE = 33010023

SETTLED = """() => { const cards = [...document.querySelectorAll('.dk-card')];
    return cards.length > 0 && cards.every(c => !c.classList.contains('dk-busy')); }"""
CARD_SHOWS = """([title, number]) => [...document.querySelectorAll('.dk-card')].some(c =>
    c.innerText.includes(title) && !c.classList.contains('dk-busy')
    && c.innerText.includes(number))"""


def control(page, cls: str, tag: str):
    """The HTML element inside the ipywidget with our class ``cls``."""
    return page.locator(f".{cls} {tag}").first


def open_page(page, url: str) -> None:
    response = page.goto(url, timeout=180_000)
    assert response is not None and response.ok
    page.wait_for_selector(".dk-configure", timeout=180_000)
    page.wait_for_function(SETTLED, timeout=180_000, polling=200)


def wait_for_card(page, title: str, number: str, what: str) -> None:
    try:
        page.wait_for_function(CARD_SHOWS, arg=[title, number], timeout=60_000, polling=200)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "custom-builder-failed.png"), full_page=True)
        cards = page.evaluate(
            "() => [...document.querySelectorAll('.dk-card')].map(c => c.className + ' :: '"
            " + c.innerText.slice(0, 120))"
        )
        pytest.fail(f"{what}: no card {title!r} showing {number}; cards: {cards}")


def main_pipeline(desk) -> int:
    pipes = desk.pipelines()
    return int(pipes.loc[pipes["is_main"].astype(bool), "pipeline_id"].iloc[0])


def test_build_preview_save_and_reload(builder_page, builder_voila_server, desk):
    page = builder_page
    server = builder_voila_server
    want = custom.preview(
        desk,
        CustomWidget(
            id=WIDGET_ID,
            title={"en": TITLE, "ru": TITLE},
            entity="deals",
            conditions=(Condition(SEGMENT, "eq", ENTERPRISE),),
        ),
        "month",
        pipeline=main_pipeline(desk),  # the desktop's default filters: this month, main pipeline
    )
    number = f"{want.value:,}"
    ARTIFACTS.mkdir(exist_ok=True)

    open_page(page, server.url)
    page.locator(".dk-configure").click()
    page.locator(".dk-new-widget").click()
    page.wait_for_selector(".dk-builder", state="visible")

    # Preview with no title: a readable message, not a traceback.
    page.locator(".dk-builder-preview").click()
    page.wait_for_selector(".dk-builder-message [data-k=builder-error]")
    message = page.inner_text(".dk-builder-message")
    assert "Title in English" in message and "Traceback" not in message

    # Deals whose Segment is Enterprise, shown as a number.
    control(page, "dk-builder-entity", "select").select_option(label="Deals")
    page.locator(".dk-builder-add").click()
    row = page.locator(".dk-builder-row").first
    row.locator(".dk-builder-field select").select_option(label="Segment")
    row.locator(".dk-builder-op select").select_option(label="is")
    row.locator(".dk-builder-choice select").select_option(label="Enterprise")
    control(page, "dk-builder-title-en", "input").fill(TITLE)
    control(page, "dk-builder-title-ru", "input").fill("Сделки Enterprise (e2e)")
    page.wait_for_function(
        "(id) => document.querySelector('.dk-builder-id input').value === id", arg=WIDGET_ID
    )

    page.locator(".dk-builder-preview").click()
    try:
        shown = page.wait_for_selector(
            f'.dk-builder-result [data-k=value][data-v="{want.value}"]', timeout=60_000
        )
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "custom-builder-failed.png"), full_page=True)
        got = page.inner_text(".dk-builder-result") + page.inner_text(".dk-builder-message")
        pytest.fail(f"the preview shows {got!r}, expected {number}")
    assert shown.inner_text().strip() == number
    assert page.locator(".dk-builder-message .dk-error-box").count() == 0
    change = page.get_attribute(".dk-builder-result [data-k=change]", "data-v")
    assert float(change) == want.change
    page.screenshot(path=str(ARTIFACTS / "custom-builder-preview.png"), full_page=True)

    start = time.monotonic()
    page.locator(".dk-builder-save").click()
    wait_for_card(page, TITLE, number, "after saving")
    saved_in = time.monotonic() - start
    assert page.locator(".dk-builder").is_hidden()  # the builder closed
    assert page.locator(".dk-error-box").count() == 0
    page.screenshot(path=str(ARTIFACTS / "custom-builder-saved.png"), full_page=True)

    # The rule text and a drill-down work like a built-in card's.
    card = page.locator(".dk-card", has_text=TITLE)
    card.get_by_role("button", name="How is this counted?").click()
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('.dk-card')].some(c => c.innerText.includes(t)"
        " && c.innerText.includes('whose Segment is Enterprise'))",
        arg=TITLE,
    )
    card.get_by_role("button", name=number, exact=True).click()
    # The records behind the number (the card asks for at most 201 and shows 200).
    card.locator(f'[data-k=rows][data-v="{min(want.value, 201)}"]').wait_for()
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "custom-builder-card.png"))

    # Reload: a new kernel reads the saved definition and this user's layout.
    open_page(page, server.url)
    wait_for_card(page, TITLE, number, "after a reload")
    page.locator(".dk-card", has_text=TITLE).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "custom-builder-reload.png"))

    # A second widget: open deals split by Product (a multiselect), shown as bars and a table.
    split = custom.preview(
        desk,
        CustomWidget(
            id="open_by_product_e2e",
            title={"en": "Open deals by product", "ru": "Открытые сделки по продуктам"},
            entity="deals",
            conditions=(Condition("stage_kind", "in", ("open",)),),
            display=Display(kind="split", split_by=PRODUCT),
        ),
        "month",
        pipeline=main_pipeline(desk),
    )
    page.locator(".dk-configure").click()
    page.locator(".dk-new-widget").click()
    page.wait_for_selector(".dk-builder", state="visible")
    page.locator(".dk-builder-add").click()
    row = page.locator(".dk-builder-row").first
    row.locator(".dk-builder-field select").select_option(label="Stage kind")
    row.locator(".dk-builder-op select").select_option(label="is one of")
    row.locator(".dk-builder-multi select").select_option(label="open")
    page.locator(".dk-builder-kind button", has_text="Split by a field").click()
    control(page, "dk-builder-split", "select").select_option(label="Product")
    control(page, "dk-builder-title-en", "input").fill("Open deals by product")
    page.wait_for_function(
        "() => document.querySelector('.dk-builder-id input').value === 'open_deals_by_product'"
    )
    page.locator(".dk-builder-preview").click()
    page.wait_for_selector(f'.dk-builder-result [data-k=value][data-v="{split.value}"]')
    preview_text = page.inner_text(".dk-builder-result")
    for label in split.split["label"]:
        assert label in preview_text
    page.locator(".dk-builder-save").click()
    top = split.split.sort_values("value").iloc[-1]
    wait_for_card(page, "Open deals by product", f"{int(top['value']):,}", "the split widget")
    card = page.locator(".dk-card", has_text="Open deals by product")
    for label in split.split["label"]:
        assert label in card.inner_text()
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "custom-builder-split.png"))

    # Configure mode (still on) offers edit and delete on the widgets this user saved.
    page.locator(".dk-card", has_text=TITLE).locator(".dk-edit-widget").click()
    page.wait_for_function(
        "(id) => document.querySelector('.dk-builder-id input').value === id", arg=WIDGET_ID
    )
    assert page.locator(".dk-builder").is_visible()
    assert control(page, "dk-builder-title-en", "input").input_value() == TITLE
    page.locator(".dk-builder-close").click()
    page.wait_for_selector(".dk-builder", state="hidden")
    delete = card.locator(".dk-delete-widget")
    delete.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.dk-delete-widget')]"
        ".some(b => b.innerText.includes('Delete?'))"
    )
    assert page.locator(".dk-card", has_text="Open deals by product").count() == 1  # asked first
    page.locator(".dk-delete-widget", has_text="Delete?").click()
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.dk-card')]"
        ".some(c => c.innerText.includes('Open deals by product'))"
    )
    assert page.locator(".dk-card", has_text=TITLE).count() == 1
    # Its saved definition is gone too: a new kernel does not bring it back.
    open_page(page, server.url)
    wait_for_card(page, TITLE, number, "after deleting the other widget")
    assert page.locator(".dk-card", has_text="Open deals by product").count() == 0

    assert not [u for u in server.blocked if "vega" in u or "esm.sh" in u], server.blocked
    print(f"saved -> card filled in {saved_in:.1f} s")
