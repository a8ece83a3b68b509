"""The deskkit command line."""

from __future__ import annotations

import ibis
from accounts import AccountBuilder

from deskkit.cli import main, voila_command


def test_flow_prints_the_stage_table(tmp_path, capsys):
    path = tmp_path / "crm.duckdb"
    b = AccountBuilder()
    b.deal(1, "2026-02-10", 11, price=1234, moves=[("2026-03-05", 13)])
    b.write(ibis.duckdb.connect(str(path))).disconnect()
    code = main(["flow", "--store", str(path), "--start", "2026-03-01", "--end", "2026-03-31"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Sales · 2026-03-01 – 2026-03-31 · RUB" in out
    assert "new 0 · won 0" in out
    lines = [line.split() for line in out.splitlines()]
    assert next(row for row in lines if row[:2] == ["13", "C"])[:6] == [
        "13",
        "C",
        "1",
        "1234.0",
        "1",
        "0",
    ]


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    assert main(["flow", "--store", str(tmp_path / "missing.duckdb")]) == 2
    assert "deskkit: error: no deskkit store at" in capsys.readouterr().err


def test_demo_writes_a_deterministic_account(tmp_path, capsys):
    out = tmp_path / "d.duckdb"
    assert (
        main(["demo", "--deals", "1000", "--seed", "3", "--as-of", "2026-11-27", "--out", str(out)])
        == 0
    )
    assert out.exists()
    con = ibis.duckdb.connect(str(out), read_only=True)
    assert con.table("deals").count().execute() == 1000


def test_voila_is_served_without_source_with_culling_and_a_warm_kernel():
    cmd = " ".join(voila_command())
    for option in [
        "--strip_sources=True",
        "--preheat_kernel=True",
        "--pool_size=1",
        "--MappingKernelManager.cull_idle_timeout=",
        "--Voila.ip=127.0.0.1",
        "--port=8866",
        "notebooks/desk.ipynb",
    ]:
        assert option in cmd
