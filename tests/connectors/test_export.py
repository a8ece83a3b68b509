"""Importing amoCRM export files (CSV / XLSX) into a store: headers, encodings, values, custom
fields, rejects, idempotence, existing stores, metrics on the result and the command line."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import ibis
import pytest
from accounts import AccountBuilder
from openpyxl import Workbook

import deskkit
from deskkit.cli import main
from deskkit.connectors.export import ExportFileError, import_files
from deskkit.connectors.export.headers import map_columns, normalise
from deskkit.connectors.export.names import is_synthetic, stage_kind
from deskkit.connectors.export.values import (
    parse_id,
    parse_local_datetime,
    parse_number,
    to_utc,
)

NOW = dt.datetime(2026, 12, 1, 9, 0)  # import time, naive UTC
MSK = ZoneInfo("Europe/Moscow")

RU_HEADER = [
    "ID",
    "Название сделки",
    "Бюджет, руб.",
    "Ответственный",
    "Дата создания сделки",
    "Кем создана сделка",
    "Дата редактирования",
    "Дата закрытия",
    "Теги",
    "Примечание",
    "Этап сделки",
    "Воронка",
    "Полное имя контакта",
    "Компания",
    "Источник",
    "Причина отказа",
    "Город",
    "Количество мест",
    "Дата договора",
]
RU_ROWS = [
    # id, name, budget, resp, created, by, modified, closed, tags, note, stage, pipeline,
    # contact, company, source, loss reason, then three custom columns
    ["101", "Окна", "1 500 000,50", "Анна Петрова", "27.11.2026 15:04:05", "Анна Петрова",
     "28.11.2026 10:00", "", "vip, опт", "Позвонить в пн", "Переговоры", "Продажи",
     "Иван Иванов", "ООО Ромашка", "Сайт", "", "Москва", "12", "01.12.2026"],
    ["102", "Двери", "25\u00a0000", "Борис Смирнов", "05.11.2026 09:30", "Борис Смирнов",
     "20.11.2026", "20.11.2026", "", "", "Успешно реализовано", "Продажи",
     "", "", "Реклама", "", "Казань", "3,5", ""],
    ["103", "Потолки", "10000", "анна петрова", "2026-11-03", "", "", "03.11.2026 12:00", "",
     "", "Закрыто и не реализовано", "Продажи", "Иван Иванов", "", "", "Дорого", "", "", ""],
    ["104", "Полы", "7 000", "Борис Смирнов", "10.11.2026 11:00", "", "", "", "", "",
     "Неразобранное", "Продажи", "", "", "Сайт", "", "", "", ""],
]  # fmt: skip

EN_HEADER = [
    "ID",
    "Lead name",
    "Sale",
    "Responsible user",
    "Date created",
    "Modified",
    "Closed",
    "Tags",
    "Lead status",
    "Pipeline",
    "Company",
    "Main contact",
    "Source",
    "Loss reason",
    "Seats",
]
EN_ROWS = [
    ["201", "Website redesign", "1,500", "Jane Roe", "2026-11-02 10:00:00", "", "", "web",
     "Initial contact", "Sales", "Acme", "John Doe", "Website", "", "4"],
    ["202", "Audit", "2,500.75", "Jane Roe", "03.11.2026 12:30", "", "04.11.2026", "",
     "Closed - won", "Sales", "", "", "Referral", "", "2"],
    ["203", "Spam", "0", "Max Mustermann", "04.11.2026", "", "04.11.2026", "", "Closed - lost",
     "Sales", "", "", "", "Not interested", ""],
    ["204", "New lead", "", "Max Mustermann", "05.11.2026 08:00", "", "", "", "Incoming leads",
     "Sales", "", "", "Website", "", ""],
]  # fmt: skip


def write_csv(
    path: Path, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def table(store: Path, name: str, order: str = "1") -> list[dict]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        cur = con.execute(f'SELECT * FROM "{name}" ORDER BY {order}')
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def counts(store: Path) -> dict[str, int]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


@pytest.fixture
def ru_csv(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "сделки.csv", [RU_HEADER, *RU_ROWS], encoding="cp1251", delimiter=";"
    )


@pytest.fixture
def en_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "leads.csv", [EN_HEADER, *EN_ROWS], encoding="utf-8-sig")


# Files and headers ----------------------------------------------------------------------------


def test_russian_cp1251_semicolon_export(tmp_path, ru_csv):
    store = tmp_path / "crm.duckdb"
    result = import_files([ru_csv], store, now=NOW)
    (f,) = result.files
    assert (f.entity, f.encoding, f.delimiter, f.rows, f.loaded, f.rejected) == (
        "deals", "cp1251", ";", 4, 4, 0
    )  # fmt: skip
    assert result.created and result.timezone == "Europe/Moscow"
    deals = {d["deal_id"]: d for d in table(store, "deals")}
    first = deals[101]
    assert first["name"] == "Окна" and first["price"] == 1_500_000.5
    # 15:04:05 in Moscow (UTC+3) is 12:04:05 UTC; a date alone is local midnight.
    assert first["created_at"] == dt.datetime(2026, 11, 27, 12, 4, 5)
    assert first["updated_at"] == dt.datetime(2026, 11, 28, 7, 0)
    assert deals[102]["price"] == 25_000
    assert deals[102]["closed_at"] == dt.datetime(2026, 11, 19, 21)
    assert deals[103]["created_at"] == dt.datetime(2026, 11, 2, 21, 0)
    # One user per name, whatever its case; the author column feeds created_by.
    users = {u["name"]: u for u in table(store, "users")}
    assert set(users) == {"Анна Петрова", "Борис Смирнов"}
    assert all(is_synthetic(u["user_id"]) and u["deal_access"] == "own" for u in users.values())
    assert deals[103]["responsible_user_id"] == users["Анна Петрова"]["user_id"]
    assert deals[101]["created_by"] == users["Анна Петрова"]["user_id"]
    (pipe,) = table(store, "pipelines")
    assert pipe["name"] == "Продажи" and pipe["is_main"]
    kinds = {s["name"]: (s["stage_id"], s["kind"]) for s in table(store, "stages")}
    assert kinds["Успешно реализовано"] == (142, "won")
    assert kinds["Закрыто и не реализовано"] == (143, "lost")
    assert kinds["Неразобранное"][1] == "unsorted" and kinds["Переговоры"][1] == "open"
    account = table(store, "account")[0]
    assert (account["timezone"], account["currency"]) == ("Europe/Moscow", "RUB")
    assert {t["tag"] for t in table(store, "tags")} == {"vip", "опт"}
    assert [n["text"] for n in table(store, "notes")] == ["Позвонить в пн"]
    sources = {s["name"] for s in table(store, "lead_sources")}
    assert sources == {"Сайт", "Реклама"}
    assert [r["name"] for r in table(store, "loss_reasons")] == ["Дорого"]
    # Company and main contact given by name become linked rows.
    company = table(store, "companies")[0]
    assert company["name"] == "ООО Ромашка" and first["company_id"] == company["id"]
    contact = table(store, "contacts")[0]
    assert first["main_contact_id"] == deals[103]["main_contact_id"] == contact["id"]


def test_english_utf8_bom_comma_export(tmp_path, en_csv):
    store = tmp_path / "crm.duckdb"
    result = import_files([en_csv], store, timezone="UTC", currency="usd", now=NOW)
    (f,) = result.files
    assert (f.encoding, f.delimiter, f.loaded) == ("utf-8-sig", ",", 4)
    deals = {d["deal_id"]: d for d in table(store, "deals")}
    # An English export groups thousands with a comma.
    assert deals[201]["price"] == 1500 and deals[202]["price"] == 2500.75
    assert deals[204]["price"] is None
    assert deals[201]["created_at"] == dt.datetime(2026, 11, 2, 10)
    kinds = {s["name"]: s["kind"] for s in table(store, "stages")}
    assert kinds == {
        "Initial contact": "open",
        "Closed - won": "won",
        "Closed - lost": "lost",
        "Incoming leads": "unsorted",
    }
    assert table(store, "account")[0]["currency"] == "USD"
    assert table(store, "custom_fields")[0]["type"] == "numeric"


def test_excel_sep_hint_line_and_a_title_row_above_the_header(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(
        "sep=,\nВыгрузка сделок,,\nID,Название сделки,Этап сделки\n1,Окна;двери,Переговоры\n",
        encoding="utf-8",
    )
    result = import_files([path], tmp_path / "crm.duckdb")
    (f,) = result.files
    assert (f.delimiter, f.loaded) == (",", 1)
    assert any("header is on row 2" in w for w in f.warnings)
    assert table(tmp_path / "crm.duckdb", "deals")[0]["name"] == "Окна;двери"


def test_xlsx_export_with_typed_cells(tmp_path):
    path = write_xlsx(
        tmp_path / "deals.xlsx",
        [
            ["ID", "Название сделки", "Бюджет", "Ответственный", "Дата создания", "Этап сделки"],
            [301.0, "Ноутбуки", 99_000, "Анна", dt.datetime(2026, 11, 27, 15, 4), "Переговоры"],
            [302, "Мониторы", "1 200,5", "Анна", "27.11.2026 15:04:05", "Переговоры"],
            [303, "Кабели", 10.5, "Анна", dt.date(2026, 11, 27), "Переговоры"],
        ],
    )
    store = tmp_path / "crm.duckdb"
    result = import_files([path], store)
    assert (result.files[0].format, result.files[0].encoding) == ("xlsx", None)
    deals = {d["deal_id"]: d for d in table(store, "deals")}
    assert set(deals) == {301, 302, 303}
    assert deals[301]["price"] == 99_000 and deals[302]["price"] == 1200.5
    assert deals[301]["created_at"] == dt.datetime(2026, 11, 27, 12, 4)
    assert deals[302]["created_at"] == dt.datetime(2026, 11, 27, 12, 4, 5)
    assert deals[303]["created_at"] == dt.datetime(2026, 11, 26, 21)
    # The pipeline column is missing: the deals go to a default pipeline.
    assert [p["name"] for p in table(store, "pipelines")] == ["Воронка"]


def test_headers_match_whatever_the_case_spacing_and_currency_sign():
    cols = map_columns(["id", "  название   СДЕЛКИ ", "Бюджет, ₽", "ЭТАП сделки", "Утм метка"])
    assert cols.entity == "deals" and cols.currency == "RUB"
    assert cols.fields == {"id": 0, "name": 1, "price": 2, "stage": 3}
    assert cols.custom == ((4, "Утм метка"),)
    assert normalise("Closed – won") == normalise("closed-WON") == "closed won"


def test_the_entity_comes_from_the_headers_or_must_be_given(tmp_path):
    assert map_columns(["ID", "Полное имя контакта", "Телефон"]).entity == "contacts"
    assert map_columns(["ID", "Название компании", "Web"]).entity == "companies"
    assert map_columns(["ID", "Тип", "Полное имя контакта"]).entity == "contacts+companies"
    # A contact's custom field named like a generic deal column does not make it a deal.
    assert map_columns(["ID", "Полное имя контакта", "Статус", "Stage"]).entity == "contacts"
    path = write_csv(tmp_path / "x.csv", [["ID", "Name", "Phone"], ["1", "Acme", "123"]])
    with pytest.raises(ExportFileError, match="pass --entity"):
        import_files([path], tmp_path / "s.duckdb")
    result = import_files([path], tmp_path / "s.duckdb", entity="companies")
    assert result.files[0].entity == "companies"
    assert table(tmp_path / "s.duckdb", "companies")[0]["name"] == "Acme"


def test_a_repeated_standard_title_keeps_the_first_and_makes_the_rest_custom():
    cols = map_columns(["ID", "Название сделки", "Этап сделки", "Источник", "Город", "Источник"])
    assert cols.fields["source"] == 3
    assert cols.custom == ((4, "Город"), (5, "Источник (2)"))
    assert any("second 'source' column" in w for w in cols.warnings)


# Values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("27.11.2026 15:04:05", dt.datetime(2026, 11, 27, 15, 4, 5)),
        ("27.11.2026 15:04", dt.datetime(2026, 11, 27, 15, 4)),
        ("27.11.2026", dt.datetime(2026, 11, 27)),
        ("27-11-2026 15:04:05", dt.datetime(2026, 11, 27, 15, 4, 5)),
        ("2026-11-27", dt.datetime(2026, 11, 27)),
        ("2026-11-27 15:04:05", dt.datetime(2026, 11, 27, 15, 4, 5)),
        ("2026-11-27T15:04:05", dt.datetime(2026, 11, 27, 15, 4, 5)),
    ],
)
def test_every_date_format_is_read_in_the_account_time_zone(text, local):
    moment, _ = parse_local_datetime(text)
    assert to_utc(moment, MSK) == local - dt.timedelta(hours=3)


def test_an_iso_date_with_an_offset_keeps_its_offset():
    moment, has_time = parse_local_datetime("2026-11-27T15:04:05+05:00")
    assert has_time and to_utc(moment, MSK) == dt.datetime(2026, 11, 27, 10, 4, 5)


@pytest.mark.parametrize("text", ["32.10.2026", "11/27/2026", "вчера", "27.11.2026 25:00"])
def test_a_date_that_cannot_be_read_is_an_error_naming_the_formats(text):
    with pytest.raises(ValueError, match=r"is not a date .*DD\.MM\.YYYY"):
        parse_local_datetime(text)


@pytest.mark.parametrize(
    ("text", "decimal_comma", "value"),
    [
        ("1 500 000,50", True, 1_500_000.5),
        ("1\u00a0500\u00a0000,50", True, 1_500_000.5),
        ("1\u202f500", True, 1500.0),
        ("1500000.50", True, 1_500_000.5),
        ("1,5", True, 1.5),
        ("1,500", True, 1.5),
        ("1,500", False, 1500.0),
        ("1,500.25", False, 1500.25),
        ("1.500.000,5", True, 1_500_000.5),
        ("1 500 ₽", True, 1500.0),
        ("$2,000", False, 2000.0),
        ("−200", True, -200.0),
        (99_000, True, 99_000.0),
    ],
)
def test_money_formats(text, decimal_comma, value):
    assert parse_number(text, decimal_comma) == value


@pytest.mark.parametrize("text", ["12abc", "1,2,3", "27.11.2026", "+7 999 123-45-67", "1 2 3"])
def test_text_that_only_looks_numeric_is_not_a_number(text):
    with pytest.raises(ValueError, match="is not a number"):
        parse_number(text)


def test_ids_are_positive_whole_numbers():
    assert parse_id("12345") == parse_id(12345.0) == 12345
    for bad in ["12a", "-5", "0", "1.5"]:
        with pytest.raises(ValueError):
            parse_id(bad)


def test_stage_kinds_follow_amocrm_names():
    assert stage_kind("Успешно реализовано") == stage_kind("Closed – Won") == "won"
    assert stage_kind("закрыто и не реализовано") == stage_kind("Closed - lost") == "lost"
    assert stage_kind("Неразобранное") == stage_kind("Incoming leads") == "unsorted"
    assert stage_kind("Переговоры") == "open"


# Custom fields and rejects -------------------------------------------------------------------


def test_unknown_columns_become_typed_custom_fields(tmp_path, ru_csv):
    store = tmp_path / "crm.duckdb"
    import_files([ru_csv], store)
    fields = {f["name"]: f for f in table(store, "custom_fields")}
    assert {n: f["type"] for n, f in fields.items()} == {
        "Город": "text",
        "Количество мест": "numeric",
        "Дата договора": "date",
    }
    values = {(v["entity_id"], v["field_id"]): v["value"] for v in table(store, "custom_values")}
    seats = fields["Количество мест"]["field_id"]
    assert values[(101, seats)] == "12" and values[(102, seats)] == "3.5"
    assert values[(101, fields["Дата договора"]["field_id"])] == "2026-12-01"
    assert (104, seats) not in values  # blank cells are no value


def test_custom_type_inference_keeps_codes_phones_and_lists_as_text(tmp_path):
    rows = [
        ["ID", "Название сделки", "Этап сделки", "Код", "Телефон", "Товары", "Визит", "Вес"],
        ["1", "A", "Этап 1", "007", "+7 999 123-45-67", "Окна, Двери", "27.11.2026 10:00", "5"],
        ["2", "B", "Этап 1", "12", "89991234567", "Окна", "28.11.2026", "1 000,5"],
    ]
    store = tmp_path / "crm.duckdb"
    import_files([write_csv(tmp_path / "d.csv", rows)], store)
    types = {f["name"]: f["type"] for f in table(store, "custom_fields")}
    assert types == {
        "Код": "text",
        "Телефон": "text",
        "Товары": "text",
        "Визит": "date_time",
        "Вес": "numeric",
    }
    values = [v["value"] for v in table(store, "custom_values", "entity_id, field_id")]
    # A multi-value cell is one text value; a date-time is local wall time, ISO.
    assert "Окна, Двери" in values and "2026-11-27 10:00:00" in values and "1000.5" in values


def test_custom_values_follow_the_latest_export(tmp_path):
    store = tmp_path / "crm.duckdb"
    header = ["ID", "Название сделки", "Этап сделки", "Город", "UTM", ""]
    path = write_csv(tmp_path / "d.csv", [header, ["1", "A", "Этап 1", "Москва", "", "x"]])
    result = import_files([path], store)
    # An empty column makes no field; an untitled column with values is kept.
    assert result.files[0].custom_fields == ("Город", "column 6")
    assert {f["name"] for f in table(store, "custom_fields")} == {"Город", "column 6"}
    write_csv(path, [header, ["1", "A", "Этап 1", "", "", ""]])
    import_files([path], store)
    assert table(store, "custom_values") == []  # cleared in amoCRM, cleared here


def test_bad_rows_are_rejected_with_reasons_and_the_rest_is_loaded(tmp_path):
    header = ["ID", "Название сделки", "Бюджет", "Дата создания", "Этап сделки"]
    rows = [
        header,
        ["1", "ok", "100", "01.11.2026", "Первичный контакт"],
        ["", "no id", "100", "01.11.2026", "Первичный контакт"],
        ["3", "bad date", "100", "31.11.2026", "Первичный контакт"],
        ["4", "bad money", "сто", "01.11.2026", "Первичный контакт"],
        ["5", "twice", "100", "01.11.2026", "Первичный контакт"],
        ["5", "twice but different", "200", "01.11.2026", "Первичный контакт"],
        ["6", "same twice", "100", "01.11.2026", "Первичный контакт"],
        ["6", "same twice", "100", "01.11.2026", "Первичный контакт"],
        ["7", "no stage", "100", "01.11.2026", ""],
        ["8", "too wide", "100", "01.11.2026", "Первичный контакт", "extra"],
        ["x9", "bad id", "100", "01.11.2026", "Первичный контакт"],
        [],
    ]
    store = tmp_path / "crm.duckdb"
    result = import_files([write_csv(tmp_path / "deals.csv", rows)], store, now=NOW)
    (f,) = result.files
    assert (f.rows, f.loaded, f.rejected, f.duplicates) == (11, 2, 8, 1)
    assert f.rows == f.loaded + f.rejected + f.duplicates  # nothing is dropped silently
    assert sorted(d["deal_id"] for d in table(store, "deals")) == [1, 6]
    reasons = {r.row: r.reason for r in result.rejects}
    assert reasons[3] == "ID: empty (every row needs an id)"
    assert reasons[4].startswith("Дата создания: '31.11.2026' is not a date")
    assert reasons[5] == "Бюджет: 'сто' is not a number"
    assert reasons[6] == reasons[7] == "ID: deal 5 appears on rows 6, 7 with different content"
    assert reasons[10] == "Этап сделки: empty (a deal needs a stage)"
    assert reasons[11] == "the row has 6 cells but the header has 5"
    assert reasons[12] == "ID: 'x9' is not a whole number"
    stored = table(store, "rejects", "reason")
    assert len(stored) == 8
    assert all(r["source"] == "export:deals.csv" and r["at"] == NOW for r in stored)
    bad_money = next(r for r in stored if r["reason"].startswith("row 5:"))
    assert json.loads(bad_money["raw"]) == dict(zip(header, rows[4], strict=True))


# Idempotence and existing stores --------------------------------------------------------------


def test_importing_the_same_files_twice_changes_nothing(tmp_path, ru_csv, en_csv):
    store = tmp_path / "crm.duckdb"
    bad_rows = [["ID", "Название сделки", "Этап сделки"], ["", "x", "y"]]
    bad = write_csv(tmp_path / "bad.csv", bad_rows)
    first = import_files([ru_csv, en_csv, bad], store, now=NOW)
    before = counts(store)
    snapshot = {t: table(store, t) for t in ("deals", "users", "stages", "custom_values")}
    second = import_files([ru_csv, en_csv, bad], store, now=NOW)
    assert counts(store) == before
    assert {t: table(store, t) for t in snapshot} == snapshot
    assert not second.created and second.rejected == first.rejected == 1
    assert "users" not in second.rows and second.rows["deals"] == 8


def test_importing_into_an_existing_store_reuses_its_names(tmp_path):
    store = tmp_path / "synced.duckdb"
    b = AccountBuilder()  # users Anna, Boris, Vera, Head; pipeline Sales: Incoming, A, B, C …
    b.deal(1, "2026-10-01", 11, price=100, owner=2)
    b.add("lead_sources", id=9101, name="Website")
    b.write(ibis.duckdb.connect(str(store))).disconnect()
    before = counts(store)
    rows = [
        ["ID", "Lead name", "Responsible user", "Lead status", "Pipeline", "Source", "Closed"],
        ["1", "Renamed", "anna", "b", "sales", "WEBSITE", ""],
        ["2", "Won one", "BORIS", "Closed - won", "Sales", "", "2026-11-02 10:00"],
    ]
    result = import_files([write_csv(tmp_path / "leads.csv", rows)], store)
    assert result.timezone == "UTC"  # the store's account time zone
    after = counts(store)
    assert after["users"] == before["users"] and after["stages"] == before["stages"]
    assert after["lead_sources"] == 1 and after["deals"] == 2
    deals = {d["deal_id"]: d for d in table(store, "deals")}
    assert deals[1]["name"] == "Renamed" and deals[1]["responsible_user_id"] == 1
    assert (deals[1]["pipeline_id"], deals[1]["stage_id"], deals[1]["source_id"]) == (1, 12, 9101)
    # The builder's won stage is named "Won": "Closed - won" is still that stage.
    assert (deals[2]["stage_id"], deals[2]["responsible_user_id"]) == (142, 2)
    # Columns the file does not have keep the stored values (price, created_at of deal 1).
    assert deals[1]["price"] == 100 and deals[1]["created_at"] == dt.datetime(2026, 10, 1)
    assert deals[2]["price"] is None and deals[2]["created_at"] is None


def test_contacts_companies_and_deals_link_by_name(tmp_path):
    store = tmp_path / "crm.duckdb"
    deals = write_csv(
        tmp_path / "deals.csv",
        [
            ["ID", "Название сделки", "Этап сделки", "Компания", "Основной контакт"],
            ["1", "Окна", "Переговоры", "ООО Ромашка", "Иван Иванов"],
        ],
    )
    # Deals first: the contact and company are only names, so they get synthetic rows …
    import_files([deals], store)
    assert is_synthetic(table(store, "deals")[0]["main_contact_id"])
    both = write_csv(
        tmp_path / "contacts.csv",
        [
            ["ID", "Тип", "Имя", "Фамилия", "Название компании", "Ответственный", "Теги"],
            ["500", "компания", "", "", "ООО Ромашка", "Анна", "ключевой"],
            ["600", "контакт", "Иван", "Иванов", "ООО Ромашка", "Анна", ""],
        ],
        encoding="utf-8-sig",
        delimiter=";",
    )
    result = import_files([both], store)
    assert result.files[0].entity == "contacts+companies"
    # … and fold into the real rows once those are imported.
    assert [(c["id"], c["name"]) for c in table(store, "companies")] == [(500, "ООО Ромашка")]
    assert [(c["id"], c["company_id"]) for c in table(store, "contacts")] == [(600, 500)]
    deal = table(store, "deals")[0]
    assert (deal["company_id"], deal["main_contact_id"]) == (500, 600)
    assert table(store, "tags") == [dict(entity_type="company", entity_id=500, tag="ключевой")]


def test_a_contacts_export_with_first_and_last_names(tmp_path):
    store = tmp_path / "crm.duckdb"
    path = write_csv(
        tmp_path / "contacts.csv",
        [
            ["ID", "Имя", "Фамилия", "Дата создания контакта", "Должность"],
            ["7", "Пётр", "Сидоров", "01.11.2026 12:00", "Директор"],
        ],
    )
    import_files([path], store)
    (contact,) = table(store, "contacts")
    assert contact["name"] == "Пётр Сидоров"
    assert contact["created_at"] == dt.datetime(2026, 11, 1, 9)
    assert table(store, "custom_fields")[0]["entity_type"] == "contact"


# Files that cannot be read --------------------------------------------------------------------


def test_unreadable_files_raise_a_clear_error_and_write_nothing(tmp_path, ru_csv):
    store = tmp_path / "crm.duckdb"
    cases = {
        "old.xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old binary Excel"),
        "blob.csv": (b"ID,a\n\x00\x01\x02", "binary content"),
        "notes.txt": ("Просто текст\nбез заголовка\n".encode(), "no recognisable header"),
        "empty.csv": (b"", "the file is empty"),
        "fake.xlsx": (b"PK\x03\x04not really a zip", "not a readable XLSX workbook"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ExportFileError, match=message) as err:
            import_files([ru_csv, path], store)
        assert name in str(err.value)
    with pytest.raises(ExportFileError, match="no such file"):
        import_files([tmp_path / "missing.csv"], store)
    assert not store.exists() and not list(tmp_path.glob("crm.duckdb.tmp*"))
    with pytest.raises(ValueError, match="unknown time zone"):
        import_files([ru_csv], store, timezone="Mars/Olympus")


def test_a_duckdb_file_that_is_not_a_store_is_refused(tmp_path, ru_csv):
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(ValueError, match="not a deskkit store"):
        import_files([ru_csv], other)


# Metrics and the command line -----------------------------------------------------------------


def test_the_desktop_metrics_run_on_an_imported_store(tmp_path, ru_csv, en_csv):
    store = tmp_path / "crm.duckdb"
    import_files([ru_csv], store)
    with duckdb.connect(str(store)) as con:  # a goal, as a user sets one between imports
        con.execute(
            "INSERT INTO goals VALUES (1, 'Revenue', 'won_budget', 'all', NULL, 'month', "
            "50000, TIMESTAMP '2026-01-01')"
        )
    desk = deskkit.open(store, now=dt.datetime(2026, 11, 30, 12))
    november = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    flow = desk.pipeline_flow(november, "Продажи")
    stages = flow.stages.set_index("stage")
    assert stages.loc["Переговоры", "deals"] == 1
    assert stages.loc["Переговоры", "budget"] == 1_500_000.5
    # No move history: a deal counts as won/lost in the period it was created in that stage.
    assert (flow.won, flow.won_budget, flow.lost_total) == (1, 25_000, 1)
    assert set(stages["net_in"]) == {0}
    managers = desk.deals_by_manager().managers.set_index("user")
    assert managers.loc["Анна Петрова", "deals"] == 1  # 101 open; 103 is lost
    assert managers.loc["Борис Смирнов", "deals"] == 1  # 104 unsorted counts as open
    sources = desk.lead_sources(november).sources.set_index("source")
    assert sources.loc["Сайт", "deals"] == 2 and sources.loc["Реклама", "won"] == 1
    assert sources.loc["no source", "deals"] == 1
    # Goals count the deal created in November and won now (102), as won when created.
    (goal,) = desk.goals().goals.itertuples()
    assert (goal.achieved, goal.target, goal.percent) == (25_000, 50_000, 0.5)


def test_cli_import_end_to_end(tmp_path, ru_csv, capsys):
    store = tmp_path / "crm.duckdb"
    bad = write_csv(
        tmp_path / "bad.csv",
        [["ID", "Название сделки", "Этап сделки", "Бюджет"], ["9", "x", "Этап", "много"]],
    )
    code = main(["import", str(ru_csv), str(bad), "--store", str(store)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{store}: created; dates read in Europe/Moscow" in out
    assert "сделки.csv: deals (cp1251, semicolon): 4 rows, 4 loaded, 0 rejected" in out
    assert "rows written: account 1 · users 2 · pipelines 1" in out
    assert "bad.csv row 2: Бюджет: 'много' is not a number" in out
    assert deskkit.open(store).store.table("deals").count().execute() == 4
    code = main(["import", str(ru_csv), "--store", str(store), "--timezone", "Asia/Yekaterinburg"])
    assert code == 0 and "updated; dates read in Asia/Yekaterinburg" in capsys.readouterr().out
    created = {d["deal_id"]: d["created_at"] for d in table(store, "deals")}
    assert created[101] == dt.datetime(2026, 11, 27, 10, 4, 5)  # UTC+5
    assert main(["import", str(tmp_path / "nope.csv"), "--store", str(store)]) == 2
    assert "deskkit: error:" in capsys.readouterr().err
