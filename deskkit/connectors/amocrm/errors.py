"""Exceptions of the amoCRM client, and the scrubber that keeps secrets out of their text."""

from __future__ import annotations

import re
import threading
from typing import Final

__all__ = [
    "AccountBlocked",
    "AccountUnpaid",
    "AmoError",
    "BadRequest",
    "BadResponse",
    "CredentialsError",
    "Forbidden",
    "NotFound",
    "RetriesExhausted",
    "TokenRevoked",
    "Unauthorized",
    "register_secret",
    "scrub",
]

REDACTED: Final = "***"
# Shortest value worth registering: masking one- or two-letter strings would garble every text.
_MIN_SECRET = 6

_lock = threading.Lock()
_secrets: set[str] = set()

# Token-looking fragments that may show up in text we did not write ourselves (a proxy's error
# page echoing our headers, an OAuth error repeating the request): masked even if unregistered.
_PATTERNS: Final = (
    re.compile(r"(?i)(authorization\s*[:=]\s*)(?:bearer\s+)?[^\s\"',;&]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)([\"']?\b(?:access_token|refresh_token|client_secret|token)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\s\"',;&}]+"
    ),
)


def register_secret(value: str) -> None:
    """Remember ``value`` so that :func:`scrub` masks it wherever it appears (process-wide)."""
    if len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(value)


def scrub(text: object) -> str:
    """``text`` as a string with every registered secret and token-looking fragment masked."""
    out = str(text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leftovers
    for value in known:
        if value in out:
            out = out.replace(value, REDACTED)
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: m.group(1) + REDACTED, out)
    return out


class AmoError(Exception):
    """A request to the amoCRM API failed. The message never contains a secret."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None):
        self.status = status
        self.path = scrub(path) if path is not None else None
        super().__init__(scrub(message))


class AccountBlocked(AmoError):
    """403 with an HTML page: the account is blocked for exceeding the limits. Never retried:
    every further request prolongs the block; only amoCRM support can lift it."""


class AccountUnpaid(AmoError):
    """402: the account's subscription is unpaid; the API answers nothing until it is paid."""


class Unauthorized(AmoError):
    """401 even after one refresh attempt: the token is expired, revoked or wrong."""


class TokenRevoked(Unauthorized):
    """The refresh token was rejected (used already or expired): authorize the app again."""


class Forbidden(AmoError):
    """403 with a JSON body: the token's user lacks the rights for this resource."""


class NotFound(AmoError):
    """404: no such resource (or entity id)."""


class BadRequest(AmoError):
    """400 (or 414): the request was invalid; ``errors`` holds the problem+json details."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        errors: list[dict[str, object]] | None = None,
    ):
        super().__init__(message, status=status, path=path)
        self.errors = errors or []


class BadResponse(AmoError):
    """The server answered 2xx with a body that is not the JSON the API promises."""


class RetriesExhausted(AmoError):
    """429 / 5xx / timeouts went on for every allowed attempt."""


class CredentialsError(AmoError):
    """Credentials are missing or unusable: no token in the environment, a malformed token file,
    or a token file that other users could read."""
