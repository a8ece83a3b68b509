"""English and Russian for the desktop: labels, metric rule texts and locale-aware formatting.

Pure Python (Babel, no ipywidgets), so every string the desktop shows is testable without a
browser:

* :data:`LABELS` and :func:`t` — UI labels by key in both languages (:func:`merge_labels` adds
  card-specific ones);
* :func:`rule_text` — a metric result's rule ("How is this counted?") in either language;
* ``fmt_*`` — numbers, money in the account currency, percents, durations, dates and periods
  in the chosen locale's format (CLDR data via Babel). A missing value (None, NaN, NA, NaT)
  is shown as :data:`MISSING`; negative numbers carry the Unicode minus sign.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Literal, get_args
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as _dates
from babel import numbers as _numbers

if TYPE_CHECKING:
    from deskkit.filters import Period

__all__ = [
    "LABELS",
    "LANGUAGES",
    "MINUS",
    "MISSING",
    "RULES",
    "Kind",
    "Lang",
    "RuleText",
    "fmt_count",
    "fmt_date",
    "fmt_datetime",
    "fmt_duration",
    "fmt_hours",
    "fmt_money",
    "fmt_percent",
    "fmt_period",
    "fmt_signed",
    "fmt_value",
    "locale_of",
    "merge_labels",
    "register_rule",
    "rule_text",
    "t",
]

Lang = Literal["en", "ru"]
LANGUAGES: tuple[Lang, ...] = get_args(Lang)

#: How a number is shown (the card model's ``NumberKind``).
Kind = Literal["count", "money", "percent", "hours", "seconds", "score", "text"]

#: Shown for a missing value (None, NaN, NA, NaT): an en dash.
MISSING = "\u2013"
#: The sign of negative numbers and changes (U+2212, not the hyphen-minus).
MINUS = "\u2212"
_NBSP = "\u00a0"

#: Babel locale per language ("en" formats as en_US: 1,234.5).
_LOCALES: dict[str, str] = {"en": "en", "ru": "ru_RU"}


# Labels -------------------------------------------------------------------------------------

LABELS: dict[str, dict[str, str]] = {
    "desktop_title": {"en": "Sales desktop", "ru": "Рабочий стол"},
    "as_of": {"en": "as of {time}", "ru": "на {time}"},
    "period": {"en": "Period", "ru": "Период"},
    "today": {"en": "Today", "ru": "Сегодня"},
    "yesterday": {"en": "Yesterday", "ru": "Вчера"},
    "week": {"en": "Week", "ru": "Неделя"},
    "month": {"en": "Month", "ru": "Месяц"},
    "quarter": {"en": "Quarter", "ru": "Квартал"},
    "year": {"en": "Year", "ru": "Год"},
    "custom": {"en": "Custom range", "ru": "Произвольный период"},
    "from": {"en": "From", "ru": "С"},
    "to": {"en": "to", "ru": "по"},
    "whose": {"en": "Whose", "ru": "Ответственный"},
    "everyone": {"en": "Everyone", "ru": "Все"},
    "department_suffix": {"en": "department", "ru": "отдел"},
    "inactive": {"en": "inactive", "ru": "неактивен"},
    "pipeline": {"en": "Pipeline", "ru": "Воронка"},
    "archived": {"en": "archived", "ru": "в архиве"},
    "language": {"en": "Language", "ru": "Язык"},
    "refresh": {"en": "Refresh", "ru": "Обновить"},
    "loading": {"en": "Loading…", "ru": "Загрузка…"},
    "slow": {"en": "Taking longer than usual", "ru": "Это занимает больше времени, чем обычно"},
    "error": {"en": "Could not compute this card", "ru": "Не удалось рассчитать этот виджет"},
    "no_data": {"en": "No data for these filters", "ru": "Нет данных по этим фильтрам"},
    "previous": {"en": "vs previous period", "ru": "к предыдущему периоду"},
    "rules": {"en": "How is this counted?", "ru": "Как это считается?"},
    "records": {"en": "Records", "ru": "Записи"},
    "close": {"en": "Close", "ru": "Закрыть"},
    "showing": {"en": "Showing {shown} of {total}", "ru": "Показано {shown} из {total}"},
    "configure": {"en": "Configure", "ru": "Настроить"},
    "done": {"en": "Done", "ru": "Готово"},
    "add_widget": {"en": "Add widget", "ru": "Добавить виджет"},
    "add": {"en": "Add", "ru": "Добавить"},
    "remove": {"en": "Remove", "ru": "Удалить"},
    "move_up": {"en": "Move up", "ru": "Переместить выше"},
    "move_down": {"en": "Move down", "ru": "Переместить ниже"},
    "edit_widget": {"en": "Edit this widget", "ru": "Изменить виджет"},
    "delete_widget": {"en": "Delete this widget", "ru": "Удалить виджет"},
    "confirm_delete": {"en": "Delete?", "ru": "Удалить?"},
    "save_default": {
        "en": "Make this the default for everyone",
        "ru": "Сделать видом по умолчанию для всех",
    },
    "reset_layout": {"en": "Reset to default", "ru": "Вернуть вид по умолчанию"},
    "layout_saved": {"en": "Layout saved", "ru": "Расположение сохранено"},
    "events": {"en": "Events", "ru": "События"},
    "new_events": {"en": "{n} new", "ru": "{n} {n:новое|новых|новых}"},
    "all_types": {"en": "All types", "ru": "Все типы"},
    "all_entities": {"en": "All entities", "ru": "Все сущности"},
    "all_authors": {"en": "All authors", "ru": "Все авторы"},
    "show": {"en": "Show", "ru": "Показать"},
    "deals": {"en": "Deals", "ru": "Сделки"},
    "budget": {"en": "Budget", "ru": "Бюджет"},
    "value": {"en": "Value", "ru": "Значение"},
    "now": {"en": "Now", "ru": "Сейчас"},
    "won_row": {"en": "Won", "ru": "Успешно реализовано"},
    "deal": {"en": "Deals", "ru": "Сделки"},
    "contact": {"en": "Contacts", "ru": "Контакты"},
    "company": {"en": "Companies", "ru": "Компании"},
    "task": {"en": "Tasks", "ru": "Задачи"},
    # The custom-widget builder ------------------------------------------------------------
    "new_widget": {"en": "New widget", "ru": "Новый виджет"},
    "builder_title": {"en": "New widget", "ru": "Новый виджет"},
    "builder_entity": {"en": "What to count", "ru": "Что считать"},
    "builder_entity_deals": {"en": "Deals", "ru": "Сделки"},
    "builder_entity_contacts": {"en": "Contacts", "ru": "Контакты"},
    "builder_entity_companies": {"en": "Companies", "ru": "Компании"},
    "builder_entity_customers": {"en": "Customers", "ru": "Покупатели"},
    "builder_entity_tasks": {"en": "Tasks", "ru": "Задачи"},
    "builder_entity_events": {"en": "Events", "ru": "События"},
    "builder_conditions": {"en": "Conditions (all must hold)", "ru": "Условия (все сразу)"},
    "builder_add_condition": {"en": "Condition", "ru": "Условие"},
    "builder_remove_condition": {"en": "Remove condition", "ru": "Удалить условие"},
    "builder_yes": {"en": "Yes", "ru": "Да"},
    "builder_condition_n": {"en": "condition {n}", "ru": "условие {n}"},
    "builder_display": {"en": "Show", "ru": "Показывать"},
    "builder_kind_number": {"en": "A number", "ru": "Число"},
    "builder_kind_split": {"en": "Split by a field", "ru": "Разбивка по полю"},
    "builder_measure_count": {"en": "Count", "ru": "Количество"},
    "builder_measure_sum": {"en": "Sum of", "ru": "Сумма поля"},
    "builder_measure_mean": {"en": "Average of", "ru": "Среднее поля"},
    "builder_title_id": {"en": "Title and id", "ru": "Название и идентификатор"},
    "builder_title_en": {"en": "Title in English", "ru": "Название по-английски"},
    "builder_title_ru": {"en": "Title in Russian", "ru": "Название по-русски"},
    "builder_id": {"en": "Widget id", "ru": "Идентификатор виджета"},
    "builder_size_small": {"en": "Small", "ru": "Маленький"},
    "builder_size_medium": {"en": "Medium", "ru": "Средний"},
    "builder_size_large": {"en": "Full width", "ru": "Во всю ширину"},
    "builder_preview": {"en": "Preview", "ru": "Предпросмотр"},
    "builder_save": {"en": "Save widget", "ru": "Сохранить виджет"},
    "builder_saved": {"en": "Saved: {title}", "ru": "Сохранено: {title}"},
    "builder_invalid": {"en": "Cannot use this definition.", "ru": "Так виджет не построить."},
    "builder_field_problem": {"en": "{field}: {problem}", "ru": "{field}: {problem}"},
    "op_eq": {"en": "is", "ru": "равно"},
    "op_ne": {"en": "is not", "ru": "не равно"},
    "op_in": {"en": "is one of", "ru": "одно из"},
    "op_not_in": {"en": "is none of", "ru": "ни одно из"},
    "op_gt": {"en": "more than", "ru": "больше"},
    "op_ge": {"en": "at least", "ru": "не меньше"},
    "op_lt": {"en": "less than", "ru": "меньше"},
    "op_le": {"en": "at most", "ru": "не больше"},
    "op_between": {"en": "between", "ru": "между"},
    "op_contains": {"en": "contains", "ru": "содержит"},
    "op_is_set": {"en": "is filled", "ru": "заполнено"},
    "op_is_not_set": {"en": "is empty", "ru": "не заполнено"},
    "op_is": {"en": "is", "ru": "равно"},
    "op_overdue": {"en": "is overdue", "ru": "просрочено"},
    "op_in_period": {"en": "in the period", "ru": "в периоде"},
    "op_before_period": {"en": "before the period", "ru": "до периода"},
    "op_last_days": {"en": "in the last N days", "ru": "за последние N дней"},
}


def _lang(lang: str) -> Lang:
    """``"en"`` or ``"ru"`` from a language or locale name (``"ru_RU"``, ``"EN-us"``)."""
    base = str(lang).replace("-", "_").split("_")[0].lower()
    if base not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; use one of {LANGUAGES}")
    return base  # type: ignore[return-value]


def _fields(text: str) -> set[str]:
    """The names of ``text``'s ``{placeholders}``."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def merge_labels(extra: Mapping[str, Mapping[str, str]]) -> None:
    """Add labels (e.g. the cards' own) to :data:`LABELS`.

    Each needs text in every language, with the same placeholders. Merging a key again with
    the same text is a no-op; a key defined twice with different text raises ``ValueError``.
    """
    checked: dict[str, dict[str, str]] = {}
    for key, texts in extra.items():
        entry = {lang: texts.get(lang, "") for lang in LANGUAGES}
        missing = [lang for lang, text in entry.items() if not text]
        if missing:
            raise ValueError(f"label {key!r} has no text for {', '.join(missing)}")
        if len({frozenset(_fields(text)) for text in entry.values()}) > 1:
            raise ValueError(f"label {key!r}: the languages use different placeholders")
        known = LABELS.get(key)
        if known is not None and {lang: known.get(lang) for lang in LANGUAGES} != entry:
            raise ValueError(f"label {key!r} is already defined with other text: {known}")
        checked[key] = entry
    LABELS.update(checked)


def t(key: str, lang: str, **fmt: Any) -> str:
    """The label ``key`` in ``lang`` (else English, else the key itself), filled with ``fmt``.

    Placeholders are filled as by ``str.format``, except that a number with no format spec is
    written in the language's format (``1,234`` / ``1 234``), and ``{n:one|few|many}`` (Russian;
    ``{n:one|other}`` in English) picks the word form agreeing with ``n``.
    """
    code = _lang(lang)
    entry = LABELS.get(key)
    if entry is None:
        return key
    text = entry.get(code) or entry.get("en") or key
    try:
        return _Formatter(code).format(text, **fmt)
    except KeyError as err:
        raise KeyError(f"label {key!r} needs {err.args[0]!r}: t({key!r}, {lang!r}, ...)") from None


# Plural word forms ---------------------------------------------------------------------------

#: Index of the word form in a ``{n:a|b|c}`` spec for each CLDR plural category.
_PLURAL_INDEX: dict[str, dict[str, int]] = {
    "en": {"one": 0, "other": 1},
    # one: 1, 21; few: 2-4, 22; many: 0, 5-20; other: fractions (1,5 сделки: like few).
    "ru": {"one": 0, "few": 1, "many": 2, "other": 1},
}


def _plural(value: Any, forms: list[str], lang: Lang) -> str:
    number: float | int
    if isinstance(value, int | float | Decimal):
        number = abs(value)  # type: ignore[assignment]
    else:
        digits = re.sub(r"\D", "", str(value))
        number = int(digits) if digits else 0
    category = locale_of(lang).plural_form(number)
    index = _PLURAL_INDEX[lang].get(category, len(forms) - 1)
    return forms[min(index, len(forms) - 1)]


class _Formatter(string.Formatter):
    """``str.format`` with localized numbers and ``{n:one|few|many}`` word forms."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang

    def format_field(self, value: Any, format_spec: str) -> str:
        if "|" in format_spec:
            return _plural(value, format_spec.split("|"), self.lang)
        if not format_spec and isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, int) or float(value).is_integer():
                return fmt_count(value, self.lang)
            return _numbers.format_decimal(value, locale=locale_of(self.lang))
        return super().format_field(value, format_spec)


# Numbers --------------------------------------------------------------------------------------


@cache
def locale_of(lang: str) -> Locale:
    """The Babel locale the language formats with (en: ``en``, ru: ``ru_RU``)."""
    return Locale.parse(_LOCALES[_lang(lang)])


def _missing(value: Any) -> bool:
    """None, NaN, pandas NA or NaT."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _rounded(value: float | int | Decimal, digits: int) -> Decimal:
    """``value`` rounded half up (2.5 -> 3, -2.5 -> -3) to ``digits`` decimals, exactly."""
    if isinstance(value, bool):
        value = int(value)
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def _infinite(value: Any) -> str | None:
    if isinstance(value, float | Decimal) and math.isinf(value):
        return ("" if value > 0 else MINUS) + "∞"
    return None


def _sign(number: Decimal) -> str:
    return MINUS if number < 0 else ""


@lru_cache(maxsize=16_384)
def _decimal(number: Decimal, lang: str, digits: int) -> str:
    # Remembered: a card's menus and tables format hundreds of numbers, most of them seen
    # before, and Babel takes ~20 us each (a few ms of the interpreter per filter change).
    # ``number`` is already rounded to ``digits``, so equal keys give equal text.
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return _numbers.format_decimal(abs(number), format=pattern, locale=locale_of(lang))


def fmt_count(n: float | int | None, lang: str) -> str:
    """A whole number with the locale's grouping: ``1,234`` / ``1 234`` (no-break space)."""
    if _missing(n):
        return MISSING
    if (inf := _infinite(n)) is not None:
        return inf
    number = _rounded(n, 0)  # type: ignore[arg-type]
    return _sign(number) + _decimal(number, lang, 0)


def _space_symbol(text: str, symbol: str) -> str:
    """A no-break space between a letter symbol ("RUB") and the digits, as CLDR's currency
    spacing rule asks (Babel does not apply it): ``RUB1,234`` -> ``RUB 1,234``."""
    if not symbol or not symbol.isalpha():
        return text
    if text.startswith(symbol) and text[len(symbol) : len(symbol) + 1].isdigit():
        return symbol + _NBSP + text[len(symbol) :]
    if text.endswith(symbol) and text[: -len(symbol)][-1:].isdigit():
        return text[: -len(symbol)] + _NBSP + symbol
    return text


def fmt_money(amount: float | int | None, currency: str, lang: str, compact: bool = False) -> str:
    """An amount in the account currency, in whole units (rounded half up), the symbol where
    the locale puts it: ``$1,234,568`` / ``1 234 568 ₽``; ``compact`` for KPI tiles:
    ``$1.2M`` / ``1,2 млн ₽``. Without a currency code, just the number."""
    if _missing(amount):
        return MISSING
    if (inf := _infinite(amount)) is not None:
        return inf
    try:
        return _money(type(amount), amount, currency, lang, compact)
    except TypeError:  # an amount that cannot be a cache key (a 0-d array): not remembered
        return _money.__wrapped__(type(amount), amount, currency, lang, compact)


@lru_cache(maxsize=16_384)
def _money(
    kind: type, amount: float | int | Decimal, currency: str, lang: str, compact: bool
) -> str:
    """:func:`fmt_money` of a number, remembered (see _decimal); ``kind`` keeps 1 and 1.0
    apart, whose compact texts could differ."""
    loc = locale_of(lang)
    number = _rounded(amount, 0)
    size = abs(Decimal(str(amount)))
    if compact and currency:
        text = _numbers.format_compact_currency(size, currency, locale=loc, fraction_digits=1)
    elif compact:
        text = _numbers.format_compact_decimal(size, locale=loc, fraction_digits=1)
    elif currency:
        pattern = _numbers.parse_pattern(loc.currency_formats["standard"].pattern)
        pattern.frac_prec = (0, 0)
        text = pattern.apply(abs(number), loc, currency=currency, currency_digits=False)
    else:
        text = _decimal(number, lang, 0)
    if currency:
        text = _space_symbol(text, _numbers.get_currency_symbol(currency, locale=loc))
    # The sign of the amount itself: a compact text keeps a decimal ("−$0.4") the whole-unit
    # rounding loses; a text of zeros has none.
    negative = Decimal(str(amount)) < 0
    return (MINUS if negative and re.search(r"[1-9]", text) else "") + text


def fmt_percent(share: float | None, lang: str, digits: int = 1) -> str:
    """A share as a percent: 0.253 -> ``25.3%`` / ``25,3 %`` (the locale's pattern)."""
    if _missing(share):
        return MISSING
    if (inf := _infinite(share)) is not None:
        return inf
    loc = locale_of(lang)
    number = _rounded(share, digits + 2)  # type: ignore[arg-type]
    pattern = _numbers.parse_pattern(loc.percent_formats[None].pattern)
    pattern.frac_prec = (digits, digits)
    return _sign(number) + pattern.apply(abs(number), loc)


_UNITS: dict[str, dict[str, str]] = {
    "en": {"s": "s", "min": "min", "h": "h"},
    "ru": {"s": "с", "min": "мин", "h": "ч"},
}


def fmt_hours(hours: float | None, lang: str) -> str:
    """Hours with one decimal: ``12.5 h`` / ``12,5 ч`` (a no-break space before the unit)."""
    if _missing(hours):
        return MISSING
    if (inf := _infinite(hours)) is not None:
        return inf
    number = _rounded(hours, 1)  # type: ignore[arg-type]
    return f"{_sign(number)}{_decimal(number, lang, 1)}{_NBSP}{_UNITS[_lang(lang)]['h']}"


def fmt_duration(seconds: float | None, lang: str) -> str:
    """A duration, coarser as it grows: ``45 s`` under a minute, ``12 min`` under an hour, then
    ``3 h 05 min`` (``45 с``, ``12 мин``, ``3 ч 05 мин``); rounded half up to the unit shown."""
    if _missing(seconds):
        return MISSING
    if (inf := _infinite(seconds)) is not None:
        return inf
    unit = _UNITS[_lang(lang)]
    total = _rounded(seconds, 0)  # type: ignore[arg-type]
    sign, whole = _sign(total), int(abs(total))
    if whole < 60:
        return f"{sign}{whole}{_NBSP}{unit['s']}"
    minutes = (whole + 30) // 60
    if minutes < 60:
        return f"{sign}{minutes}{_NBSP}{unit['min']}"
    hours, rest = divmod(minutes, 60)
    return f"{sign}{fmt_count(hours, lang)}{_NBSP}{unit['h']}{_NBSP}{rest:02d}{_NBSP}{unit['min']}"


def _score(value: float | int, lang: str) -> str:
    """An NPS-like score, signed, no decimals: ``+45``, ``−12``, ``0``."""
    number = _rounded(value, 0)
    text = _decimal(number, lang, 0)
    return ("+" if number > 0 else MINUS if number < 0 else "") + text


def fmt_value(
    value: Any, kind: str, lang: str, currency: str = "", *, compact: bool = False
) -> str:
    """``value`` formatted as ``kind``: count, money (``currency``; ``compact`` for tiles),
    percent (a share), hours, seconds (a duration), score (NPS, signed) or text. A string value
    is shown as it is; a missing one as :data:`MISSING`."""
    if _missing(value):
        return MISSING
    if kind == "text" or isinstance(value, str):
        return str(value)
    if kind == "count":
        return fmt_count(value, lang)
    if kind == "money":
        return fmt_money(value, currency, lang, compact=compact)
    if kind == "percent":
        return fmt_percent(value, lang)
    if kind == "hours":
        return fmt_hours(value, lang)
    if kind == "seconds":
        return fmt_duration(value, lang)
    if kind == "score":
        return _infinite(value) or _score(value, lang)
    raise ValueError(f"unknown number kind {kind!r}; use one of {get_args(Kind)}")


def fmt_signed(
    delta: Any, kind: str, lang: str, currency: str = "", *, compact: bool = False
) -> str:
    """A change against the previous period with an explicit sign: ``+12``, ``−1 234 ₽``,
    ``+5.0%`` (a share's change), ``−3 min``. A change that rounds to zero has no sign."""
    if _missing(delta):
        return MISSING
    if kind == "text" or isinstance(delta, str):
        return str(delta)
    if kind == "score":
        return fmt_value(delta, kind, lang)
    text = fmt_value(abs(delta), kind, lang, currency, compact=compact)
    if not re.search(r"[1-9∞]", text):
        return text
    return ("+" if delta > 0 else MINUS) + text


# Dates ----------------------------------------------------------------------------------------


def _local(moment: _dt.datetime | str, timezone: str) -> _dt.datetime:
    """A naive-UTC (or aware) instant in ``timezone``."""
    if isinstance(moment, str):
        moment = _dt.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.astimezone(ZoneInfo(timezone))


def fmt_date(d: _dt.date | _dt.datetime | None, lang: str, timezone: str | None = None) -> str:
    """A day in the medium format: ``Nov 27, 2026`` / ``27 нояб. 2026 г.``. A datetime gives
    its own date, or (with ``timezone``) the date of that UTC instant in ``timezone``."""
    if _missing(d):
        return MISSING
    if isinstance(d, _dt.datetime):
        d = (_local(d, timezone) if timezone else d).date()
    return _dates.format_date(d, "medium", locale=locale_of(lang))


def fmt_datetime(ts: _dt.datetime | str | None, lang: str, timezone: str) -> str:
    """A naive UTC timestamp (as the store keeps them) shown in the account's ``timezone``,
    medium date and 24-hour time: ``Nov 27, 2026, 15:04`` / ``27 нояб. 2026 г., 15:04``."""
    if _missing(ts):
        return MISSING
    if isinstance(ts, _dt.date) and not isinstance(ts, _dt.datetime):
        return fmt_date(ts, lang)
    local = _local(ts, timezone)  # type: ignore[arg-type]
    loc = locale_of(lang)
    day = _dates.format_date(local.date(), "medium", locale=loc)
    time = _dates.format_time(local.time(), "HH:mm", locale=loc)
    return str(loc.datetime_formats["medium"]).format(time, day)


def fmt_period(period: Period, lang: str) -> str:
    """A :class:`~deskkit.filters.Period` as people name it: a day (``Nov 27, 2026``), a month
    (``November 2026`` / ``ноябрь 2026``), a quarter (``Q4 2026`` / ``4-й кв. 2026``), a year,
    or a range of days (``Nov 23 – 29, 2026`` / ``23—29 нояб. 2026 г.``, Babel's interval)."""
    loc = locale_of(lang)
    first, last, preset = period.first_day, period.last_day, period.preset_name
    if first == last:
        return fmt_date(first, lang)
    if preset == "month":
        return _dates.format_date(first, "LLLL y", locale=loc)
    if preset == "quarter":
        return _dates.format_date(first, "QQQ y", locale=loc)
    if preset == "year":
        return _dates.format_date(first, "y", locale=loc)
    return _dates.format_interval(first, last, "yMMMd", locale=loc)


# Rule texts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleText:
    """A metric's rule in both languages.

    ``en`` is the English template the metric's ``definition`` is made from; its
    ``{placeholders}`` (forecast's ``{k}``, latest deals' ``{n}``) are read back from an
    instance's definition and fill ``ru``, which may also use ``{n:one|few|many}`` word forms.
    A definition that matches no template (its English changed) is not translated: the
    English is shown rather than a stale rule.
    """

    en: str
    ru: str
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if _fields(self.en) != _fields(self.ru):
            raise ValueError(f"rule texts use different placeholders: {self.en[:60]!r}")
        parts = []
        for literal, name, _, _ in string.Formatter().parse(self.en):
            parts.append(re.escape(literal))
            if name:
                parts.append(f"(?P<{name}>.+?)")
        object.__setattr__(self, "_pattern", re.compile("".join(parts), re.DOTALL))

    def params(self, definition: str) -> dict[str, Any] | None:
        """The placeholder values ``definition`` was made with (None: not this template)."""
        hit = self._pattern.fullmatch(definition)
        if hit is None:
            return None
        return {k: int(v) if re.fullmatch(r"-?\d+", v) else v for k, v in hit.groupdict().items()}

    def render(self, params: Mapping[str, Any], lang: str) -> str:
        code = _lang(lang)
        template = self.en if code == "en" else self.ru
        return _Formatter(code).format(template, **params)


_OPEN = "(на открытом этапе или в «Неразобранном», не удалённые)"

#: Russian rule texts by result class name; a class may have several (variants of its text).
RULES: dict[str, list[RuleText]] = {
    "PipelineFlow": [
        RuleText(
            en=(
                "Pipeline flow for one pipeline and period. Open stages are in order and won "
                "follows the last one; lost is outside the line. Deals/budget: deals in each "
                "stage at the end of the period (for won: deals won during the period). Net in: "
                "moves during the period across the boundary just before the stage, forward "
                "minus backward; a skip crosses every boundary it passes, so values may be "
                "negative, and creating a deal is not a move. Lost: moves during the period "
                "from that stage to lost. New: deals that arrived in an open or won stage "
                "during the period: created there, accepted from the unsorted stage, or "
                "transferred from another pipeline (a move to another pipeline is an exit, not "
                "a loss). Conversion: forward crossings of the boundary after a stage ÷ (deals "
                "there at the start + entries during the period). Deleted deals are never "
                "counted."
            ),
            ru=(
                "Анализ продаж по одной воронке за период. Открытые этапы идут по порядку, за "
                "последним из них следует «Успешно реализовано»; «Закрыто и не реализовано» — "
                "вне этой линии. Сделки/бюджет: сделки на каждом этапе на конец периода (для "
                "«Успешно реализовано» — сделки, успешно реализованные за период). Чистый "
                "приток: переходы за период через границу непосредственно перед этапом, вперёд "
                "минус назад; переход через несколько этапов пересекает каждую границу на своём "
                "пути, поэтому значения могут быть отрицательными, а создание сделки переходом "
                "не считается. Потеряно: переходы за период с этого этапа в «Закрыто и не "
                "реализовано». Новые: сделки, попавшие за период на открытый этап или в "
                "«Успешно реализовано»: созданные там, принятые из «Неразобранного» или "
                "перенесённые из другой воронки (перенос в другую воронку — это выход из "
                "воронки, а не потеря). Конверсия: переходы вперёд через границу после этапа ÷ "
                "(сделки на этапе на начало периода + поступления на него за период). "
                "Удалённые сделки никогда не учитываются."
            ),
        )
    ],
    "Activity": [
        RuleText(
            en=(
                "Actions per author during the period, by type: incoming and outgoing calls (by "
                "the call's user), outgoing chat messages (by their author), tasks completed "
                "(completed during the period, by the task's responsible user), stage changes "
                "(by the user who moved the deal), notes (by their author) and deals created "
                "(by their creator). An action is in scope when its author is; robots "
                "(Salesbot, digital pipeline) are excluded, and so are actions on deleted "
                "deals. The previous comparable period is shown alongside."
            ),
            ru=(
                "Действия каждого автора за период по типам: входящие и исходящие звонки (по "
                "пользователю звонка), исходящие сообщения в чатах (по автору), выполненные "
                "задачи (выполненные за период, по ответственному за задачу), смены этапа (по "
                "пользователю, который перенёс сделку), примечания (по автору) и созданные "
                "сделки (по создателю). Действие учитывается, если его автор входит в выбранный "
                "фильтр «Ответственный»; действия роботов (Salesbot, цифровая воронка) не "
                "учитываются, как и действия по удалённым сделкам. Рядом показан предыдущий "
                "сопоставимый период."
            ),
        )
    ],
    "Events": [
        RuleText(
            en=(
                "The event feed: every stored event of the period whose author is in scope "
                "(robots' events appear only when the scope is everyone), newest first. Events "
                "on deals appear only when the deal is not deleted and the viewer may see it; "
                "other events when the viewer may see their author. Counts by type follow the "
                "entity and author filters but not the type filter, so every type shows what "
                "choosing it would give. New events: feed events created after the last view."
            ),
            ru=(
                "Лента событий: все сохранённые события периода, автор которых входит в "
                "выбранный фильтр «Ответственный» (события роботов показываются, только когда "
                "в фильтре выбраны все), сначала новые. События по сделкам показываются, только "
                "если сделка не удалена и текущий пользователь имеет право её видеть; остальные "
                "события — если он имеет право видеть их автора. Счётчики по типам учитывают "
                "фильтры по сущностям и авторам, но не фильтр по типу, так что у каждого типа "
                "видно, что даст его выбор. Новые события: события ленты, созданные после "
                "последнего просмотра."
            ),
        )
    ],
    "Messages": [
        RuleText(
            en=(
                "Chat messages sent during the period. Outgoing: in scope when their author is "
                "(messages sent by a robot count only for everyone). Incoming: attached to a "
                "deal whose responsible user (now) is in scope and visible to the viewer; "
                "incoming messages not attached to a deal are not counted. Messages on deleted "
                "deals are never counted. Shown per channel and per user, with the previous "
                "comparable period's totals."
            ),
            ru=(
                "Сообщения в чатах, отправленные за период. Исходящие: учитываются, если их "
                "автор входит в выбранный фильтр «Ответственный» (сообщения, отправленные "
                "роботом, учитываются, только когда выбраны все). Входящие: привязанные к "
                "сделке, ответственный по которой (на текущий момент) входит в фильтр и виден "
                "текущему пользователю по его правам; входящие сообщения, не привязанные к "
                "сделке, не учитываются. Сообщения по удалённым сделкам никогда не учитываются. "
                "Показаны по каналам и по пользователям, с итогами предыдущего сопоставимого "
                "периода."
            ),
        )
    ],
    "ResponseTime": [
        RuleText(
            en=(
                "Response time. The messages of each talk are taken in time order; a run of "
                "incoming messages is answered by the first outgoing message after it, and the "
                "reply time is measured from the FIRST incoming message of that run (the "
                "client's wait) to that reply; later outgoing messages before the client writes "
                "again are not replies, and robots' messages are ignored (an auto-reply does not "
                "answer the client). Mean and median over the replies sent during the period, "
                "overall and per replying user (in scope when the author is). Unanswered: runs "
                "of incoming messages that started during the period, on a deal in scope, with "
                "no outgoing message after them up to now. Talks on deleted deals are ignored. "
                "The previous comparable period's mean and median are shown alongside."
            ),
            ru=(
                "Время ответа. Сообщения каждой беседы берутся в порядке времени; на серию "
                "входящих сообщений отвечает первое исходящее сообщение после неё, и время "
                "ответа отсчитывается от ПЕРВОГО входящего сообщения серии (ожидание клиента) до "
                "этого ответа; следующие исходящие сообщения, пока клиент не напишет снова, "
                "ответами не считаются, а сообщения роботов не учитываются (автоответ — не ответ "
                "клиенту). Среднее и медиана по ответам, отправленным за период, — в целом и по "
                "каждому ответившему пользователю (ответ учитывается, если его автор входит в "
                "выбранный фильтр «Ответственный»). Без ответа: серии входящих сообщений, "
                "начавшиеся за период, по сделке, ответственный по которой входит в фильтр, "
                "после которых до текущего момента не было исходящего сообщения. Беседы по "
                "удалённым сделкам не учитываются. Рядом показаны среднее и медиана предыдущего "
                "сопоставимого периода."
            ),
        )
    ],
    "OverdueTasks": [
        RuleText(
            en=(
                "Missed deadlines (the desktop's number): every deadline of a task in scope (by "
                "responsible user) that fell inside the period and has already passed, while the "
                "task was not completed at or before it and the deadline had not been moved away "
                "before it passed. A task counts once per missed deadline, even if it was later "
                "rescheduled or completed; a task rescheduled past two deadlines in the period "
                "counts twice. Overdue now (the task list's number): tasks not completed now "
                "whose current deadline has passed, whatever the period. A completion exactly at "
                "the deadline is on time; a change exactly at the deadline moves it in time. "
                "Tasks of deleted deals are never counted."
            ),
            ru=(
                "Пропущенные сроки (число на рабочем столе): каждый срок задачи из выбранного "
                "фильтра «Ответственный» (по ответственному за задачу), который пришёлся на "
                "период и уже прошёл, если задача не была выполнена в этот срок или раньше и "
                "срок не был перенесён до того, как наступил. Задача учитывается один раз за "
                "каждый пропущенный срок, даже если позже её перенесли или выполнили; задача, "
                "которую переносили и которая пропустила за период два срока, учитывается "
                "дважды. Просрочено сейчас (число в списке задач): задачи, не выполненные на "
                "текущий момент, текущий срок которых прошёл, независимо от периода. Выполнение "
                "точно в срок считается выполнением вовремя; изменение точно в момент срока "
                "успевает его перенести. Задачи удалённых сделок никогда не учитываются."
            ),
        )
    ],
    "Goals": [
        RuleText(
            en=(
                "Goals: every goal valid now (the latest one set, by valid-from, for each scope, "
                "measure and cadence). Achieved: the won budget or the number of won deals — "
                "deals moved into a won stage from a stage that is not won, or created in a won "
                "stage — during the current cadence period (the month, quarter or year "
                "containing now, in the account's "
                "time zone, up to now), among deals whose responsible user is in the goal's "
                "scope (the whole account, one user, or one department). A deal counts once "
                "however often it was won; its budget is its current budget. Percent = achieved "
                "÷ target. Previous: the same for the whole previous cadence period. A user "
                "scope shows that user's goals, their department's and the account's; a "
                "department scope shows its goal, its users' and the account's. Only deals the "
                "viewer may see are counted; deleted deals never are."
            ),
            ru=(
                "Цели: все цели, действующие сейчас (для каждого сочетания «на кого поставлена "
                "цель, показатель, периодичность» — последняя заданная по дате начала "
                "действия). Выполнено: бюджет успешно реализованных сделок или их число — "
                "сделок, перенесённых на этап «Успешно реализовано» с этапа, который не "
                "является «Успешно реализовано», или созданных сразу на этом этапе, — за "
                "текущий период цели (месяц, квартал или "
                "год, в который входит текущий момент, в часовом поясе аккаунта, до текущего "
                "момента) среди сделок, ответственный по которым относится к тому, на кого "
                "поставлена цель (весь аккаунт, один пользователь или один отдел). Сделка "
                "учитывается один раз, сколько бы раз её ни реализовали; её бюджет — текущий. "
                "Процент = выполнено ÷ план. Предыдущий: то же за весь предыдущий период цели. "
                "Если в фильтре «Ответственный» выбран пользователь, показываются его цели, цели "
                "его отдела и всего аккаунта; если выбран отдел — цель отдела, цели его "
                "пользователей и всего аккаунта. Учитываются только сделки, которые текущий "
                "пользователь имеет право видеть; удалённые — никогда."
            ),
        )
    ],
    "PaymentCounters": [
        RuleText(
            en=(
                "Payment counters: each counter is a named set of stages (pipeline and stage), "
                "optionally with every won stage added. A 'now' counter counts the deals in "
                "scope (by responsible user) sitting in one of its stages now, and their budget. "
                "An 'entered' counter counts the deals that entered the set during the period — "
                "moved into one of its stages from a stage outside it, or created in one — once "
                "each however often they entered. Budget is the deals' current budget. By "
                "default 'Awaiting payment' is the deals now in a stage named like 'Awaiting "
                "payment' ('Ожидает оплаты') and 'Paid' is the deals that entered a stage named "
                "like 'Paid' ('Оплачено') or won during the period. Deleted deals are never "
                "counted."
            ),
            ru=(
                "Счётчики оплат: каждый счётчик — именованный набор этапов (воронка и этап), к "
                "которому можно добавить все этапы «Успешно реализовано». Счётчик «сейчас» "
                "считает сделки из выбранного фильтра «Ответственный» (по ответственному), "
                "которые сейчас находятся на одном из его этапов, и их бюджет. Счётчик "
                "«попали» считает сделки, попавшие в набор за период — перенесённые на один из "
                "его этапов с этапа вне набора или созданные на нём, — каждую один раз, сколько "
                "бы раз она ни попадала в набор. Бюджет — текущий бюджет сделок. По умолчанию "
                "«Ожидает оплаты» — это сделки, которые сейчас находятся на этапе с названием "
                "вроде «Ожидает оплаты» (Awaiting payment), а «Оплачено» — сделки, которые за "
                "период попали на этап с названием вроде «Оплачено» (Paid) или были успешно "
                "реализованы. Удалённые сделки никогда не учитываются."
            ),
        )
    ],
    "LeadSources": [
        RuleText(
            en=(
                "Lead sources: deals created during the period whose responsible user is in the "
                "selected scope, grouped by their lead source (deals without one form the \u201cno "
                "source\u201d row). For each source: the number of deals, their budget, and the "
                "won share: the part of those deals that are won now (their stage at the moment "
                "the desktop is looked at is a won stage), whenever they were won. Deleted deals "
                "are never counted."
            ),
            ru=(
                "Источники сделок: сделки, созданные за период, ответственный по которым входит "
                "в выбранный фильтр «Ответственный», сгруппированные по источнику (сделки без "
                "источника образуют строку «без источника»). Для каждого источника: число "
                "сделок, их бюджет и доля успешных — часть этих сделок, успешно реализованных "
                "сейчас (их этап в момент просмотра рабочего стола — «Успешно реализовано»), "
                "когда бы они ни были реализованы. Удалённые сделки никогда не учитываются."
            ),
        )
    ],
    "Nps": [
        RuleText(
            en=(
                "NPS: responses received during the period whose user (the manager the response "
                "is credited to) is in the selected scope. Promoters scored 9\u201310, passives "
                "7\u20138, detractors 0\u20136. NPS = % promoters \u2212 % detractors of all "
                "responses, from \u2212100 to +100; no responses, no score. Responses on deleted "
                "deals and scores outside 0\u201310 are not counted. The previous comparable "
                "period is shown alongside."
            ),
            ru=(
                "NPS: ответы, полученные за период, пользователь которых (менеджер, которому "
                "засчитывается ответ) входит в выбранный фильтр «Ответственный». Промоутеры "
                "поставили 9\u201310, нейтралы \u2014 7\u20138, критики \u2014 0\u20136. NPS = "
                "% промоутеров \u2212 % критиков от всех ответов, от \u2212100 до +100; нет "
                "ответов \u2014 нет оценки. Ответы по удалённым сделкам и оценки вне диапазона "
                "0\u201310 не учитываются. Рядом показан предыдущий сопоставимый период."
            ),
        )
    ],
    "RecentFiles": [
        RuleText(
            en=(
                "Recent files: files attached to deals, contacts and companies during the "
                "period, uploaded by a user in the selected scope, newest first, with the name "
                "of the record they are attached to. Files on deleted records, and on records "
                "the viewer has no right to see, are not shown; files on other kinds of records "
                "(customers, tasks) are not part of the list."
            ),
            ru=(
                "Последние файлы: файлы, прикреплённые за период к сделкам, контактам и "
                "компаниям и загруженные пользователем из выбранного фильтра «Ответственный», "
                "сначала новые, с названием записи, к которой они прикреплены. Файлы удалённых "
                "записей и записей, которые текущий пользователь не имеет права видеть, не "
                "показываются; файлы других записей (покупателей, задач) в список не входят."
            ),
        )
    ],
    "SystemUsage": [
        RuleText(
            en=(
                "System usage: hours each user in the selected scope was online during the "
                "period, from their presence sessions clipped to the period (a session crossing "
                "the start or the end counts only its part inside; overlapping sessions of one "
                "user count once; a session still open counts until now), and the percent "
                "change against the same elapsed part of the previous period (none when the "
                "previous period has no online time). When the account has no presence records "
                "for these users at all, sessions are derived from each user's own actions "
                "(robots excluded): actions less than 15 minutes apart form one session, which "
                "lasts from its first action to 5 minutes after its last, so a lone action "
                "counts 5 minutes."
            ),
            ru=(
                "Использование системы: сколько часов каждый пользователь из выбранного фильтра "
                "«Ответственный» был в сети за период, по его сеансам присутствия, обрезанным "
                "по границам периода (у сеанса, пересекающего начало или конец периода, "
                "учитывается только часть внутри; пересекающиеся сеансы одного пользователя "
                "учитываются один раз; ещё не закрытый сеанс учитывается до текущего момента), "
                "и изменение в процентах к такой же прошедшей части предыдущего периода (нет, "
                "если в предыдущем периоде времени в сети нет). Если в аккаунте совсем нет "
                "записей о присутствии этих пользователей, сеансы восстанавливаются по "
                "собственным действиям каждого пользователя (без роботов): действия с "
                "промежутком меньше 15 минут образуют один сеанс, который длится от первого "
                "действия до 5 минут после последнего, так что одиночное действие даёт 5 минут."
            ),
        )
    ],
    "DealsByManager": [
        RuleText(
            en=(
                "Deals by manager: open deals (in an open or unsorted stage, not deleted) per "
                "responsible user now, with their budget, whatever the period. Every active user "
                "in the scope is listed, with 0 when they have none (an inactive user is listed "
                "only while deals still sit with them). Capacity is the user's deal capacity, 15 "
                "when not set; a user with more open deals than their capacity is flagged as "
                "over capacity."
            ),
            ru=(
                f"Сделки по менеджерам: открытые сделки {_OPEN} по каждому ответственному на "
                "текущий момент, с их бюджетом, независимо от периода. Показан каждый активный "
                "пользователь из выбранного фильтра «Ответственный», с 0, если сделок у него "
                "нет (неактивный пользователь показывается, только пока за ним ещё есть "
                "сделки). Лимит — лимит сделок пользователя, 15, если он не задан; "
                "пользователь, у которого открытых сделок больше лимита, отмечается как "
                "перегруженный."
            ),
        )
    ],
    "DealsWithoutTasks": [
        RuleText(
            en=(
                "Deals without tasks: open deals (in an open or unsorted stage, not deleted) in "
                "the scope that have no open task now, whatever the period. A task is open now "
                "when it was created at or before now and was not completed by now (a task "
                "completed later still counts as open at now); any task on the deal counts, "
                "whoever is responsible for it. Count and budget, in total and per responsible "
                "user, with each user's open deals for comparison."
            ),
            ru=(
                f"Сделки без задач: открытые сделки {_OPEN} из выбранного фильтра "
                "«Ответственный», у которых сейчас нет открытой задачи, независимо от периода. "
                "Задача открыта сейчас, если она создана не позже текущего момента и не "
                "выполнена к нему (задача, выполненная позже, на текущий момент считается "
                "открытой); учитывается любая задача по сделке, кто бы ни был за неё "
                "ответственным. Число и бюджет — всего и по каждому ответственному, с "
                "открытыми сделками каждого пользователя для сравнения."
            ),
        )
    ],
    "LatestDeals": [
        RuleText(
            en=(
                "Latest deals: the {n} most recently created deals in the scope that are open "
                "now (in an open or unsorted stage, not deleted), newest first, whatever the "
                "period; a deal created earlier but already won or lost is skipped. Ties in "
                "creation time go to the higher deal id."
            ),
            ru=(
                "Последние сделки: {n} {n:последняя созданная сделка|последние созданные "
                "сделки|последних созданных сделок} из выбранного фильтра «Ответственный» среди "
                "тех, что открыты сейчас (на открытом этапе или в «Неразобранном», не удалены), "
                "сначала самые новые, независимо от периода; сделка, созданная раньше, но уже "
                "успешно реализованная или закрытая и не реализованная, пропускается. При "
                "одинаковом времени создания предпочтение отдаётся сделке с большим ID."
            ),
        )
    ],
    "Forecast": [
        RuleText(
            en=(
                "Forecast: open deals (in an open or unsorted stage, not deleted) in the scope "
                "across all pipelines now, whatever the period. Budget is their total price; "
                "weighted budget sums each price times the probability of reaching won from the "
                "deal's stage now. That probability is learned from the account's own history: "
                "among closed deals (won or lost now, not deleted, whatever their responsible "
                "user) that were ever in that stage before now, the share now won, with the "
                "sample size shown. When a stage has fewer than {k} such deals the pipeline's "
                "overall rate is used instead (closed deals ever in any of its open or unsorted "
                "stages), and the basis column says so; with no closed deal at all the "
                "probability is unknown and the deals add nothing to the weighted budget."
            ),
            ru=(
                f"Прогноз: открытые сделки {_OPEN} из выбранного фильтра «Ответственный» во "
                "всех воронках на текущий момент, независимо от периода. Бюджет — сумма их "
                "бюджетов; взвешенный бюджет — сумма бюджетов, умноженных на вероятность дойти "
                "до «Успешно реализовано» с текущего этапа сделки. Эта вероятность берётся из "
                "истории самого аккаунта: среди закрытых сделок (успешно реализованных или "
                "закрытых и не реализованных на текущий момент, не удалённых, с любым "
                "ответственным), которые до текущего момента когда-либо были на этом этапе, — "
                "доля успешно реализованных сейчас, с размером этой выборки. Если таких сделок "
                "у этапа меньше {k}, вместо неё берётся общая доля по воронке (закрытые сделки, "
                "когда-либо бывшие на любом её открытом этапе или в «Неразобранном»), и это "
                "указано в столбце основы расчёта; если закрытых сделок нет совсем, вероятность "
                "неизвестна и сделки ничего не добавляют во взвешенный бюджет."
            ),
        )
    ],
    "SearchResult": [
        RuleText(
            en=(
                "Search: records whose name contains the text, ignoring case \u2014 deals, "
                "contacts and companies \u2014 and notes on them whose text contains it; the text "
                "is matched literally. Only records in the selected scope (by responsible user) "
                "that the viewer may see are searched, and only notes on those records; deleted "
                "records are never found. All time, unless limited to records (or notes) created "
                "during the period. Newest first."
            ),
            ru=(
                "Поиск: записи \u2014 сделки, контакты и компании, \u2014 название которых "
                "содержит текст без учёта регистра, и примечания к ним, текст которых его "
                "содержит; текст ищется буквально. Поиск идёт только по записям из выбранного "
                "фильтра «Ответственный» (по ответственному), которые текущий пользователь "
                "имеет право видеть, и только по примечаниям к этим записям; удалённые записи "
                "никогда не находятся. За всё время, если поиск не ограничен записями (или "
                "примечаниями), созданными за период. Сначала новые."
            ),
        )
    ],
}


def register_rule(class_name: str, en: str, ru: str) -> RuleText:
    """Add a Russian rule text for results of class ``class_name`` whose ``definition`` is
    made from the English template ``en`` (e.g. for a user's widget)."""
    rule = RuleText(en, ru)
    rules = RULES.setdefault(class_name, [])
    if all(known.en != en for known in rules):
        rules.append(rule)
    return rule


def rule_text(result: Any, lang: str) -> str:
    """How ``result``'s numbers are counted, in ``lang``.

    English is the result's own ``definition``. Russian is the translation of the template
    that definition was made from (matched by class name and text, so an instance's own
    parameters and variant carry over); a result of an unknown type, or whose English no
    longer matches a translated template, falls back to its English definition.
    """
    code = _lang(lang)
    # A custom widget's result carries its definition (an object) and its rule as text, and
    # renders the rule in either language with ``rule(lang)``.
    rule = getattr(result, "rule", None)
    if callable(rule):
        text = rule(code)
        if isinstance(text, str):
            return text
    custom = getattr(result, "definition_text", None)
    if callable(custom):
        try:
            custom = custom(code)
        except TypeError:
            custom = custom()
    if isinstance(custom, str):
        return custom
    english = str(getattr(result, "definition", "") or "")
    if code == "en":
        return english
    for rule in RULES.get(type(result).__name__, ()):
        params = rule.params(english)
        if params is not None:
            return rule.render(params, code)
    return english
