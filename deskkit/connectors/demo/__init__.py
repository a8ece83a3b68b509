"""The deterministic demo account: a simulated amoCRM sales team with two years of history."""

from __future__ import annotations

from deskkit.connectors.demo.generate import generate

__all__ = ["generate"]
