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


def voila_command(port: int) -> list[str]:
    """The production command line (``deskkit serve``), on ``port``."""
    return cli_voila_command(NOTEBOOK, port=port)


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


@pytest.fixture(scope="session")
def voila_server(test_store: StoreInfo) -> Iterator[VoilaServer]:
    """Voilà serving notebooks/desk.ipynb on the test store, terminated at the end."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log = ARTIFACTS / "voila.log"
    env = dict(os.environ)
    env.update(
        DESKKIT_STORE=str(test_store.path),
        DESKKIT_NOW=test_store.now_iso,
        # A fresh runtime dir keeps this server's connection files away from any other Jupyter.
        JUPYTER_RUNTIME_DIR=str(test_store.path.parent / "jupyter-runtime"),
    )
    env.pop("DESKKIT_VIEWER", None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            voila_command(port),
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kernels go down with it
        )
    server = VoilaServer(f"http://127.0.0.1:{port}/", process, log, test_store)
    try:
        _wait_until_up(server, timeout=60)
        yield server
    finally:
        _stop(process)


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


@pytest.fixture
def offline_page(browser, voila_server: VoilaServer) -> Iterator[object]:
    """A page that can reach the Voilà server only: every other request is aborted and noted."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def route(r) -> None:
        if r.request.url.startswith(voila_server.url):
            r.continue_()
        else:
            voila_server.blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()
