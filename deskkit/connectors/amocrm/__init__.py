"""The amoCRM / Kommo API v4 connector: HTTP client, credentials, and a local stand-in server.

>>> from deskkit.connectors.amocrm import AmoClient, LongLivedToken
>>> client = AmoClient.for_account("mycompany", LongLivedToken.from_env())  # doctest: +SKIP
>>> leads = list(client.records("/api/v4/leads", {"limit": 250}))           # doctest: +SKIP

The stand-in server (``StandIn``, from ``deskkit.connectors.amocrm.standin``) is imported on
first use; the client and auth modules need only the standard library. The sync into a deskkit
store is ``deskkit.connectors.amocrm.sync.sync`` (``deskkit sync`` on the command line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deskkit.connectors.amocrm.auth import (
    Auth,
    LongLivedToken,
    OAuthApp,
    OAuthSession,
    OAuthTokens,
    Secret,
)
from deskkit.connectors.amocrm.client import (
    AmoClient,
    Page,
    Response,
    RetryPolicy,
    account_url,
    chunked,
)
from deskkit.connectors.amocrm.errors import (
    AccountBlocked,
    AccountUnpaid,
    AmoError,
    BadRequest,
    BadResponse,
    CredentialsError,
    Forbidden,
    NotFound,
    RetriesExhausted,
    TokenRevoked,
    Unauthorized,
    scrub,
)
from deskkit.connectors.amocrm.faults import Faults
from deskkit.connectors.amocrm.ratelimit import DEFAULT_RATE, RateLimiter, shared_limiter

if TYPE_CHECKING:
    from deskkit.connectors.amocrm.standin import StandIn

__all__ = (
    "DEFAULT_RATE",
    "AccountBlocked",
    "AccountUnpaid",
    "AmoClient",
    "AmoError",
    "Auth",
    "BadRequest",
    "BadResponse",
    "CredentialsError",
    "Faults",
    "Forbidden",
    "LongLivedToken",
    "NotFound",
    "OAuthApp",
    "OAuthSession",
    "OAuthTokens",
    "Page",
    "RateLimiter",
    "Response",
    "RetriesExhausted",
    "RetryPolicy",
    "Secret",
    "StandIn",
    "TokenRevoked",
    "Unauthorized",
    "account_url",
    "chunked",
    "scrub",
    "shared_limiter",
)


def __getattr__(name: str) -> Any:
    # The stand-in (an HTTP server over DuckDB) is test tooling: loaded only when asked for.
    if name == "StandIn":
        from deskkit.connectors.amocrm.standin import StandIn

        return StandIn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
