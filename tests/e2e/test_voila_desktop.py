"""The desktop served by a real Voilà, driven in headless Chromium with no internet."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deskkit import widgets as registry

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # gitignored

FLOW = ".dk-card-pipeline_flow"
READ_NUMBERS = """() => Object.fromEntries(
    [...document.querySelectorAll('.dk-card-pipeline_flow [data-k][data-v]')]
        .map(e => [e.dataset.k, Number(e.dataset.v)]))"""
SHOWS = (
    "(want) => { const got = ("
    + READ_NUMBERS
    + ")(); return Object.entries(want).every(([k, v]) => got[k] === v); }"
)
ALL_FILLED = """(n) => { const cards = [...document.querySelectorAll('.dk-card')];
    return cards.length === n && cards.every(c => !c.classList.contains('dk-busy')
        && (c.querySelector('.dk-kpi-value, .dk-table, .dk-error-box, .dk-caption') !== null)); }"""
CARD_ORDER = """() => [...document.querySelectorAll('.dk-card')].map(
    c => [...c.classList].find(k => k.startsWith('dk-card-') && k !== 'dk-card-body')
        .slice('dk-card-'.length))"""


def expected(result) -> dict[str, int]:
    """The numbers the flow card's stage table must show."""
    want = {}
    for r in result.stages.itertuples():
        want[f"deals-{r.stage_id}"] = int(r.deals)
        want[f"net-{r.stage_id}"] = int(r.net_in)
    for r in result.stages.iloc[:-1].itertuples():
        want[f"lost-{r.stage_id}"] = int(r.lost)
    return want


def wait_for_numbers(page, want: dict[str, int], what: str) -> None:
    """Wait until the flow card shows ``want``; on timeout, fail with what it shows instead."""
    try:
        page.wait_for_function(SHOWS, arg=want, timeout=60_000)
    except Exception:
        got = page.evaluate(READ_NUMBERS)
        pytest.fail(f"{what}: the page shows {got}, expected {want}")


def kpi(page, card: str, label: str) -> str:
    return page.locator(f".dk-card-{card} .dk-kpi-{label}").inner_text().strip()


def wait_for_url(page, part: str) -> None:
    """The page URL (mirrored from the filters) comes to contain ``part``."""
    try:
        page.wait_for_function("(p) => location.search.includes(p)", arg=part, timeout=10_000)
    except Exception:
        pytest.fail(f"the URL {page.url} never contained {part!r}")


def open_desktop(page, url: str, n_cards: int) -> float:
    """Navigate and wait until every card is filled; returns the seconds it took."""
    start = time.monotonic()
    response = page.goto(url, timeout=180_000)
    assert response is not None and response.ok
    try:
        page.wait_for_function(ALL_FILLED, arg=n_cards, timeout=180_000, polling=100)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "desk-not-filled.png"), full_page=True)
        state = page.evaluate(
            "() => [...document.querySelectorAll('.dk-card')].map(c => c.className + ' :: ' +"
            " c.innerText.slice(0, 80))"
        )
        pytest.fail(f"not every card filled: {state}")
    return time.monotonic() - start


DEFAULT = [w.id for w in registry.widgets() if w.builtin]


def test_desktop_follows_the_filters_offline(offline_page, voila_server, desk):
    page = offline_page
    open_desktop(page, voila_server.url, len(DEFAULT))
    assert page.evaluate(CARD_ORDER) == DEFAULT
    assert page.locator(".dk-error-box").count() == 0

    # Default filters: this month, the main pipeline, everyone.
    month = desk.pipeline_flow("month")
    wait_for_numbers(page, expected(month), "month, main pipeline")
    assert kpi(page, "pipeline_flow", "new_deals") == f"{month.new:,}"
    # Every chart drew from the page's one offline copy of the library.
    page.wait_for_function(
        "(n) => document.querySelectorAll('.dk-chart svg').length >= n", arg=10, timeout=60_000
    )
    page.screenshot(path=str(ARTIFACTS / "desk-month.png"), full_page=True)

    # Month → year: every period card follows.
    page.locator(".dk-period select").select_option(label="Year")
    wait_for_numbers(page, expected(desk.pipeline_flow("year")), "year, main pipeline")
    wait_for_url(page, "period=year")

    # Main pipeline → another one.
    pipes = desk.pipelines()
    other = pipes.loc[~pipes["is_main"].astype(bool)].iloc[0]
    page.locator(".dk-pipeline select").select_option(label=str(other["name"]))
    year_other = desk.pipeline_flow("year", int(other["pipeline_id"]))
    wait_for_numbers(page, expected(year_other), f"year, pipeline {other['name']}")

    # Everyone → one user.
    users = desk.users().sort_values("name")
    user = users.iloc[1]
    page.locator(".dk-scope select").select_option(label=str(user["name"]))
    mine = desk.pipeline_flow("year", int(other["pipeline_id"]), user=int(user["user_id"]))
    wait_for_numbers(page, expected(mine), f"year, {other['name']}, {user['name']}")
    wait_for_url(page, f"user={int(user['user_id'])}")
    page.screenshot(path=str(ARTIFACTS / "desk-year-user.png"), full_page=True)

    # Drill-down: click the "New" number, the deals behind it open.
    page.locator(f"{FLOW} .dk-kpi-new_deals").click()
    page.wait_for_selector(f'{FLOW} .dk-records-box [data-k="rows"][data-v="{min(mine.new, 201)}"]')
    shown = page.locator(f"{FLOW} .dk-records tbody tr td:first-child").all_inner_texts()
    want = mine.records("new", limit=200)["deal_id"].tolist()
    assert [int(t.strip()) for t in shown] == want
    page.screenshot(path=str(ARTIFACTS / "desk-drill-down.png"), full_page=True)

    # Language: Russian labels, rule text and number formats.
    page.locator(".dk-lang button", has_text="RU").click()
    page.wait_for_function(
        "() => document.querySelector('.dk-card-pipeline_flow .dk-title').innerText"
        ".includes('Анализ продаж')"
    )
    wait_for_url(page, "lang=ru")
    assert page.locator(".dk-period select").input_value() is not None
    # The chart is redrawn in Russian: its axis title (and tooltips) too.
    page.wait_for_function(
        "() => (document.querySelector('.dk-card-pipeline_flow .dk-chart svg')?.textContent ?? '')"
        ".includes('Сделки на конец периода')"
    )
    page.screenshot(path=str(ARTIFACTS / "desk-ru.png"), full_page=True)

    # Voilà ran with strip_sources: no notebook code in what the browser got.
    assert "from_environment" not in page.content() and "wait_for_request" not in page.content()
    assert not [u for u in voila_server.blocked if "vega" in u or "esm.sh" in u], (
        voila_server.blocked
    )


def test_the_page_computed_in_worker_processes(processes_page, processes_voila_server, desk):
    """With DESKKIT_PROCESSES the same numbers, charts and drill-down (on the kernel's
    store); the cards' workers run as the kernels' children."""
    page = processes_page
    server = processes_voila_server
    open_desktop(page, server.url, len(DEFAULT))
    assert page.locator(".dk-error-box").count() == 0
    wait_for_numbers(page, expected(desk.pipeline_flow("month")), "month, main pipeline")
    page.wait_for_function(
        "(n) => document.querySelectorAll('.dk-chart svg').length >= n", arg=10, timeout=60_000
    )
    workers = _workers_of(server.process.pid)
    assert len(workers) >= 2, workers  # the page's kernel's two (and the preheated one's)
    page.locator(".dk-period select").select_option(label="Year")
    group = desk.departments().iloc[0]
    page.locator(".dk-scope select").select_option(label=f"{group['name']} (department)")
    year = desk.pipeline_flow("year", department=int(group["group_id"]))
    wait_for_numbers(page, expected(year), f"year, {group['name']}")
    page.locator(f"{FLOW} .dk-kpi-new_deals").click()
    page.wait_for_selector(f'{FLOW} .dk-records-box [data-k="rows"][data-v="{min(year.new, 201)}"]')
    shown = page.locator(f"{FLOW} .dk-records tbody tr td:first-child").all_inner_texts()
    assert [int(t.strip()) for t in shown] == year.records("new", limit=200)["deal_id"].tolist()
    assert page.locator(".dk-error-box").count() == 0
    page.screenshot(path=str(ARTIFACTS / "desk-processes.png"), full_page=True)


def _workers_of(root: int) -> list[int]:
    """The deskkit worker processes among ``root``'s descendants."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def below(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == root:
                return True
        return False

    return [p for p, cmd in commands.items() if "deskkit.ui.processes" in cmd and below(p)]


def test_a_link_opens_its_view(offline_page, voila_server, desk):
    page = offline_page
    pipes = desk.pipelines()
    other = int(pipes.loc[~pipes["is_main"].astype(bool), "pipeline_id"].iloc[0])
    open_desktop(page, f"{voila_server.url}?period=quarter&pipeline={other}&lang=ru", len(DEFAULT))
    wait_for_numbers(page, expected(desk.pipeline_flow("quarter", other)), "a linked view")
    assert "Анализ продаж" in page.inner_text(f"{FLOW} .dk-title")
    page.screenshot(path=str(ARTIFACTS / "desk-link.png"), full_page=True)


def test_configure_survives_a_reload(offline_page, voila_server):
    page = offline_page
    open_desktop(page, voila_server.url, len(DEFAULT))
    page.locator(".dk-configure").click()
    page.locator(".dk-card-nps .dk-remove").click()
    page.wait_for_function("() => !document.querySelector('.dk-card-nps')")
    page.locator(".dk-card-forecast .dk-move-up").click()
    page.locator(".dk-card-forecast .dk-move-up").click()
    page.locator(".dk-add-pick select").select_option(label="NPS")
    page.locator(".dk-add").click()
    page.wait_for_selector(".dk-card-nps")
    want = [c for c in DEFAULT if c != "nps"]
    i = want.index("forecast")
    want.insert(i - 2, want.pop(i))
    want.append("nps")
    page.wait_for_function(f"() => ({CARD_ORDER})().join() === {want!r}.join()")
    order = page.evaluate(CARD_ORDER)
    page.screenshot(path=str(ARTIFACTS / "desk-configure.png"), full_page=True)
    open_desktop(page, voila_server.url, len(DEFAULT))
    assert page.evaluate(CARD_ORDER) == order  # saved for this user, read back on load
    # Back to the default for the other tests.
    page.locator(".dk-configure").click()
    page.locator(".dk-reset").click()
    page.wait_for_function(f"() => ({CARD_ORDER})().join() === {DEFAULT!r}.join()")


def test_a_slow_card_offers_refresh_and_the_others_work(browser, slow_voila_server):
    """A card whose metric takes 8 s: a spinner, then Refresh after 2 s, while the other cards
    fill and the filters keep working; a failing metric's error stays on its own card."""
    page = browser.new_page()
    page.set_default_timeout(60_000)
    start = time.monotonic()
    page.goto(slow_voila_server.url, timeout=180_000)
    slow = ".dk-card-slow_test"
    page.wait_for_selector(f"{slow}.dk-busy")
    page.wait_for_selector(f"{slow} .dk-refresh", state="visible", timeout=10_000)
    assert time.monotonic() - start >= 2  # not before the 2-second budget
    # The other cards filled while the slow one still computes.
    page.wait_for_function(
        "() => !document.querySelector('.dk-card-nps').classList.contains('dk-busy')"
    )
    assert page.locator(f"{slow}.dk-busy").count() == 1
    assert page.locator(".dk-card-broken_test .dk-error-box").count() == 1
    assert "broken on purpose" in page.inner_text(".dk-card-broken_test")
    assert page.locator(".dk-card-nps .dk-error-box").count() == 0
    page.screenshot(path=str(ARTIFACTS / "desk-slow-card.png"), full_page=True)
    # A filter change still works while the slow card computes.
    page.locator(".dk-period select").select_option(label="Year")
    page.wait_for_function(
        "() => document.querySelector('.dk-card-nps [data-k=subtitle]').innerText.includes('2026')"
        " && !document.querySelector('.dk-card-nps').classList.contains('dk-busy')"
    )
    # Refresh starts it again (spinner), and it fills when the metric answers.
    page.locator(f"{slow} .dk-refresh").click()
    page.wait_for_selector(f"{slow} .dk-spinner")
    page.wait_for_selector(f"{slow}:not(.dk-busy)", state="attached", timeout=30_000)
    assert page.locator(f"{slow} .dk-error-box").count() == 0
    assert page.locator(f"{slow} .dk-refresh").is_hidden()
    page.close()


PROBE = """async ([url, code]) => {
  const u = new URL(url);
  u.searchParams.set("session_id", "probe-" + Math.random());  // replies come to this socket
  const ws = new WebSocket(u.href);
  const replies = [];
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
  ws.onmessage = (e) => { try { replies.push(JSON.parse(e.data).header.msg_type); } catch (_) {} };
  const msg = (type, content) => JSON.stringify({
    header: {msg_id: type + Math.random(), msg_type: type, username: "x", session: "probe",
             version: "5.3", date: new Date().toISOString()},
    parent_header: {}, metadata: {}, content: content, channel: "shell", buffers: []});
  ws.send(msg("execute_request", {code: code, silent: false, store_history: false,
                                  user_expressions: {}, allow_stdin: false}));
  ws.send(msg("kernel_info_request", {}));
  await new Promise((ok) => setTimeout(ok, 4000));
  ws.close();
  return replies;
}"""


def test_the_page_cannot_run_code_in_the_kernel(offline_page, voila_server, tmp_path):
    """Voilà forwards widget messages only: an execute request sent over the page's own kernel
    connection is dropped (the kernel_info_request beside it proves the channel works)."""
    page = offline_page
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    open_desktop(page, voila_server.url, len(DEFAULT))
    channel = next(u for u in sockets if "/api/kernels/" in u and "channels" in u)
    marker = tmp_path / "pwned"
    replies = page.evaluate(PROBE, [channel, f"open({str(marker)!r}, 'w').write('x')"])
    assert "kernel_info_reply" in replies
    assert "execute_reply" not in replies and "execute_input" not in replies
    assert not marker.exists()
