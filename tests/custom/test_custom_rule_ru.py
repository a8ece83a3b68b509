"""The custom widget's rule text in Russian (``CustomResult.rule("ru")``, ``describe(lang="ru")``
and ``deskkit.ui.i18n.rule_text``), on the tiny account; the English text stays as it was."""

from __future__ import annotations

import re

import pytest

from deskkit.custom import Condition, CustomWidget, Display, fields
from deskkit.metrics._custom_spec import catalog
from deskkit.metrics.custom import describe
from deskkit.ui.i18n import rule_text

C = Condition

#: English words of the rule text (operators, joins, the dynamics and history sentences).
ENGLISH = re.compile(
    r"\b(is|not|one|of|none|any|all|has|have|whose|that|and|in|by|split|counted|once|each|"
    r"summing|averaging|value|period|pipeline|deleted|scope|user|set|empty|date|falls|before|"
    r"within|last|days|overdue|deadline|passed|completed|open|task|evaluated|history|store|"
    r"current|moments?|event|counts?|created|greater|less|least|most|between|contains)\b",
    re.IGNORECASE,
)


def run(desk, entity, *conds, display=None, **scope):
    w = CustomWidget("t", "T", entity, tuple(conds), display or Display())
    return desk.custom(w, "month", **scope)


def latin_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]+", text))


@pytest.fixture(scope="module")
def deals_split(tiny):
    return run(
        tiny,
        "deals",
        C("stage", "in", [[1, 11], [1, 13]]),
        C("cf:Product", "in", ["A"]),
        C("cf:Segment", "eq", "Small"),
        display=Display(kind="split", split_by="cf:Product"),
        pipeline="Sales",
    )


def test_deals_with_stage_custom_fields_and_a_multiselect_split(deals_split):
    ru = deals_split.rule("ru")
    for words in (
        "Сделки (не удалённые; ответственный входит в выбранный фильтр «Ответственный»)",
        "у которых поле «Этап» принимает одно из значений: Sales: A, Sales: C",
        "у которых в поле «Product» выбрано любое из значений: A",
        "у которых поле «Segment» равно Small",
        "в воронке «Sales»",
        "каждая запись считается один раз",
        "с разбивкой по полю «Product» (запись с несколькими значениями учитывается один раз "
        "под каждым из них)",
        "Значение берётся на конец периода (или на текущий момент, если он раньше); изменение — "
        "это значение минус значение на начало периода.",
        "Для поля «Этап» значение берётся на каждый момент по истории.",
        "Для полей «Product», «Segment» история не хранится, поэтому на оба момента берётся "
        "текущее значение.",
    ):
        assert words in ru
    # Only the account's own names (fields, values, the pipeline) stay in Latin letters.
    assert latin_words(ru) == {"Sales", "A", "C", "Product", "Segment", "Small"}
    assert not ENGLISH.search(ru)


def test_the_english_text_is_unchanged(deals_split):
    assert deals_split.rule() == deals_split.rule("en") == deals_split.definition_text
    assert deals_split.definition_text == (
        "Deals (not deleted, in the selected scope by responsible user) whose Stage is one of "
        "Sales: A, Sales: C, whose Product has any of A, whose Segment is Small; in the pipeline "
        "Sales, counted once each, split by Product (an entity with several values counts once "
        "under each). The value is taken at the end of the period (or now, if sooner); the "
        "change is that value minus the value at the start of the period. Stage: evaluated as of "
        "each moment from history. Product, Segment: the store keeps no history, so the current "
        "value is used at both moments."
    )
    plan = deals_split._plan
    text = describe(
        deals_split.definition, plan.specs, pipeline=plan.pipeline, store=plan.ctx.store
    )
    assert text == deals_split.definition_text
    assert describe(
        deals_split.definition, plan.specs, pipeline=plan.pipeline, store=plan.ctx.store, lang="ru"
    ) == deals_split.rule("ru")


def test_rule_text_shows_the_chosen_language(deals_split):
    assert rule_text(deals_split, "ru") == deals_split.rule("ru")
    assert rule_text(deals_split, "ru_RU") == deals_split.rule("ru")
    assert rule_text(deals_split, "en") == deals_split.definition_text
    assert rule_text(deals_split, "ru") != deals_split.definition_text


def test_overdue_tasks(tiny):
    r = run(tiny, "tasks", C("deadline", "overdue"), C("is_completed", "is", False))
    ru = r.rule("ru")
    assert ru.startswith("Задачи (не удалённые; ответственный входит в выбранный фильтр")
    assert "которые просрочены (срок прошёл, задача не выполнена)" in ru
    assert "которые не выполнены" in ru
    assert "Для полей «Срок», «Выполнена» значение берётся на каждый момент по истории." in ru
    assert "история не хранится" not in ru
    assert latin_words(ru) == set()
    assert "overdue" in r.definition_text  # English unchanged
    assert rule_text(r, "ru") == ru


def test_events_by_type(tiny):
    r = run(
        tiny,
        "events",
        C("event_type", "eq", "lead_added"),
        C("entity_type", "in", ["deal"]),
        C("created_at", "in_period"),
    )
    ru = r.rule("ru")
    assert ru.startswith("События (не удалённые; автор входит в выбранный фильтр «Ответственный»)")
    assert "у которых поле «Тип события» равно lead_added" in ru
    assert "у которых поле «Сущность» принимает одно из значений: сделка" in ru
    assert "у которых поле «Дата создания» попадает в период" in ru
    assert "Событие учитывается с момента своего создания." in ru
    assert "Для поля «Дата создания» значение берётся на каждый момент по истории." in ru
    assert latin_words(ru) == {"lead_added"}
    assert not ENGLISH.search(ru.replace("lead_added", ""))


def test_contacts_with_tags_a_task_and_recent_creation(tiny):
    r = run(
        tiny,
        "contacts",
        C("cf:Role", "eq", "Director"),
        C("has_open_task", "is", True),
        C("tag", "in", ["vip", "urgent"]),
        C("created_at", "last_days", 21),
        display=Display(kind="split", split_by="responsible"),
    )
    ru = r.rule("ru")
    assert ru.startswith("Контакты (не удалённые; ответственный входит")
    assert "у которых поле «Role» равно Director" in ru
    assert "у которых есть открытая задача" in ru
    assert "у которых есть любой из тегов: vip, urgent" in ru
    assert "у которых поле «Дата создания» попадает в последние 21 день" in ru
    assert "с разбивкой по полю «Ответственный»" in ru
    assert "под каждым" not in ru  # the note is for multiselect splits only
    assert "Для полей «Есть открытая задача», «Дата создания» значение берётся" in ru
    assert "Для полей «Role», «Теги» история не хранится" in ru
    assert latin_words(ru) == {"Role", "Director", "vip", "urgent"}


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (1, "последний день"),
        (2, "последние 2 дня"),
        (5, "последние 5 дней"),
        (11, "последние 11 дней"),
    ],
)
def test_last_days_in_russian(tiny, days, words):
    r = run(tiny, "companies", C("updated_at", "last_days", days))
    assert f"у которых поле «Дата изменения» попадает в {words}" in r.rule("ru")


def test_sum_and_mean_and_stage_kinds(tiny):
    total = run(
        tiny,
        "deals",
        C("stage_kind", "in", ["won", "open"]),
        C("price", "between", [100, 300]),
        display=Display(measure="sum", field="price"),
    )
    ru = total.rule("ru")
    assert "у которых поле «Тип этапа» принимает одно из значений: Успешно реализовано" in ru
    assert "у которых поле «Бюджет» в диапазоне от 100 до 300" in ru
    assert "считается сумма поля «Бюджет»" in ru
    mean = run(tiny, "deals", display=Display(measure="mean", field="price"))
    assert "считается среднее поля «Бюджет»" in mean.rule("ru")
    assert latin_words(ru) == set()


def test_built_in_fields_have_russian_labels_english_ones_unchanged(tiny):
    specs = catalog(tiny.store, "deals")
    assert specs["price"].label == "Budget" and specs["price"].label_in("ru") == "Бюджет"
    assert specs["stage"].label_in("ru") == "Этап"
    assert specs["pipeline"].label_in("ru") == "Воронка"
    assert specs["responsible"].label_in("ru_RU") == "Ответственный"
    assert specs["tag"].label_in("ru") == "Теги"
    assert specs["created_at"].label_in("ru") == "Дата создания"
    assert specs["created_at"].label_in("en") == "Created"
    # A custom field keeps the account's name in both languages.
    product = next(s for s in specs.values() if s.label == "Product")
    assert product.label_in("ru") == "Product"
    # Every built-in field of every entity has a Russian label; the builder's table is as before.
    for entity in ("deals", "contacts", "companies", "customers", "tasks", "events"):
        for s in catalog(tiny.store, entity).values():
            assert (s.label_ru is None) == (s.field_id is not None), (entity, s.name)
    assert list(fields(tiny, "deals").columns) == ["field", "label", "type", "ops", "choices"]
    assert fields(tiny, "deals").set_index("field").loc["price", "label"] == "Budget"
