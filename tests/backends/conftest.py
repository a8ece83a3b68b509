"""A throwaway PostgreSQL server on 127.0.0.1, started from Debian's binaries for the session."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL cluster (trust auth, loopback only), stopped afterwards."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (make test installs them)")
    # Not under pytest's tmp folder: that one is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="deskkit-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    # PostgreSQL refuses to run as root: run it as the 'postgres' system user when we are root.
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "deskkit",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        **run,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(root / "server.log"),
            "start",
        ],
        **run,
    )
    try:
        yield f"postgres://deskkit@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def desks(postgres_url: str, test_store):
    """(DuckDB desk, PostgreSQL desk) over the same demo account, copied once per session."""
    import ibis

    import deskkit
    from deskkit.store import SCHEMA

    duck = deskkit.open(test_store.path, now=test_store.now)
    pg = ibis.connect(postgres_url)
    for name in SCHEMA:
        pg.create_table(name, duck.store.table(name).to_pyarrow(), overwrite=True)
    pg.disconnect()
    return duck, deskkit.open(postgres_url, now=test_store.now)
