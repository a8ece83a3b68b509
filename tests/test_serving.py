"""The Voilà kernel manager that starts the next visitor's kernel once the pages are quiet."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from deskkit.cli import voila_command
from deskkit.serving import QuietKernelManager


def _manager(**traits: float) -> QuietKernelManager:
    km = QuietKernelManager(**{"quiet": 0.3, "max_wait": 5.0, "poll": 0.02, **traits})
    km.last_kernel_activity = datetime.now(UTC) - timedelta(seconds=60)
    return km


async def _busy(km: QuietKernelManager, seconds: float) -> None:
    """A kernel sending messages every 50 ms for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        km.last_kernel_activity = datetime.now(UTC)
        await asyncio.sleep(0.05)


def test_importing_it_loads_no_engine_data_or_chart_library():
    """It runs in the Voilà server's process."""
    probe = "import sys, deskkit.serving; print(sorted(m for m in ('pandas', 'ibis', 'duckdb', "
    probe += "'altair', 'ipywidgets') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_production_command_uses_it():
    cmd = voila_command()
    assert (
        "--VoilaConfiguration.multi_kernel_manager_class=deskkit.serving.QuietKernelManager" in cmd
    )


def test_starts_at_once_when_no_kernel_has_sent_anything_lately():
    km = _manager()
    assert asyncio.run(km.until_quiet()) < 0.1


def test_waits_until_no_kernel_has_sent_anything_for_quiet_seconds():
    km = _manager(quiet=0.3)

    async def run() -> float:
        busy = asyncio.create_task(_busy(km, 0.6))
        await asyncio.sleep(0)  # the kernel's first message
        waited = await km.until_quiet()
        await busy
        return waited

    waited = asyncio.run(run())
    assert 0.6 + 0.3 - 0.06 <= waited < 0.6 + 0.3 + 0.3


def test_starts_anyway_after_max_wait():
    km = _manager(quiet=0.3, max_wait=0.4)

    async def run() -> float:
        busy = asyncio.create_task(_busy(km, 1.5))
        await asyncio.sleep(0)
        waited = await km.until_quiet()
        busy.cancel()
        return waited

    assert 0.4 <= asyncio.run(run()) < 0.7


def test_starts_at_once_when_a_visitor_took_the_pooled_kernel():
    """Voilà pops the pool's task when a visitor needs the kernel and awaits it: nobody may
    wait for quiet then."""
    km = _manager(quiet=0.3)

    async def run() -> float:
        busy = asyncio.create_task(_busy(km, 3.0))
        km._pools = {"desk.ipynb": []}

        async def pending() -> float:
            return await km.until_quiet(asyncio.current_task())

        task = asyncio.create_task(pending())
        km._pools["desk.ipynb"].append(task)
        await asyncio.sleep(0.25)
        km._pools["desk.ipynb"].pop(0)  # a visitor arrives
        taken = time.monotonic()
        await task
        busy.cancel()
        return time.monotonic() - taken

    assert asyncio.run(run()) < 0.15


@pytest.mark.parametrize("preheat", [True, False])
def test_a_real_kernel_start_waits_only_when_preheating(preheat):
    """A kernel Voilà preheats starts after the quiet; a visitor's own kernel at once."""
    km = _manager(quiet=2.0, max_wait=20.0)

    async def run() -> float:
        km.last_kernel_activity = datetime.now(UTC)  # a page just got its cards
        start = time.monotonic()
        env = {**os.environ, "VOILA_PREHEAT": str(preheat)}
        kernel_id = await km.start_kernel(kernel_name="python3", env=env)
        took = time.monotonic() - start
        assert kernel_id in km
        await km.shutdown_kernel(kernel_id, now=True)
        return took

    took = asyncio.run(run())
    if preheat:
        assert took >= 2.0 - 0.05
    else:
        assert took < 2.0
