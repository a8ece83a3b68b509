"""Saving custom widgets per account and user, and putting them in the desktop's widget list."""

from __future__ import annotations

import json

import pytest
from custom_account import NOW

import deskkit as dk
from deskkit import widgets
from deskkit.custom import Condition, CustomWidget, DefinitionError, Display

NO_TASK = CustomWidget(
    "no_task_c",
    {"en": "No task in C", "ru": "Без задач на этапе C"},
    "deals",
    (Condition("stage", "eq", [1, 13]), Condition("has_open_task", "is", False)),
)
BY_PRODUCT = CustomWidget(
    "by_product", "By product", "deals", (), Display("split", split_by="cf:Product"), "medium"
)


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKKIT_DATA", str(tmp_path))
    yield tmp_path
    for w in widgets.widgets():
        if w.family == "custom":
            widgets.unregister(w.id)


def test_save_and_list_per_user(tiny, data):
    path = dk.custom.save(tiny, NO_TASK)  # shared
    assert path == data / "custom_widgets" / "test" / "no_task_c.json"
    stored = json.loads(path.read_text())
    assert stored == {"owner": None, "definition": NO_TASK.to_dict()}
    dk.custom.save(tiny, BY_PRODUCT.to_yaml(), user=1)  # Anna's own
    assert [w.id for w in dk.custom.saved(tiny, user=1)] == ["by_product", "no_task_c"]
    assert [w.id for w in dk.custom.saved(tiny, user=2)] == ["no_task_c"]
    assert dk.custom.saved(tiny, user=1)[0] == BY_PRODUCT
    # Boris cannot overwrite or delete Anna's widget.
    with pytest.raises(DefinitionError, match="already saved"):
        dk.custom.save(tiny, BY_PRODUCT, user=2)
    with pytest.raises(PermissionError):
        dk.custom.delete(tiny, "by_product", user=2)
    dk.custom.delete(tiny, "by_product", user=1)
    assert [w.id for w in dk.custom.saved(tiny, user=1)] == ["no_task_c"]
    with pytest.raises(KeyError):
        dk.custom.delete(tiny, "by_product", user=1)
    assert not list(path.parent.glob(".tmp-*"))  # atomic writes leave no temporary files


def test_save_validates_first(tiny, data):
    bad = CustomWidget("bad", "Bad", "deals", (Condition("cf:Nope", "eq", 1),))
    with pytest.raises(DefinitionError, match="unknown custom field"):
        dk.custom.save(tiny, bad)
    with pytest.raises(DefinitionError) as err:
        dk.custom.save(tiny, CustomWidget("pipeline_flow", "Clash", "deals"))
    assert err.value.field == "id" and "built-in" in err.value.problem
    assert dk.custom.saved(tiny) == []


def test_damaged_files_are_skipped(tiny, data):
    dk.custom.save(tiny, NO_TASK)
    folder = dk.custom.folder(tiny)
    (folder / "broken.json").write_text("{not json")
    (folder / "odd.json").write_text(json.dumps({"owner": None, "definition": {"id": "x y"}}))
    assert [w.id for w in dk.custom.saved(tiny)] == ["no_task_c"]


def test_registered_widgets_behave_like_cards(tiny, data):
    dk.custom.save(tiny, NO_TASK)
    dk.custom.save(tiny, BY_PRODUCT, user=1)
    registered = dk.custom.register_saved(tiny, user=1)
    assert [w.id for w in registered] == ["by_product", "no_task_c"]
    w = widgets.get("no_task_c")
    # It names a stage of its own: the desktop's pipeline filter does not narrow it.
    assert (w.family, w.follows_period, w.follows_pipeline, w.builtin) == (
        "custom",
        True,
        False,
        False,
    )
    assert w.label("ru") == "Без задач на этапе C"
    result = w.compute(tiny, widgets.Filters(period="month"))
    assert (result.value, result.value_at_start, result.change) == (1, 0, 1)  # deal 1
    # The desktop's filters reach the query: the scope.
    assert w.compute(tiny, widgets.Filters(period="month", user=3)).value == 0
    assert w.compute(tiny, widgets.Filters(period="month", pipeline=2)).value == 1
    assert w.chart(result) is None  # a number: the card shows it
    split = widgets.get("by_product")
    chart = split.chart(split.compute(tiny, widgets.Filters()), currency="RUB", lang="ru")
    spec = chart.to_dict()
    assert spec["layer"][0]["mark"]["type"] == "bar"
    # Registering again replaces (a saved edit shows up without restarting).
    dk.custom.save(tiny, CustomWidget("by_product", "Renamed", "deals"), user=1)
    dk.custom.register_saved(tiny, user=1)
    assert widgets.get("by_product").label() == "Renamed"
    dk.custom.delete(tiny, "by_product", user=1)
    with pytest.raises(KeyError):
        widgets.get("by_product")


def test_preview_and_as_widget(tiny, data):
    r = dk.custom.preview(tiny, NO_TASK.to_json(), "month", user=1)
    assert r.value == 1 and r.title == "No task in C"
    w = dk.custom.as_widget(NO_TASK)
    assert w.id == "no_task_c" and w.size == "small"
    with pytest.raises(DefinitionError, match="built-in"):
        dk.custom.as_widget(CustomWidget("forecast", "F", "deals"))
    assert tiny.now == NOW


def test_the_desktop_pipeline_narrows_only_deal_widgets_without_a_pipeline_of_their_own(tiny):
    """NO_TASK names a stage of pipeline 1: the desktop showing pipeline 2 must not zero it."""
    own = dk.custom.as_widget(NO_TASK)
    assert not own.follows_pipeline
    f2 = widgets.Filters(period="month", pipeline=2)
    assert own.compute(tiny, f2).value == own.compute(tiny, widgets.Filters("month")).value
    assert (
        dk.custom.preview(tiny, NO_TASK, "month", pipeline=2).value == own.compute(tiny, f2).value
    )

    plain = CustomWidget("all_deals", "All deals", "deals")
    follows = dk.custom.as_widget(plain)
    assert follows.follows_pipeline
    everywhere = follows.compute(tiny, widgets.Filters("month")).value
    by_pipe = [follows.compute(tiny, widgets.Filters("month", pipeline=p)).value for p in (1, 2)]
    assert sum(by_pipe) == everywhere and min(by_pipe) < everywhere

    tasks = dk.custom.as_widget(CustomWidget("all_tasks", "All tasks", "tasks"))
    assert not tasks.follows_pipeline
