"""Fixtures of the custom widget tests: the tiny account of ``custom_account.py``."""

from __future__ import annotations

import pytest
from custom_account import NOW, build

import deskkit


@pytest.fixture(scope="session")
def tiny():
    """A Desk on the tiny account at NOW (2026-11-20 12:00 UTC)."""
    return deskkit.Desk(build().open(), now=NOW)
