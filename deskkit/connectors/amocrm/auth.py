"""API credentials: a long-lived token, or OAuth 2.0 tokens kept in an owner-only file.

Secrets live in :class:`Secret` objects whose ``repr``/``str`` are redacted and whose values are
registered with :func:`~deskkit.connectors.amocrm.errors.scrub`, so they cannot leak through
logs, exception messages or notebook output by accident.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from deskkit.connectors.amocrm.errors import (
    BadRequest,
    BadResponse,
    CredentialsError,
    TokenRevoked,
    Unauthorized,
    register_secret,
)

__all__ = [
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "Auth",
    "LongLivedToken",
    "OAuthApp",
    "OAuthSession",
    "OAuthTokens",
    "Poster",
    "Secret",
    "read_private_file",
    "write_private_json",
]

TOKEN_ENV: Final = "DESKKIT_AMOCRM_TOKEN"
TOKEN_FILE_ENV: Final = "DESKKIT_AMOCRM_TOKEN_FILE"
CLIENT_ID_ENV: Final = "DESKKIT_AMOCRM_CLIENT_ID"
CLIENT_SECRET_ENV: Final = "DESKKIT_AMOCRM_CLIENT_SECRET"
REDIRECT_URI_ENV: Final = "DESKKIT_AMOCRM_REDIRECT_URI"
OAUTH_PATH: Final = "/oauth2/access_token"
#: Refresh this long before the access token expires (amoCRM access tokens live 24 h).
REFRESH_MARGIN: Final = 300.0
LOCK_TIMEOUT: Final = 120.0

#: Posts a JSON body to a path of the account host and returns the decoded JSON answer; raises
#: the client's exceptions. The client supplies it, so auth needs no HTTP code of its own.
Poster = Callable[[str, Mapping[str, Any]], Any]


@dataclass(frozen=True, eq=True)
class Secret:
    """A secret string: redacted in ``repr``/``str``; ``reveal()`` gives the value."""

    _value: str = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self._value, str) or not self._value:
            raise CredentialsError("a secret must be a non-empty string")
        register_secret(self._value)

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class Auth(Protocol):
    """What the client needs from credentials."""

    def token(self, post: Poster) -> Secret:
        """A current access token (refreshing first if it is about to expire)."""
        ...

    def refresh(self, post: Poster, rejected: Secret) -> bool:
        """After the server rejected ``rejected`` with 401: get a new token if possible.

        Returns False when these credentials cannot be refreshed (a long-lived token).
        """
        ...


# Owner-only files ------------------------------------------------------------------------


def read_private_file(path: str | os.PathLike[str]) -> str:
    """The text of ``path``, refusing files that anyone but their owner (us) may read or write."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY)
    except FileNotFoundError:
        raise CredentialsError(f"token file {p} does not exist") from None
    except OSError as exc:
        raise CredentialsError(f"cannot open token file {p}: {exc.strerror}") from None
    with os.fdopen(fd, encoding="utf-8") as fh:
        # fstat the open file, not the path: nothing can swap the file between check and read.
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise CredentialsError(f"token file {p} is not a regular file")
        if st.st_uid != os.getuid():
            raise CredentialsError(f"token file {p} belongs to another user (uid {st.st_uid})")
        if st.st_mode & 0o077:
            raise CredentialsError(
                f"token file {p} is accessible to group/others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); restrict it with: chmod 600 {p}"
            )
        return fh.read()


def write_private_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically with ``data`` as JSON, mode 0600.

    Written to a temporary file in the same directory, fsynced, then renamed over the target:
    a crash leaves either the old or the new file, never a half-written one (which for a
    single-use refresh token would lock the account out).
    """
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where supported
        dfd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (flock).

    flock locks belong to the open file description, so two threads of one process that open
    the file separately exclude each other too (POSIX fcntl/lockf locks would not).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CredentialsError(
                        f"another process has held the token lock {path} for {timeout:.0f} s"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# Long-lived token -----------------------------------------------------------------------------


class LongLivedToken:
    """The long-lived token of a private integration: no refresh, 1 day to 5 years of life."""

    def __init__(self, token: str | Secret):
        self._token = token if isinstance(token, Secret) else Secret(token.strip())

    @classmethod
    def from_env(cls, var: str = TOKEN_ENV) -> LongLivedToken:
        """The token in environment variable ``var``."""
        value = os.environ.get(var, "").strip()
        if not value:
            raise CredentialsError(f"environment variable {var} is not set")
        return cls(value)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LongLivedToken:
        """The token in an owner-only file: the bare token, or JSON with ``access_token``."""
        text = read_private_file(path).strip()
        if text.startswith("{"):
            try:
                text = str(json.loads(text)["access_token"])
            except (ValueError, KeyError, TypeError):
                raise CredentialsError(f"token file {path} has no access_token") from None
        if not text:
            raise CredentialsError(f"token file {path} is empty")
        return cls(text)

    @classmethod
    def from_env_or_file(cls) -> LongLivedToken:
        """``$DESKKIT_AMOCRM_TOKEN``, else the file named by ``$DESKKIT_AMOCRM_TOKEN_FILE``."""
        if os.environ.get(TOKEN_ENV, "").strip():
            return cls.from_env()
        path = os.environ.get(TOKEN_FILE_ENV, "").strip()
        if not path:
            raise CredentialsError(f"set {TOKEN_ENV} or {TOKEN_FILE_ENV}")
        return cls.from_file(path)

    def token(self, post: Poster) -> Secret:
        """The token (it never changes)."""
        return self._token

    def refresh(self, post: Poster, rejected: Secret) -> bool:
        """A long-lived token cannot be refreshed: a 401 means it expired or was revoked."""
        return False

    def __repr__(self) -> str:
        return "LongLivedToken('***')"


# OAuth 2.0 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthApp:
    """The integration's OAuth client credentials."""

    client_id: str
    client_secret: Secret
    redirect_uri: str

    @classmethod
    def from_env(cls) -> OAuthApp:
        """From DESKKIT_AMOCRM_CLIENT_ID, _CLIENT_SECRET and _REDIRECT_URI."""
        missing = [
            v for v in (CLIENT_ID_ENV, CLIENT_SECRET_ENV, REDIRECT_URI_ENV) if not os.environ.get(v)
        ]
        if missing:
            raise CredentialsError(f"environment variables not set: {', '.join(missing)}")
        return cls(
            os.environ[CLIENT_ID_ENV],
            Secret(os.environ[CLIENT_SECRET_ENV]),
            os.environ[REDIRECT_URI_ENV],
        )


@dataclass(frozen=True)
class OAuthTokens:
    """An access/refresh token pair and when the access token expires (Unix seconds)."""

    access_token: Secret
    refresh_token: Secret
    expires_at: float

    def expiring(self, now: float, margin: float) -> bool:
        """Whether the access token expires within ``margin`` seconds of ``now``."""
        return self.expires_at - margin <= now

    def to_json(self) -> dict[str, Any]:
        """The file form (the only place the values are written out)."""
        return {
            "token_type": "Bearer",
            "access_token": self.access_token.reveal(),
            "refresh_token": self.refresh_token.reveal(),
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> OAuthTokens:
        """Parse the file form; ``source`` names the file in errors."""
        try:
            return cls(
                Secret(str(data["access_token"])),
                Secret(str(data["refresh_token"])),
                float(data["expires_at"]),
            )
        except (KeyError, TypeError, ValueError, CredentialsError):
            raise CredentialsError(
                f"{source} is not an OAuth token file (needs access_token, refresh_token, "
                "expires_at)"
            ) from None


class OAuthSession:
    """OAuth 2.0 tokens persisted in an owner-only JSON file, shared safely between processes.

    amoCRM refresh tokens are single-use: if two syncs refreshed at once, the loser would hold
    a revoked token. So every refresh happens under an exclusive lock on ``<file>.lock``; after
    taking it a process re-reads the file and uses the token another process may have just
    stored. The new pair is written (atomically, 0600) before the new access token is used, so
    a crash cannot lose the only valid refresh token.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        app: OAuthApp,
        *,
        refresh_margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ):
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._app = app
        self._margin = refresh_margin
        self._clock = clock
        self._mutex = threading.Lock()
        self._state: OAuthTokens | None = None

    @property
    def path(self) -> Path:
        """The token file."""
        return self._path

    def _read(self) -> OAuthTokens:
        text = read_private_file(self._path)
        try:
            data = json.loads(text)
        except ValueError:
            raise CredentialsError(f"token file {self._path} is not valid JSON") from None
        return OAuthTokens.from_json(data, f"token file {self._path}")

    def exchange_code(self, post: Poster, code: str | Secret) -> None:
        """Trade an authorization code (from the redirect after the user's consent) for tokens,
        and store them."""
        code = code if isinstance(code, Secret) else Secret(code)
        with self._mutex, _file_lock(self._lock_path):
            tokens = self._grant(post, {"grant_type": "authorization_code", "code": code.reveal()})
            write_private_json(self._path, tokens.to_json())
            self._state = tokens

    def token(self, post: Poster) -> Secret:
        """The current access token, refreshed first when it expires within the margin."""
        state = self._state
        if state is None:
            with self._mutex:
                state = self._state = self._read()
        if not state.expiring(self._clock(), self._margin):
            return state.access_token
        return self._refresh(post, rejected=None)

    def refresh(self, post: Poster, rejected: Secret) -> bool:
        """Refresh after a 401 for ``rejected`` (unless another process already did)."""
        self._refresh(post, rejected)
        return True

    def _refresh(self, post: Poster, rejected: Secret | None) -> Secret:
        with self._mutex, _file_lock(self._lock_path):
            # Another process (or thread) may have refreshed while we waited for the lock.
            state = self._read()
            if rejected is None:
                fresh = not state.expiring(self._clock(), self._margin)
            else:
                fresh = state.access_token != rejected
            if not fresh:
                grant = {"grant_type": "refresh_token", "refresh_token": state.refresh_token}
                state = self._grant(post, grant)
                # Persist before use: the old refresh token is dead from this moment on.
                write_private_json(self._path, state.to_json())
            self._state = state
            return state.access_token

    def _grant(self, post: Poster, grant: dict[str, Any]) -> OAuthTokens:
        body = {
            "client_id": self._app.client_id,
            "client_secret": self._app.client_secret.reveal(),
            "redirect_uri": self._app.redirect_uri,
            **{k: v.reveal() if isinstance(v, Secret) else v for k, v in grant.items()},
        }
        try:
            answer = post(OAUTH_PATH, body)
        except (Unauthorized, BadRequest) as exc:
            # The refresh token (or code) was used already or has expired. amoCRM has been
            # seen answering this with 401 and with 400 ("Token has been revoked"); other 400s
            # (a wrong redirect_uri, say) are configuration errors and stay what they are.
            if isinstance(exc, BadRequest) and not re.search(r"(?i)revoked|expired", str(exc)):
                raise
            raise TokenRevoked(
                f"amoCRM rejected the {grant['grant_type']} grant ({exc}); authorize the "
                f"integration again and store the new tokens in {self._path}",
                status=exc.status,
                path=OAUTH_PATH,
            ) from None
        try:
            access = Secret(str(answer["access_token"]))
            refresh = Secret(str(answer["refresh_token"]))
            expires_in = float(answer.get("expires_in", 86400))
        except (KeyError, TypeError, ValueError, AttributeError, CredentialsError):
            raise BadResponse("the token endpoint answered without a token pair") from None
        return OAuthTokens(access, refresh, self._clock() + expires_in)

    def __repr__(self) -> str:
        return f"OAuthSession(path={str(self._path)!r}, client_id={self._app.client_id!r})"
