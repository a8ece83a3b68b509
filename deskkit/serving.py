"""Voilà's kernel manager for the desktop: the next visitor's kernel waits for a quiet page.

Voilà keeps one kernel preheated for the next visitor, and starts its replacement a second
after a visitor takes it. That start (the kernel's imports, then its warm-up of the default
view) takes a core for several seconds, on the same cores as the visitor who just arrived: his
page's first cards and his first filter changes shared them with it. :class:`QuietKernelManager`
starts the replacement once no kernel has sent anything for :attr:`~QuietKernelManager.quiet`
seconds (the visitor is reading), at the latest :attr:`~QuietKernelManager.max_wait` seconds
after it was due, and at once when a visitor is already waiting for it.

Runs in the Voilà server's process: imports nothing of deskkit's engine, data or charts.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Float

__all__ = ["QuietKernelManager"]


class QuietKernelManager(AsyncMappingKernelManager):
    """Starts a preheated kernel when the pages are quiet (see the module docstring).

    Set with ``--VoilaConfiguration.multi_kernel_manager_class``; Voilà's preheating wraps it.
    """

    quiet = Float(
        3.0,
        config=True,
        help="Seconds without a message from any kernel before a preheated kernel starts.",
    )
    max_wait = Float(
        30.0,
        config=True,
        help="Seconds a preheated kernel waits for quiet at most before it starts anyway.",
    )
    poll = Float(0.1, config=True, help="Seconds between two looks at the kernels' activity.")

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:
        if (kwargs.get("env") or {}).get("VOILA_PREHEAT") == "True":
            waited = await self.until_quiet(asyncio.current_task())
            if waited >= self.poll:
                self.log.info("deskkit: preheated kernel started after %.1f s of waiting", waited)
        return await super().start_kernel(*args, **kwargs)

    async def until_quiet(self, task: asyncio.Task[Any] | None = None) -> float:
        """Wait until no kernel has sent anything for ``quiet`` seconds, ``max_wait`` has
        passed, or ``task`` (a pool's pending kernel) is no longer in its pool: a visitor took
        it and is waiting. Returns the seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < self.max_wait and self._pooled(task):
            idle = (datetime.now(UTC) - self.last_kernel_activity).total_seconds()
            if idle >= self.quiet:
                break
            await asyncio.sleep(min(self.poll, self.quiet - idle))
        return time.monotonic() - start

    def _pooled(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether ``task`` still waits in one of Voilà's kernel pools (True if unknown)."""
        pools = getattr(self, "_pools", None)  # Voilà's preheating adds them
        if task is None or not isinstance(pools, dict):
            return True
        return any(task in pool for pool in pools.values())
