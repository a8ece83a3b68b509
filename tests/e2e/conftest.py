"""A real Voilà server on the test store, and a headless Chromium that cannot reach the internet."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from stores import StoreInfo

from deskkit.cli import voila_command as cli_voila_command

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "desk.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class VoilaServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    store: StoreInfo
    blocked: list[str] = field(default_factory=list)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_until_up(server: VoilaServer, timeout: float) -> None:
    """Wait for the server to answer, without asking for the notebook page (that would use up
    the preheated kernel)."""
    deadline = time.monotonic() + timeout
    probe = server.url + "voila/static/"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"voila exited early:\n{server.log_text()[-3000:]}")
        try:
            urllib.request.urlopen(probe, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer (even 404) means the server is serving
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"voila did not start in {timeout:.0f} s:\n{server.log_text()[-3000:]}")


def _serve(
    notebook: Path,
    store: StoreInfo,
    data: Path,
    log_name: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[VoilaServer]:
    """Voilà serving ``notebook`` on the test store (layouts saved under ``data``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log = ARTIFACTS / log_name
    env = dict(os.environ)
    env.update(
        DESKKIT_STORE=str(store.path),
        DESKKIT_NOW=store.now_iso,
        DESKKIT_DATA=str(data),
        # A fresh runtime dir keeps this server's connection files away from any other Jupyter.
        JUPYTER_RUNTIME_DIR=str(data / "jupyter-runtime"),
    )
    env.pop("DESKKIT_VIEWER", None)
    env.update(extra_env or {})
    with log.open("wb") as sink:
        process = subprocess.Popen(
            cli_voila_command(notebook, port=port),
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kernels go down with it
        )
    server = VoilaServer(f"http://127.0.0.1:{port}/", process, log, store)
    try:
        _wait_until_up(server, timeout=60)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def voila_server(test_store: StoreInfo, tmp_path_factory) -> Iterator[VoilaServer]:
    """Voilà serving notebooks/desk.ipynb (the production command) on the test store."""
    yield from _serve(NOTEBOOK, test_store, tmp_path_factory.mktemp("voila-data"), "voila.log")


@pytest.fixture(scope="session")
def processes_voila_server(test_store: StoreInfo, tmp_path_factory) -> Iterator[VoilaServer]:
    """Voilà serving notebooks/desk.ipynb with the cards computed in two worker processes."""
    yield from _serve(
        NOTEBOOK,
        test_store,
        tmp_path_factory.mktemp("processes-data"),
        "voila-processes.log",
        {"DESKKIT_PROCESSES": "2"},
    )


@pytest.fixture(scope="session")
def builder_voila_server(test_store: StoreInfo, tmp_path_factory) -> Iterator[VoilaServer]:
    """Voilà serving notebooks/desk.ipynb with a data folder of its own: custom widgets saved
    (and layouts changed) by the builder test do not reach the other browser tests."""
    yield from _serve(
        NOTEBOOK, test_store, tmp_path_factory.mktemp("builder-data"), "voila-builder.log"
    )


SLOW_NOTEBOOK = """
import time
from deskkit import widgets
from deskkit.ui import Desktop

def slow(desk, f):
    time.sleep(8)
    return desk.nps(f.period)

def broken(desk, f):
    raise RuntimeError("this metric is broken on purpose")

widgets.register(widgets.Widget("slow_test", {"en": "Slow", "ru": "Медл."}, slow), replace=True)
widgets.register(
    widgets.Widget("broken_test", {"en": "Broken", "ru": "Сломан"}, broken), replace=True
)
# Start computing when the page asks (not while the kernel is preheated), so the test sees it.
from voila.utils import wait_for_request
wait_for_request()
app = Desktop.from_environment(cards=["slow_test", "broken_test", "nps", "pipeline_flow"])
app.start()
app.widget
"""


@pytest.fixture(scope="session")
def slow_voila_server(test_store: StoreInfo, tmp_path_factory) -> Iterator[VoilaServer]:
    """Voilà serving a desktop with a deliberately slow card and a failing one."""
    import nbformat

    folder = tmp_path_factory.mktemp("slow-desk")
    notebook = folder / "slow.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SLOW_NOTEBOOK)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, notebook)
    yield from _serve(notebook, test_store, folder, "voila-slow.log")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (Voilà and its kernels), then SIGKILL stragglers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # kernels that outlived the server
    process.wait(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install it with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def offline(browser, server: VoilaServer, *, height: int = 900) -> Iterator[object]:
    """A page that can reach ``server`` only: every other request is aborted and noted."""
    context = browser.new_context(viewport={"width": 1280, "height": height})

    def route(r) -> None:
        if r.request.url.startswith(server.url):
            r.continue_()
        else:
            server.blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def offline_page(browser, voila_server: VoilaServer) -> Iterator[object]:
    with offline(browser, voila_server) as page:
        yield page


@pytest.fixture
def processes_page(browser, processes_voila_server: VoilaServer) -> Iterator[object]:
    """An offline page on the server whose cards are computed in worker processes."""
    with offline(browser, processes_voila_server) as page:
        yield page


@pytest.fixture
def builder_page(browser, builder_voila_server: VoilaServer) -> Iterator[object]:
    """An offline page on the custom-widget builder's server (a taller window)."""
    with offline(browser, builder_voila_server, height=1000) as page:
        yield page
