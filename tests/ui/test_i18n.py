"""English and Russian for the desktop: labels, metric rule texts and locale formats."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

import pytest

from deskkit import widgets
from deskkit.filters import Period
from deskkit.ui import i18n
from deskkit.ui.i18n import (
    LABELS,
    LANGUAGES,
    MISSING,
    fmt_count,
    fmt_date,
    fmt_datetime,
    fmt_duration,
    fmt_hours,
    fmt_money,
    fmt_percent,
    fmt_period,
    fmt_signed,
    fmt_value,
    merge_labels,
    rule_text,
    t,
)
from deskkit.widgets import Filters

NB = "\u00a0"  # no-break space: Russian group separator, and before units and ₽
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _fields(text: str) -> set[str]:
    import string

    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _numbers(text: str) -> list[str]:
    return sorted(re.findall(r"\d+", text))


# Labels -------------------------------------------------------------------------------------


def test_every_label_has_both_languages_and_the_same_placeholders():
    required = {
        "desktop_title", "as_of", "period", "today", "yesterday", "week", "month", "quarter",
        "year", "custom", "from", "to", "whose", "everyone", "department_suffix", "inactive",
        "pipeline", "archived", "language", "refresh", "loading", "slow", "error", "no_data",
        "previous", "rules", "records", "close", "showing", "configure", "done", "add_widget",
        "add", "remove", "move_up", "move_down", "save_default", "reset_layout", "layout_saved",
        "events", "new_events", "all_types", "all_entities", "all_authors", "show", "deals",
        "budget", "value",
    }  # fmt: skip
    assert required <= LABELS.keys()
    for key, texts in LABELS.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts[lang].strip() for lang in LANGUAGES), key
        assert _fields(texts["en"]) == _fields(texts["ru"]), key
    for key in required:
        assert CYRILLIC.search(LABELS[key]["ru"]) and not CYRILLIC.search(LABELS[key]["en"]), key


def test_t_fills_placeholders_in_the_locale_and_falls_back():
    assert t("desktop_title", "ru") == "Рабочий стол"
    assert t("custom", "ru") == "Произвольный период"
    assert t("as_of", "en", time="15:04") == "as of 15:04"
    assert t("showing", "en", shown=20, total=12345) == "Showing 20 of 12,345"
    assert t("showing", "ru", shown=20, total=12345) == f"Показано 20 из 12{NB}345"
    assert [t("new_events", "ru", n=n) for n in (1, 3, 5, 21)] == [
        "1 новое",
        "3 новых",
        "5 новых",
        "21 новое",
    ]
    assert t("no_such_label", "ru") == "no_such_label"
    assert t("today", "ru_RU") == "Сегодня"
    with pytest.raises(KeyError, match="needs 'time'"):
        t("as_of", "en")
    with pytest.raises(ValueError, match="unsupported language"):
        t("today", "de")


def test_merge_labels_adds_keys_and_refuses_conflicts(monkeypatch):
    monkeypatch.setattr(i18n, "LABELS", dict(LABELS))
    merge_labels({"won_share": {"en": "Won share", "ru": "Доля успешных"}})
    assert i18n.t("won_share", "ru") == "Доля успешных"
    merge_labels({"won_share": {"en": "Won share", "ru": "Доля успешных"}})  # same text: fine
    with pytest.raises(ValueError, match="already defined"):
        merge_labels({"won_share": {"en": "Won rate", "ru": "Доля успешных"}})
    with pytest.raises(ValueError, match="already defined"):
        merge_labels({"deals": {"en": "Deals", "ru": "Сделок"}})
    with pytest.raises(ValueError, match="no text for ru"):
        merge_labels({"lonely": {"en": "Lonely"}})
    with pytest.raises(ValueError, match="different placeholders"):
        merge_labels({"n_deals": {"en": "{n} deals", "ru": "{count} сделок"}})
    assert "lonely" not in i18n.LABELS and "n_deals" not in i18n.LABELS


# Rule texts -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(desk):
    """Every built-in widget's result for this month, and a search."""
    out = {w.id: w.compute(desk, Filters(period="month")) for w in widgets.widgets() if w.builtin}
    out["search"] = desk.search("contract")
    return out


def test_the_rule_texts_cover_every_builtin_result_class(results):
    names = {type(r).__name__ for r in results.values()}
    assert len(results) >= 17 and len(names) == len(results)  # 16 widgets + search
    assert {
        "PipelineFlow", "Activity", "Events", "Messages", "ResponseTime", "OverdueTasks",
        "Goals", "PaymentCounters", "LeadSources", "Nps", "RecentFiles", "SystemUsage",
        "DealsByManager", "DealsWithoutTasks", "LatestDeals", "Forecast", "SearchResult",
    } <= names <= i18n.RULES.keys()  # fmt: skip


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_builtin_result_has_its_rule_in_both_languages(results, lang):
    for widget_id, result in results.items():
        english = result.definition
        text = rule_text(result, lang)
        if lang == "en":
            assert text == english, widget_id
            continue
        assert text and text != english, f"{widget_id}: no Russian rule text"
        assert CYRILLIC.search(text), widget_id
        # Mostly Russian: at most a few Latin words (Salesbot, NPS, ID, the default names).
        latin = re.findall(r"[A-Za-z]{3,}", text)
        assert len(latin) <= 6, f"{widget_id}: {latin}"
        assert _numbers(text) == _numbers(english), f"{widget_id}: numbers differ"
        assert "{" not in text and "}" not in text, widget_id


def test_forecast_and_latest_deals_rules_carry_their_own_parameters(desk):
    forecast = desk.forecast(min_sample=7)
    assert "fewer than 7 such deals" in rule_text(forecast, "en")
    assert "таких сделок у этапа меньше 7," in rule_text(forecast, "ru")
    assert "меньше 20," in rule_text(desk.forecast(), "ru")
    forms = {
        1: "1 последняя созданная сделка",
        3: "3 последние созданные сделки",
        8: "8 последних созданных сделок",
        21: "21 последняя созданная сделка",
    }
    for n, words in forms.items():
        latest = desk.latest_deals(n=n)
        assert f"the {n} most recently created deals" in rule_text(latest, "en")
        assert rule_text(latest, "ru").startswith(f"Последние сделки: {words} из выбранного")


def test_unknown_or_changed_rules_fall_back_to_english():
    @dataclass
    class MyWidgetResult:
        definition: str = "My widget: open deals with a red tag."

    assert rule_text(MyWidgetResult(), "ru") == "My widget: open deals with a red tag."

    @dataclass
    class Forecast:  # a known name whose English changed: no stale Russian rule
        definition: str = "Forecast: something else entirely."

    assert rule_text(Forecast(), "ru") == "Forecast: something else entirely."
    assert rule_text(object(), "ru") == ""


def test_a_users_widget_can_register_its_russian_rule(monkeypatch):
    monkeypatch.setattr(i18n, "RULES", {k: list(v) for k, v in i18n.RULES.items()})

    @dataclass
    class BigDeals:
        n: int

        @property
        def definition(self) -> str:
            return f"Big deals: open deals worth more than {self.n}."

    i18n.register_rule(
        "BigDeals",
        "Big deals: open deals worth more than {n}.",
        "Крупные сделки: открытые сделки с бюджетом больше {n}.",
    )
    assert (
        i18n.rule_text(BigDeals(5000), "ru")
        == f"Крупные сделки: открытые сделки с бюджетом больше 5{NB}000."
    )
    with pytest.raises(ValueError, match="different placeholders"):
        i18n.register_rule("BigDeals", "More than {n}.", "Больше {k}.")


# Formats ----------------------------------------------------------------------------------------


def test_counts_and_money():
    assert fmt_count(1234, "en") == "1,234"
    assert fmt_count(1234, "ru") == f"1{NB}234"
    assert fmt_count(-1234567, "ru") == f"−1{NB}234{NB}567"
    assert fmt_count(2.5, "en") == "3"  # half up, not to even
    assert fmt_money(1234567.5, "RUB", "ru") == f"1{NB}234{NB}568{NB}₽"
    assert fmt_money(1234567.4, "RUB", "ru") == f"1{NB}234{NB}567{NB}₽"
    assert fmt_money(1234567.5, "USD", "en") == "$1,234,568"
    assert fmt_money(1234567.5, "RUB", "en") == f"RUB{NB}1,234,568"
    assert fmt_money(-1500, "EUR", "en") == "−€1,500"
    assert fmt_money(-1500, "EUR", "ru") == f"−1{NB}500{NB}€"
    assert fmt_money(1234567.5, "RUB", "ru", compact=True) == f"1,2{NB}млн{NB}₽"
    assert fmt_money(1234567.5, "USD", "en", compact=True) == "$1.2M"
    assert fmt_money(-0.3, "RUB", "ru") == f"0{NB}₽"
    assert fmt_money(1234, "", "en") == "1,234"


def test_remembered_numbers_are_the_numbers_formatted_anew():
    """Counts and money are remembered per value and language: a value formatted right after
    others (1 after 1.0 after True, ...) gets the text a fresh formatting gives."""
    import numpy as np

    values = [0, 1, 1.0, True, -0.4, -0.6, 0.4, 2.5, -1234.5, 1234567.5, np.int64(7)]
    values += [np.float64(-2.5), 10**12, 0.05, 5, np.float64(5.0)]
    for lang in ("en", "ru"):
        for v in values:
            money = [] if isinstance(v, bool) else [(v, "USD", lang, c) for c in (False, True)]
            got = [fmt_count(v, lang), *(fmt_money(*args) for args in money)]
            i18n._decimal.cache_clear()
            i18n._money.cache_clear()
            assert got == [fmt_count(v, lang), *(fmt_money(*args) for args in money)], v
    # The sign of a compact amount below one unit is kept; a text of zeros has none.
    assert fmt_money(-0.4, "USD", "en", compact=True) == "−$0.4"
    assert fmt_money(-0.4, "USD", "en") == "$0"
    # An amount that cannot be a cache key is formatted all the same.
    assert fmt_money(np.array(5.0), "USD", "en") == "$5"


def test_percents_hours_and_scores():
    assert fmt_percent(0.253, "en") == "25.3%"
    assert fmt_percent(0.253, "ru") == f"25,3{NB}%"
    assert fmt_percent(0.5, "en", digits=0) == "50%"
    assert fmt_percent(-0.1234, "ru") == f"−12,3{NB}%"
    assert fmt_hours(12.5, "en") == f"12.5{NB}h"
    assert fmt_hours(12.5, "ru") == f"12,5{NB}ч"
    assert fmt_hours(1234, "en") == f"1,234.0{NB}h"
    assert fmt_value(45, "score", "en") == "+45"
    assert fmt_value(-12.4, "score", "ru") == "−12"
    assert fmt_value(0, "score", "ru") == "0"
    assert fmt_value("n/a", "count", "en") == "n/a"
    assert fmt_value("Прогноз", "text", "ru") == "Прогноз"
    assert fmt_value(0.253, "percent", "ru") == f"25,3{NB}%"
    assert fmt_value(1234567.5, "money", "ru", "RUB") == f"1{NB}234{NB}568{NB}₽"
    with pytest.raises(ValueError, match="unknown number kind"):
        fmt_value(1, "weight", "en")


def test_missing_values_show_a_dash():
    import numpy as np
    import pandas as pd

    for value in (None, math.nan, np.nan, pd.NA, pd.NaT):
        for kind in ("count", "money", "percent", "hours", "seconds", "score", "text"):
            assert fmt_value(value, kind, "ru", "RUB") == MISSING == "–"
        assert fmt_signed(value, "count", "en") == MISSING
    assert fmt_date(None, "en") == fmt_datetime(pd.NaT, "ru", "Europe/Moscow") == MISSING


def test_signed_changes_use_the_minus_sign():
    assert fmt_signed(12, "count", "en") == "+12"
    assert fmt_signed(-12, "count", "ru") == "−12"  # U+2212
    assert fmt_signed(-1234567, "money", "ru", "RUB") == f"−1{NB}234{NB}567{NB}₽"
    assert fmt_signed(1234567, "money", "en", "USD") == "+$1,234,567"
    assert fmt_signed(-2500000, "money", "en", "USD", compact=True) == "−$2.5M"
    assert fmt_signed(0.052, "percent", "ru") == f"+5,2{NB}%"
    assert fmt_signed(-0.052, "percent", "en") == "−5.2%"
    assert fmt_signed(-150, "seconds", "en") == f"−3{NB}min"
    assert fmt_signed(1.25, "hours", "ru") == f"+1,3{NB}ч"
    assert fmt_signed(-7, "score", "en") == "−7"
    # A change that rounds to zero has no sign.
    assert fmt_signed(0.2, "count", "en") == "0"
    assert fmt_signed(-0.0004, "percent", "en") == "0.0%"
    assert "-" not in fmt_signed(-5, "count", "en")


def test_durations():
    en = [fmt_duration(s, "en") for s in (0, 59, 59.5, 60, 89, 90, 3599, 3600, 3 * 3600 + 300)]
    assert en == [
        f"0{NB}s",
        f"59{NB}s",
        f"1{NB}min",  # 59.5 s rounds up to a minute
        f"1{NB}min",
        f"1{NB}min",
        f"2{NB}min",
        f"1{NB}h{NB}00{NB}min",
        f"1{NB}h{NB}00{NB}min",
        f"3{NB}h{NB}05{NB}min",
    ]
    assert fmt_duration(45, "ru") == f"45{NB}с"
    assert fmt_duration(12 * 60, "ru") == f"12{NB}мин"
    assert fmt_duration(3 * 3600 + 5 * 60, "ru") == f"3{NB}ч{NB}05{NB}мин"
    assert fmt_duration(1000 * 3600, "en") == f"1,000{NB}h{NB}00{NB}min"
    assert fmt_duration(-45, "en") == f"−45{NB}s"
    assert fmt_duration(None, "ru") == "–"


def test_dates_and_times_in_the_account_time_zone():
    assert fmt_date(dt.date(2026, 11, 27), "en") == "Nov 27, 2026"
    assert fmt_date(dt.date(2026, 11, 27), "ru") == "27 нояб. 2026\u202fг."
    # Moscow is UTC+3 all year.
    noon = dt.datetime(2026, 11, 27, 12, 4)
    assert fmt_datetime(noon, "en", "Europe/Moscow") == "Nov 27, 2026, 15:04"
    assert fmt_datetime(noon, "ru", "Europe/Moscow") == "27 нояб. 2026\u202fг., 15:04"
    assert fmt_date(dt.datetime(2026, 11, 27, 22, 30), "en", "Europe/Moscow") == "Nov 28, 2026"
    # Berlin leaves summer time on 25 Oct 2026 at 01:00 UTC: 02:30 local happens twice.
    berlin = [dt.datetime(2026, 10, 25, 0, 30), dt.datetime(2026, 10, 25, 1, 30)]
    assert [fmt_datetime(x, "en", "Europe/Berlin") for x in berlin] == ["Oct 25, 2026, 02:30"] * 2
    assert fmt_datetime(dt.datetime(2026, 10, 24, 12, 0), "en", "Europe/Berlin").endswith("14:00")
    assert fmt_datetime(dt.datetime(2026, 10, 26, 12, 0), "en", "Europe/Berlin").endswith("13:00")
    # ... and enters it on 29 Mar 2026 at 01:00 UTC: 02:00-03:00 local never happens.
    spring = [dt.datetime(2026, 3, 29, 0, 59), dt.datetime(2026, 3, 29, 1, 0)]
    assert [fmt_datetime(x, "ru", "Europe/Berlin") for x in spring] == [
        "29 мар. 2026\u202fг., 01:59",
        "29 мар. 2026\u202fг., 03:00",
    ]
    # An aware timestamp (pandas too) is converted from its own zone.
    import pandas as pd

    aware = pd.Timestamp("2026-11-27 12:04", tz="UTC")
    assert fmt_datetime(aware, "en", "Europe/Moscow") == "Nov 27, 2026, 15:04"


def test_periods():
    now = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)

    def both(period: Period) -> tuple[str, str]:
        return fmt_period(period, "en"), fmt_period(period, "ru")

    assert both(Period.preset("month", now=now)) == ("November 2026", "ноябрь 2026")
    assert both(Period.preset("week", now=now)) == (
        "Nov 23\u2009–\u200929, 2026",
        "23—29 нояб. 2026\u202fг.",
    )
    assert both(Period.preset("today", now=now)) == ("Nov 27, 2026", "27 нояб. 2026\u202fг.")
    assert both(Period.preset("yesterday", now=now))[0] == "Nov 26, 2026"
    assert both(Period.preset("quarter", now=now)) == ("Q4 2026", "4-й кв. 2026")
    assert both(Period.preset("year", now=now)) == ("2026", "2026")
    assert both(Period.between(dt.date(2026, 12, 28), dt.date(2027, 1, 3), now=now)) == (
        "Dec 28, 2026\u2009–\u2009Jan 3, 2027",
        "28 дек. 2026\u202fг. — 3 янв. 2027\u202fг.",
    )
    # The period's own time zone decides its days.
    moscow = Period.preset("month", timezone="Europe/Moscow", now=dt.datetime(2026, 11, 30, 22))
    assert fmt_period(moscow, "ru") == "декабрь 2026"


def test_the_module_is_pure_python():
    """No ipywidgets (nor metrics) needed: load the file on its own in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('i18n', {i18n.__file__!r})\n"
        "module = sys.modules['i18n'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.fmt_count(1234, 'ru') == '1\\u00a0234'\n"
        "assert not {'ipywidgets', 'deskkit.metrics', 'pandas'} & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
