"""``deskkit sync`` and notebooks/connect_amocrm.ipynb against the stand-in: they work, and
neither ever shows the token."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from stores import AS_OF
from test_sync_helpers import TOKEN, serve

import deskkit
from deskkit.cli import main
from deskkit.connectors.amocrm.standin import StandIn

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "connect_amocrm.ipynb"


@pytest.fixture
def standin(amo_store: Path) -> Iterator[StandIn]:
    yield from serve(amo_store)


@pytest.fixture
def no_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DESKKIT_AMOCRM_TOKEN", "DESKKIT_AMOCRM_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)


def test_sync_command_syncs_with_the_token_from_the_environment(
    standin, tmp_path, capsys, monkeypatch, no_token_env
):
    monkeypatch.setenv("DESKKIT_AMOCRM_TOKEN", TOKEN)
    store = tmp_path / "crm.duckdb"
    # Progress bars on (the default): they go to stderr, with stream names and counts only.
    fast = ["--rate", "1000"]  # a stand-in on this machine: no need to wait for the API's limit
    assert main(["sync", "--base-url", standin.url, "--store", str(store), *fast]) == 0
    out, err = capsys.readouterr()
    assert "full sync published as generation 1" in out and "events" in err
    assert TOKEN not in out + err
    desk = deskkit.open(store)
    assert desk.store.table("deals").count().execute() > 0
    desk.store.backend.disconnect()
    assert (
        main(["sync", "--base-url", standin.url, "--store", str(store), *fast, "--no-progress"])
        == 0
    )
    assert "incremental sync published as generation 2" in capsys.readouterr().out


def test_sync_command_reads_a_token_file_and_refuses_a_readable_one(
    standin, tmp_path, capsys, no_token_env
):
    token_file = tmp_path / "token"
    token_file.write_text(json.dumps({"access_token": TOKEN}))
    token_file.chmod(0o644)
    args = ["sync", "--base-url", standin.url, "--store", str(tmp_path / "crm.duckdb")]
    args += ["--rate", "1000"]
    assert main([*args, "--token-file", str(token_file), "--no-progress"]) == 2
    assert "chmod 600" in capsys.readouterr().err
    token_file.chmod(0o600)
    assert main([*args, "--token-file", str(token_file), "--no-progress"]) == 0
    assert TOKEN not in "".join(capsys.readouterr())


def test_sync_command_errors_are_clear_and_secret_free(
    standin, tmp_path, capsys, monkeypatch, no_token_env
):
    store = tmp_path / "crm.duckdb"
    assert main(["sync", "--base-url", standin.url, "--store", str(store)]) == 2
    assert "set DESKKIT_AMOCRM_TOKEN or DESKKIT_AMOCRM_TOKEN_FILE" in capsys.readouterr().err
    monkeypatch.setenv("DESKKIT_AMOCRM_TOKEN", TOKEN)
    standin.faults.block()
    standin.faults.echo_headers()
    assert main(["sync", "--base-url", standin.url, "--store", str(store), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "blocked" in err and "published store is unchanged" in err and TOKEN not in err
    assert not store.exists()
    assert main(["sync", "--store", str(store)]) == 2
    assert "give --subdomain" in capsys.readouterr().err
    # Faster than the API allows is refused for a real account (before any request).
    real = ["sync", "--subdomain", "example", "--store", str(store), "--rate", "20"]
    assert main(real) == 2
    assert "at most 7 requests per second" in capsys.readouterr().err


def test_notebook_is_committed_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    sources = "\n".join(c.source for c in nb.cells)
    assert "python -m deskkit.connectors.amocrm.standin" in sources
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
            # Composition only, and no credentials in the notebook.
            assert "ibis" not in cell.source and "token=" not in cell.source.lower()


@pytest.mark.notebook
def test_notebook_syncs_and_shows_the_desktop_against_the_stand_in(
    tmp_path, monkeypatch, no_token_env
):
    from nbclient import NotebookClient

    from deskkit.connectors.demo import generate

    # A 30-deal account: the notebook's client keeps to the API's 6.5 requests per second.
    account = generate(tmp_path / "demo-30.duckdb", deals=30, seed=7, as_of=AS_OF)
    store = tmp_path / "crm.duckdb"
    standin = StandIn(account, token=TOKEN, rate_limit=None).start()
    monkeypatch.setenv("DESKKIT_AMOCRM_BASE_URL", standin.url)
    monkeypatch.setenv("DESKKIT_AMOCRM_TOKEN", TOKEN)
    monkeypatch.setenv("DESKKIT_STORE", str(store))
    monkeypatch.setenv("DESKKIT_DATA", str(tmp_path / "data"))  # layouts, compiled SQL
    nb = nbformat.read(NOTEBOOK, as_version=4)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    finally:
        standin.stop()
    assert os.path.islink(store)
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "full sync published as generation 1" in outputs
    assert "application/vnd.jupyter.widget-view+json" in outputs
    assert TOKEN not in outputs and TOKEN not in json.dumps(nb.metadata)
