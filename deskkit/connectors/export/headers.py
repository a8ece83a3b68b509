"""amoCRM export column names (Russian and English) and which store column each one feeds.

amoCRM's "Export" writes one row per deal (or contact / company) with the account's own column
titles: standard ones ("ID", "Название сделки", "Бюджет ₽", "Этап сделки" …, or the Kommo English
"Lead name", "Sale", "Lead status" …) followed by one column per custom field. Titles are matched
after :func:`normalise` (case, spaces, punctuation and currency signs do not matter); a title that
is not a standard one becomes a custom field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ENTITIES",
    "Columns",
    "Entity",
    "FileEntity",
    "find_header",
    "map_columns",
    "normalise",
]

#: What a row stands for, as in the store's ``entity_type`` columns.
Entity = Literal["deal", "contact", "company"]
#: What a whole file holds: one entity, or amoCRM's combined contacts-and-companies export
#: (a "Тип"/"Type" column says which each row is).
FileEntity = Literal["deals", "contacts", "companies", "contacts+companies"]
#: Values accepted for an explicit ``entity``.
ENTITIES: Final = ("deals", "contacts", "companies")

# Currency words and signs that may trail a money title ("Бюджет ₽", "Budget, USD").
_CURRENCY_WORDS: Final = frozenset({"руб", "р", "rub", "usd", "eur", "kzt", "uah", "byn", "rur"})
_NON_WORD = re.compile(r"[^\w]+")


def normalise(title: object) -> str:
    """A column title or stage name reduced for matching: casefolded, ``ё`` → ``е``, every run of
    punctuation/spaces one space, trailing currency words dropped.

    >>> normalise("  Бюджет, ₽ ")
    'бюджет'
    >>> normalise("Closed – won")
    'closed won'
    """
    text = str(title).replace("\ufeff", "").casefold().replace("ё", "е").replace("_", " ")
    words = _NON_WORD.sub(" ", text).split()
    while len(words) > 1 and words[-1] in _CURRENCY_WORDS:
        words.pop()
    return " ".join(words)


def _aliases(*titles: str) -> frozenset[str]:
    return frozenset(normalise(t) for t in titles)


_ID = _aliases("ID", "Id сделки", "ID сделки", "Идентификатор", "Deal ID", "Lead ID")
_RESPONSIBLE = _aliases(
    "Ответственный",
    "Ответственный пользователь",
    "Ответственный менеджер",
    "Responsible user",
    "Responsible",
    "Responsible person",
    "Lead owner",
)
_CREATED_AT = _aliases(
    "Дата создания", "Создано", "Создана", "Date created", "Created", "Created at", "Creation date"
)
_UPDATED_AT = _aliases(
    "Дата редактирования",
    "Дата изменения",
    "Дата последнего изменения",
    "Изменено",
    "Modified",
    "Date modified",
    "Last modified",
    "Modified at",
    "Updated at",
    "Date updated",
    "Updated",
)
_TAGS = _aliases("Теги", "Тэги", "Tags")
_COMPANY_ID = _aliases("ID компании", "Company ID")

#: Standard columns per entity: store-facing key -> accepted titles (already normalised).
FIELDS: Final[dict[Entity, dict[str, frozenset[str]]]] = {
    "deal": {
        "id": _ID,
        "name": _aliases(
            "Название сделки",
            "Название",
            "Сделка",
            "Имя сделки",
            "Deal name",
            "Lead name",
            "Deal title",
            "Name",
            "Lead",
            "Deal",
        ),
        "price": _aliases(
            "Бюджет",
            "Бюджет сделки",
            "Сумма",
            "Сумма сделки",
            "Budget",
            "Sale",
            "Sale amount",
            "Lead budget",
            "Price",
            "Amount",
        ),
        "responsible": _RESPONSIBLE | _aliases("Ответственный за сделку"),
        "created_by": _aliases("Кем создана сделка", "Кем создана", "Кем создан", "Created by"),
        "created_at": _CREATED_AT | _aliases("Дата создания сделки"),
        "updated_at": _UPDATED_AT | _aliases("Дата редактирования сделки"),
        "closed_at": _aliases(
            "Дата закрытия",
            "Дата закрытия сделки",
            "Closed",
            "Date closed",
            "Closed at",
            "Closing date",
            "Close date",
        ),
        "tags": _TAGS | _aliases("Теги сделки", "Lead tags", "Deal tags"),
        "stage": _aliases(
            "Этап сделки",
            "Этап",
            "Статус сделки",
            "Статус",
            "Lead status",
            "Stage",
            "Status",
            "Deal stage",
            "Pipeline stage",
        ),
        "pipeline": _aliases("Воронка", "Воронка продаж", "Pipeline", "Sales pipeline"),
        "company": _aliases("Компания", "Название компании", "Company", "Company name"),
        "company_id": _COMPANY_ID,
        "main_contact": _aliases(
            "Основной контакт",
            "Полное имя контакта",
            "Контакт",
            "Main contact",
            "Contact",
            "Contact name",
            "Contact full name",
        ),
        "main_contact_id": _aliases(
            "ID основного контакта", "ID контакта", "Main contact ID", "Contact ID"
        ),
        "source": _aliases("Источник", "Источник сделки", "Source", "Lead source"),
        "loss_reason": _aliases(
            "Причина отказа", "Loss reason", "Reason for loss", "Lost reason", "Lose reason"
        ),
    },
    "contact": {
        "id": _aliases("ID", "ID контакта", "Contact ID"),
        "name": _aliases(
            "Полное имя контакта",
            "Полное имя",
            "Имя контакта",
            "ФИО",
            "Full name",
            "Contact name",
            "Contact full name",
            "Name",
        ),
        "first_name": _aliases("Имя", "First name"),
        "last_name": _aliases("Фамилия", "Last name"),
        "responsible": _RESPONSIBLE | _aliases("Ответственный за контакт"),
        "created_at": _CREATED_AT | _aliases("Дата создания контакта"),
        "updated_at": _UPDATED_AT,
        "tags": _TAGS | _aliases("Теги контакта", "Contact tags"),
        "company": _aliases(
            "Название компании", "Компания", "Компания контакта", "Company", "Company name"
        ),
        "company_id": _COMPANY_ID,
        "type": _aliases("Тип", "Type"),
    },
    "company": {
        "id": _aliases("ID", "ID компании", "Company ID"),
        "name": _aliases(
            "Название компании", "Название", "Компания", "Company name", "Company", "Name"
        ),
        "responsible": _RESPONSIBLE | _aliases("Ответственный за компанию"),
        "created_at": _CREATED_AT | _aliases("Дата создания компании"),
        "updated_at": _UPDATED_AT,
        "tags": _TAGS | _aliases("Теги компании", "Company tags"),
    },
}

# "Примечание", "Примечание 2" … : the texts of the entity's latest notes.
_NOTE = re.compile(r"^(примечание|примечание к (сделке|контакту|компании)|note|notes)( \d+)?$")

# Titles only a deals export has (a deals export also carries its main contact's columns, so
# contact titles cannot tell the two apart; these can). Generic titles ("Статус", "Stage",
# "Name") are left out: a contacts export may have a custom field called that.
_DEAL_MARKERS: Final = _aliases(
    "Этап сделки",
    "Статус сделки",
    "Lead status",
    "Deal stage",
    "Pipeline stage",
    "Название сделки",
    "Deal name",
    "Lead name",
    "Deal title",
    "Бюджет",
    "Бюджет сделки",
    "Сумма сделки",
    "Budget",
    "Sale",
    "Lead budget",
    "Воронка",
    "Воронка продаж",
    "Pipeline",
    "Sales pipeline",
    "Дата создания сделки",
    "Кем создана сделка",
    "Дата закрытия",
    "Дата закрытия сделки",
    "Date closed",
    "Closing date",
    "Причина отказа",
    "Loss reason",
    "ID сделки",
    "Deal ID",
    "Lead ID",
)
_CONTACT_MARKERS: Final = _aliases(
    "Полное имя контакта",
    "Полное имя",
    "Имя",
    "Фамилия",
    "ФИО",
    "First name",
    "Last name",
    "Full name",
    "Contact name",
    "Дата создания контакта",
    "Кем создан контакт",
    "Должность",
    "Position",
)
_COMPANY_MARKERS: Final = _aliases("Название компании", "Company name", "Дата создания компании")
_TYPE: Final = FIELDS["contact"]["type"]

#: How many leading rows may come before the header row (a title line, a blank line …).
HEADER_SEARCH_ROWS = 10


@dataclass(frozen=True)
class Columns:
    """Which column of a file feeds what.

    ``fields`` maps a standard key (``"name"``, ``"stage"`` …) to its column index; ``custom``
    lists (index, field name) of the columns that become custom fields; ``notes`` the indexes of
    note-text columns. ``decimal_comma`` is True for a Russian export, where "1,500" is 1.5.
    """

    entity: FileEntity
    titles: tuple[str, ...]
    fields: dict[str, int]
    custom: tuple[tuple[int, str], ...]
    notes: tuple[int, ...]
    decimal_comma: bool
    currency: str | None
    warnings: tuple[str, ...]


def find_header(rows: list[list[object]]) -> int | None:
    """Index of the header row: the first of the leading rows with an "ID" title, else None."""
    ids = FIELDS["deal"]["id"] | FIELDS["contact"]["id"] | FIELDS["company"]["id"]
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if any(normalise(cell) in ids for cell in row if cell is not None):
            return i
    return None


def detect_entity(titles: list[str]) -> FileEntity | None:
    """What the file holds, from its titles; None when they do not say."""
    norm = {normalise(t) for t in titles}
    if norm & _DEAL_MARKERS:
        return "deals"
    if norm & _TYPE and norm & (_CONTACT_MARKERS | _COMPANY_MARKERS):
        return "contacts+companies"
    if norm & _CONTACT_MARKERS:
        return "contacts"
    if norm & _COMPANY_MARKERS:
        return "companies"
    return None


_CURRENCY_SIGNS: Final = {
    "₽": "RUB",
    "руб": "RUB",
    "$": "USD",
    "usd": "USD",
    "€": "EUR",
    "eur": "EUR",
    "₸": "KZT",
    "kzt": "KZT",
    "₴": "UAH",
    "uah": "UAH",
    "byn": "BYN",
}


def _currency(title: str) -> str | None:
    low = title.casefold()
    for sign, code in _CURRENCY_SIGNS.items():
        if sign in low:
            return code
    return None


def map_columns(titles: list[str], entity: FileEntity | None = None) -> Columns:
    """Map the header ``titles`` to store keys; raises ``ValueError`` when the entity cannot be
    told (and none was given) or there is no ID column."""
    found = entity or detect_entity(titles)
    if found is None:
        shown = ", ".join(repr(t) for t in titles[:8])
        raise ValueError(
            "cannot tell whether the file holds deals, contacts or companies from its columns "
            f"({shown}{' …' if len(titles) > 8 else ''}); pass --entity"
        )
    key_entity: Entity = {
        "deals": "deal",
        "contacts": "contact",
        "companies": "company",
        "contacts+companies": "contact",
    }[found]
    table = FIELDS[key_entity]
    fields: dict[str, int] = {}
    custom: list[tuple[int, str]] = []
    notes: list[int] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for i, title in enumerate(titles):
        norm = normalise(title)
        if not norm:
            # An untitled column (or one of only punctuation) is kept should it hold values.
            custom.append((i, title.strip() or f"column {i + 1}"))
            continue
        key = next((k for k, names in table.items() if norm in names), None)
        if key == "type" and found != "contacts+companies":
            key = None
        if key is not None and key not in fields:
            fields[key] = i
            continue
        if _NOTE.match(norm):
            notes.append(i)
            continue
        # A custom field, or a second column for a standard key (a deals export repeats e.g.
        # "Источник" for the contact's field of that name): the first one is the standard
        # column, later ones are custom fields, numbered when their titles repeat.
        name = " ".join(title.split())
        n = seen[name.casefold()] = seen.get(name.casefold(), 0) + 1
        if key is not None:
            first = titles[fields[key]]
            n += normalise(first) == norm
            warnings.append(
                f"column {i + 1} {title.strip()!r} is a second {key!r} column: the first one "
                f"({first.strip()!r}) is used, this one is kept as a custom field"
            )
        custom.append((i, f"{name} ({n})" if n > 1 else name))
    if "id" not in fields:
        raise ValueError("no ID column (expected a column titled 'ID')")
    if key_entity == "deal" and "stage" not in fields:
        warnings.append("no stage column: the deals get no stage, so pipeline widgets omit them")
    if "created_at" not in fields:
        warnings.append("no creation date column: period widgets cannot place these rows in time")
    price = fields.get("price")
    cyrillic = any(re.search("[а-яё]", t.casefold()) for t in titles)
    return Columns(
        entity=found,
        titles=tuple(titles),
        fields=fields,
        custom=tuple(custom),
        notes=tuple(notes),
        decimal_comma=cyrillic,
        currency=_currency(titles[price]) if price is not None else None,
        warnings=tuple(warnings),
    )
