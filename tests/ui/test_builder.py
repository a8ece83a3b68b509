"""The custom-widget builder driven without a browser: fields and operators per entity, value
inputs by type, preview against ``deskkit.custom.preview``, readable definition errors, save
and registration; and the desktop's "New widget" flow (card added, computed, kept on reload,
skipped once its definition is gone)."""

from __future__ import annotations

import ipywidgets as w
import pytest

import deskkit.custom as custom
from deskkit import widgets as registry
from deskkit.ui import Desktop, LayoutStore, Runner
from deskkit.ui.builder import CustomWidgetBuilder, slug

SEGMENT = "cf:3301002"  # the demo account's "Segment" select on deals
PRODUCT = "cf:3301001"  # its "Product" multiselect
ENTERPRISE = 33010023


@pytest.fixture
def data(tmp_path, monkeypatch):
    """Saved definitions (and nothing else) under a temporary data folder; custom widgets the
    test registered are forgotten afterwards."""
    monkeypatch.setenv("DESKKIT_DATA", str(tmp_path / "data"))
    yield tmp_path / "data"
    for wd in registry.widgets():
        if wd.family == "custom":
            registry.unregister(wd.id)


@pytest.fixture(scope="module")
def runner():
    runner = Runner()
    yield runner
    runner.close()


def shown(card) -> object:
    """The number a card drew (its result's value; the tiles' markup belongs to the card)."""
    assert card.error is None, card.error
    assert card.result is not None
    return card.result.value


def enterprise(builder: CustomWidgetBuilder, title: str = "Enterprise deals") -> None:
    builder.entity.value = "deals"
    builder.add_condition(SEGMENT, "eq", ENTERPRISE)
    builder.title_en.value = title
    builder.title_ru.value = "Сделки Enterprise"


def test_fields_ops_and_value_inputs_follow_the_field(desk, data):
    b = CustomWidgetBuilder(desk)
    assert b.entity.value == "deals"
    row = b.add_condition()
    fields = custom.fields(desk, "deals").set_index("field")
    assert [v for _, v in row.field.options] == list(fields.index)
    for name, op, widget_type in [
        (SEGMENT, "eq", w.Dropdown),
        (SEGMENT, "in", w.SelectMultiple),
        ("price", "gt", w.FloatText),
        ("created_at", "lt", w.DatePicker),
        ("has_open_task", "is", w.Checkbox),
        ("name", "contains", w.Text),
        ("created_at", "last_days", w.BoundedIntText),
    ]:
        row.field.value = name
        assert [v for _, v in row.op.options] == list(fields.loc[name, "ops"]), name
        row.op.value = op
        assert [type(i) for i in row.inputs] == [widget_type], (name, op)
    row.field.value = "price"
    row.op.value = "between"
    assert len(row.inputs) == 2
    row.inputs[0].value, row.inputs[1].value = 1000, 5000.5
    assert row.value() == (1000, 5000.5)
    row.op.value = "is_set"
    assert row.inputs == [] and row.value() is None
    # Choices show labels; the condition carries the id.
    row.field.value = SEGMENT
    row.op.value = "eq"
    assert ("Enterprise", ENTERPRISE) in row.inputs[0].options
    # Another entity: other fields.
    b.entity.value = "tasks"
    assert "task_type" in [v for _, v in row.field.options]
    b.remove_condition(row)
    assert b.rows == [] and b.conditions.children == ()
    # Display: a count needs no field; a sum offers the numeric fields.
    assert b.measure_field.layout.display == "none"
    b.entity.value = "deals"
    b.measure.value = "sum"
    assert b.measure_field.layout.display is None
    assert "price" in [v for _, v in b.measure_field.options]
    assert SEGMENT in [v for _, v in b.split_by.options]  # a select can split
    assert "name" not in [v for _, v in b.split_by.options]


def test_preview_shows_what_deskkit_custom_computes(desk, data):
    b = CustomWidgetBuilder(desk)
    enterprise(b)
    assert b.widget_id.value == "enterprise_deals"  # made from the title
    result = b.preview()
    want = custom.preview(desk, b.definition(), "month")
    assert result.value == want.value and result.change == want.change
    assert f'data-k="value" data-v="{want.value}"' in b.output.value
    assert f'data-k="change" data-v="{want.change:g}"' in b.output.value
    assert b.message.value == ""
    # Split by product: the split table.
    b.kind.value = "split"
    assert b.size.value == "medium"  # bars need room
    b.split_by.value = PRODUCT
    result = b.preview()
    assert result.split is not None
    for label in result.split["label"]:
        assert f"<td>{label}</td>" in b.output.value


def test_preview_follows_the_desktop_filters(desk, data):
    users = desk.users()
    uid = int(users["user_id"].iloc[0])
    filters = registry.Filters(period="year", user=uid)
    b = CustomWidgetBuilder(desk, filters=lambda: filters)
    enterprise(b)
    got = b.preview()
    want = custom.preview(desk, b.definition(), "year", user=uid)
    assert (got.value, got.value_at_start) == (want.value, want.value_at_start)


def test_an_invalid_definition_is_a_readable_message(desk, data):
    b = CustomWidgetBuilder(desk)
    b.preview()  # no title yet
    assert "Title in English" in b.message.value
    b.title_en.value = "Some segments"
    row = b.add_condition(SEGMENT, "in")
    row.inputs[0].value = ()  # nothing picked
    assert b.preview() is None
    assert isinstance(b.error, custom.DefinitionError)
    text = b.message.value
    assert "Segment" in text and "condition 1" in text and "empty" in text
    assert "Traceback" not in text
    # Russian: the builder's words in Russian, the problem as deskkit.custom says it.
    b.set_language("ru")
    b.preview()
    assert "условие 1" in b.message.value
    # Saving is refused the same way, and nothing is written.
    assert b.save() is None
    assert custom.saved(desk) == []


def test_save_writes_registers_and_calls_back(desk, data):
    seen: list[str] = []
    b = CustomWidgetBuilder(desk, user=None, on_saved=seen.append)
    enterprise(b)
    b.widget_id.value = "my_enterprise"  # edited by hand: no longer follows the title
    b.title_en.value = "Enterprise deals (all)"
    assert b.widget_id.value == "my_enterprise"
    assert b.save() == "my_enterprise"
    assert seen == ["my_enterprise"]
    [saved] = custom.saved(desk)
    assert saved.id == "my_enterprise" and saved.title["ru"] == "Сделки Enterprise"
    assert saved.conditions[0].value == ENTERPRISE
    assert registry.get("my_enterprise").family == "custom"
    assert "builder-saved" in b.message.value
    # Another builder opens it for editing.
    other = CustomWidgetBuilder(desk)
    other.set_definition(saved)
    assert other.definition().validate(desk) == saved.validate(desk)


def test_labels_switch_language(desk, data):
    b = CustomWidgetBuilder(desk, lang="ru")
    b.add_condition(SEGMENT)
    assert b._preview.description == "Предпросмотр"
    assert ("Сделки", "deals") in b.entity.options
    assert b.rows[0].op.options[0][0] == "равно"
    b.kind.value = "split"
    b.size.value = "large"
    b.set_language("en")
    assert (b.kind.value, b.size.value) == ("split", "large")  # kept across the switch
    assert b._save.description == "Save widget"
    assert b.rows[0].op.options[0][0] == "is"
    # Built-in fields are named in the builder's language; the chosen field stays chosen.
    b.rows[0].field.value = "price"
    assert ("Budget", "price") in b.rows[0].field.options
    b.set_language("ru")
    assert ("Бюджет", "price") in b.rows[0].field.options
    assert b.rows[0].field.value == "price"
    assert ("Бюджет", "price") in b.measure_field.options
    # An account's own field keeps its name.
    assert any(label == "Segment" for label, _ in b.rows[0].field.options)
    assert slug("Big deals (B2B)") == "big_deals_b2b" and slug("2026 plan") == "w_2026_plan"


def test_new_widget_on_the_desktop_survives_a_reload(desk, data, runner, tmp_path):
    layouts = LayoutStore("test", folder=tmp_path / "layouts")
    app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner, cards=["nps"])
    app._from_layout = True  # as a page built from the saved layout
    app.set_configuring(True)
    assert app._new_widget.description == "+ New widget"
    builder = app.open_builder()
    assert app._builder_box.layout.display is None
    enterprise(builder)
    scope = {"pipeline": app.state.pipeline} if app.state.pipeline is not None else {}
    want = custom.preview(desk, builder.definition(), app.state.period_like, **scope)
    assert builder.save() == "enterprise_deals"
    assert app._builder_box.layout.display == "none"  # closed on save
    assert app.order == ["nps", "enterprise_deals"]
    app.wait()
    assert shown(app.cards["enterprise_deals"]) == want.value
    assert "enterprise_deals" not in [v for _, v in app._add_pick.options]
    app.set_language("ru")
    assert app._new_widget.description == "+ Новый виджет"
    assert builder._save.description == "Сохранить виджет"

    # A reload: a new kernel (nothing registered) reads the saved definition and the layout.
    for wd in registry.widgets():
        if wd.family == "custom":
            registry.unregister(wd.id)
    again = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner)
    again.wait()
    assert again.order == ["nps", "enterprise_deals"]
    assert shown(again.cards["enterprise_deals"]) == want.value

    # Its definition deleted by another process (this one still has it registered): the
    # layout still opens, without it.
    (custom.folder(desk) / "enterprise_deals.json").unlink()
    third = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner)
    assert third.order == ["nps"]
    with pytest.raises(KeyError):
        registry.get("enterprise_deals")


def test_a_widget_registered_by_hand_is_left_alone(desk, data, runner, tmp_path):
    b = CustomWidgetBuilder(desk)
    enterprise(b, "Not saved")
    registry.register(custom.as_widget(b.definition()), replace=True)
    layouts = LayoutStore("test", folder=tmp_path / "layouts")
    app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner, cards=["not_saved"])
    app.wait()
    assert app.order == ["not_saved"] and registry.get("not_saved").family == "custom"
    want = custom.preview(desk, b.definition(), "month", pipeline=app.state.pipeline)
    assert shown(app.cards["not_saved"]) == want.value


def test_a_preheated_page_shows_a_widget_redefined_since(desk, data, runner, tmp_path):
    """Voilà builds the page before anyone asks (compute=False); a widget saved again in the
    meantime (another tab) is drawn as it is now when the page is requested."""
    b = CustomWidgetBuilder(desk)
    enterprise(b)
    first = b.definition()
    custom.save(desk, first)
    layouts = LayoutStore("test", folder=tmp_path / "layouts")
    custom.register_saved(desk)
    layouts.save(None, ["enterprise_deals"])
    app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner, compute=False)
    assert app.order == ["enterprise_deals"]
    b.rows[0].set_value(33010024)  # Government
    custom.save(desk, b.definition())
    app.start(environ={})
    app.wait()
    want = custom.preview(desk, b.definition(), "month", pipeline=app.state.pipeline)
    assert shown(app.cards["enterprise_deals"]) == want.value
    assert app.cards["enterprise_deals"].result.definition.conditions[0].value == 33010024


def test_configure_mode_edits_and_deletes_a_saved_widget(desk, data, runner, tmp_path):
    b = CustomWidgetBuilder(desk)
    enterprise(b)
    custom.save(desk, b.definition())  # shared: the test desk has no viewer
    custom.register_saved(desk)
    layouts = LayoutStore("test", folder=tmp_path / "layouts")
    layouts.save(None, ["nps", "enterprise_deals"])
    app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner)
    app.wait()
    app.set_configuring(True)

    def tips(card_id: str) -> list[str]:
        return [t.tooltip for t in app.cards[card_id].tools]

    assert tips("enterprise_deals")[-2:] == ["Edit this widget", "Delete this widget"]
    assert tips("nps") == ["Move up", "Move down", "Remove"]  # built in: nothing to edit
    # Edit: the builder opens on the saved definition; saving a change redraws the card.
    builder = app.edit_custom("enterprise_deals")
    assert app._builder_box.layout.display is None
    assert (builder.widget_id.value, builder.rows[0].value()) == ("enterprise_deals", ENTERPRISE)
    builder.rows[0].set_value(33010024)  # Government
    assert builder.save() == "enterprise_deals"
    app.wait()
    card = app.cards["enterprise_deals"]
    assert card.result.definition.conditions[0].value == 33010024
    # Delete, with the card's own button: it asks first.
    i = tips("enterprise_deals").index("Delete this widget")
    card.tools[i].click()
    assert "enterprise_deals" in app.order
    assert card.tools[i].description == "Delete?"
    assert "Delete?" in card.widget.head  # what the page shows
    card.tools[i].click()
    assert app.order == ["nps"] and layouts.load(None) == ["nps"]
    assert not (custom.folder(desk) / "enterprise_deals.json").exists()
    with pytest.raises(KeyError):
        registry.get("enterprise_deals")
    assert "enterprise_deals" not in [v for _, v in app._add_pick.options]


def test_only_the_widgets_a_viewer_saved_can_be_edited_or_deleted(desk, data, runner, tmp_path):
    b = CustomWidgetBuilder(desk)
    enterprise(b)
    custom.save(desk, b.definition())  # shared with everyone, saved without a viewer
    custom.register_saved(desk)
    layouts = LayoutStore("test", folder=tmp_path / "layouts")
    anna = desk.as_viewer(int(desk.users()["user_id"].iloc[0]))
    app = Desktop(
        anna, layouts=layouts, chart_mode="svg", runner=runner, cards=["enterprise_deals"]
    )
    app.set_configuring(True)
    assert [t.tooltip for t in app.cards["enterprise_deals"].tools] == [
        "Move up",
        "Move down",
        "Remove",
    ]
    with pytest.raises(PermissionError):
        app.delete_custom("enterprise_deals")
    with pytest.raises(PermissionError):
        app.edit_custom("enterprise_deals")
    assert (custom.folder(desk) / "enterprise_deals.json").exists()
