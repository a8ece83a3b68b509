"""The custom-widget builder: pick an entity, add conditions, choose how to show the result,
preview it with the desktop's filters, and save it as a widget of one's own.

It only assembles a :class:`deskkit.custom.CustomWidget` from its controls: which fields and
operators exist, validation, computing and saving all belong to :mod:`deskkit.custom`.

In JupyterLab: ``display(CustomWidgetBuilder(desk))``. On the desktop, configure mode's
"New widget" button opens it inline. Build it (and its rows) on the kernel's main thread.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from deskkit.custom import ENTITIES, SPLIT_TYPES
from deskkit.ui import i18n

if TYPE_CHECKING:
    from deskkit.desk import Desk
    from deskkit.widgets import Filters

__all__ = ["BUILDER_CSS", "ConditionRow", "CustomWidgetBuilder", "slug"]

#: Operators that take no value.
_NO_VALUE = {"is_set", "is_not_set", "in_period", "before_period", "overdue"}
_NUMERIC = {"numeric", "number", "int", "integer", "float", "money", "price", "decimal"}
_DATES = {"date", "deadline", "datetime", "date_time", "birthday", "timestamp"}
_BOOLS = {"checkbox", "bool", "boolean"}
_SIZES = ("small", "medium", "large")

BUILDER_CSS = """
<style>
.dk-builder { border: 1px solid #C9D1DD; border-radius: 10px; padding: 12px 16px; gap: 6px;
  background: #fff; margin-bottom: 16px; }
.dk-builder-head { font-size: 16px; font-weight: 600; }
.dk-builder-section { font-size: 12px; color: #6B7585; text-transform: uppercase;
  letter-spacing: .04em; margin-top: 6px; }
.dk-builder-row { gap: 6px; align-items: center; }
.dk-builder-message .dk-error-box { margin: 4px 0; }
.dk-builder-value-number { font-size: 22px; font-weight: 600; }
.dk-builder-rule { font-size: 13px; color: #4A5568; }
</style>
"""


def slug(title: str) -> str:
    """A widget id made from a title: ``"Big deals (B2B)"`` -> ``"big_deals_b2b"``."""
    text = re.sub(r"[^0-9a-z]+", "_", str(title).lower()).strip("_")
    if text and text[0].isdigit():
        text = f"w_{text}"
    return text[:60].rstrip("_")


def _kind(field_type: Any) -> str:
    """A field type's input family: number, date, bool or text."""
    t = str(field_type or "").lower()
    if t in _NUMERIC:
        return "number"
    if t in _DATES:
        return "date"
    if t in _BOOLS:
        return "bool"
    return "text"


def _choices(raw: Any) -> list[tuple[str, Any]] | None:
    """``fields()``'s choices as dropdown options (None: free input)."""
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    out = []
    for item in raw:
        if isinstance(item, tuple | list) and len(item) == 2:
            value, label = item
        else:
            value, label = item, item
        out.append((str(label), value))
    return out


def _css(widget: w.Widget, *classes: str) -> Any:
    for c in classes:
        widget.add_class(c)
    return widget


class ConditionRow:
    """One condition: field, operator, and a value input that suits both."""

    def __init__(self, builder: CustomWidgetBuilder, on_remove: Callable[[ConditionRow], None]):
        self.builder = builder
        self.field = _css(w.Dropdown(layout=w.Layout(width="220px")), "dk-builder-field")
        self.op = _css(w.Dropdown(layout=w.Layout(width="170px")), "dk-builder-op")
        self.value_box = _css(w.HBox(), "dk-builder-value")
        self.remove = _css(
            w.Button(description="✕", layout=w.Layout(width="32px")), "dk-builder-remove"
        )
        self.remove.on_click(lambda _: on_remove(self))
        self.inputs: list[w.Widget] = []
        self.widget = _css(
            w.HBox([self.field, self.op, self.value_box, self.remove]), "dk-builder-row"
        )
        self._syncing = False
        self.field.observe(lambda _: self._on_field(), names="value")
        self.op.observe(lambda _: self._on_op(), names="value")
        self.set_fields()

    # Options ------------------------------------------------------------------------------

    def _info(self) -> Mapping[str, Any] | None:
        return self.builder.field_info(self.field.value)

    def set_fields(self) -> None:
        """Offer the builder's entity's fields (keeping the chosen one if it still exists)."""
        frame = self.builder.fields_frame()
        options = [(str(r.label), str(r.field)) for r in frame.itertuples(index=False)]
        keep = self.field.value
        self._syncing = True
        try:
            self.field.options = options
            ids = [v for _, v in options]
            self.field.value = keep if keep in ids else (ids[0] if ids else None)
        finally:
            self._syncing = False
        self._on_field()

    def _on_field(self) -> None:
        if self._syncing:
            return
        info = self._info()
        ops = [op for op in (info["ops"] if info is not None else ()) if op]
        lang = self.builder.lang
        keep = self.op.value
        self._syncing = True
        try:
            self.op.options = [(i18n.t(f"op_{op}", lang), op) for op in ops]
            self.op.value = keep if keep in ops else (ops[0] if ops else None)
        finally:
            self._syncing = False
        self._on_op()

    def _on_op(self) -> None:
        if self._syncing:
            return
        self.inputs = self._make_inputs(self._info(), self.op.value)
        self.value_box.children = self.inputs

    def relabel(self) -> None:
        lang = self.builder.lang
        frame = self.builder.fields_frame()
        self._syncing = True
        try:
            _relabel_options(
                self.field, [(str(r.label), str(r.field)) for r in frame.itertuples(index=False)]
            )
            keep = self.op.value
            self.op.options = [(i18n.t(f"op_{op}", lang), op) for _, op in self.op.options]
            self.op.value = keep
        finally:
            self._syncing = False
        self.remove.tooltip = i18n.t("builder_remove_condition", lang)
        for box in self.inputs:
            if isinstance(box, w.Checkbox):
                box.description = i18n.t("builder_yes", lang)

    def _make_inputs(self, info: Mapping[str, Any] | None, op: str | None) -> list[w.Widget]:
        if info is None or op is None or op in _NO_VALUE:
            return []
        kind = _kind(info.get("type"))
        choices = _choices(info.get("choices"))
        if op == "last_days":
            return [_css(w.BoundedIntText(value=7, min=1, max=3650, layout=_narrow()), "dk-n")]
        if op == "is" or (kind == "bool" and choices is None):
            return [
                _css(
                    w.Checkbox(value=True, description=i18n.t("builder_yes", self.builder.lang)),
                    "dk-builder-check",
                )
            ]
        if choices is not None and op in ("in", "not_in"):
            pick = w.SelectMultiple(options=choices, rows=min(6, max(2, len(choices))))
            return [_css(pick, "dk-builder-multi")]
        if choices is not None:
            pick = w.Dropdown(options=choices, layout=w.Layout(width="220px"))
            return [_css(pick, "dk-builder-choice")]
        if op in ("in", "not_in") or (op == "contains" and str(info.get("type")) == "tag"):
            # Several free values (tags, names): comma-separated.
            return [_css(w.Text(layout=w.Layout(width="220px")), "dk-builder-list")]
        count = 2 if op == "between" else 1
        if kind == "number":
            return [_css(w.FloatText(layout=_narrow()), "dk-builder-number") for _ in range(count)]
        if kind == "date":
            return [_css(w.DatePicker(), "dk-builder-date") for _ in range(count)]
        return [_css(w.Text(layout=w.Layout(width="220px")), "dk-builder-text")]

    # Reading and setting the value -------------------------------------------------------------

    def value(self) -> Any:
        """The condition's value as :class:`deskkit.custom.Condition` takes it."""
        values = [_read(i) for i in self.inputs]
        if not values:
            return None
        info = self._info()
        if info is not None and _kind(info.get("type")) == "number":
            values = [_numbers(v) if isinstance(v, tuple) else v for v in values]
        if self.op.value == "between":
            return tuple(values)
        return values[0]

    def set_value(self, value: Any) -> None:
        """Put ``value`` into the input(s) (a pair for ``between``)."""
        values = list(value) if self.op.value == "between" else [value]
        if len(self.inputs) == 1 and isinstance(self.inputs[0], w.SelectMultiple):
            values = [tuple(value) if isinstance(value, list | tuple | set) else (value,)]
        for box, v in zip(self.inputs, values, strict=False):
            if isinstance(box, w.DatePicker) and isinstance(v, str):
                v = dt.date.fromisoformat(v[:10])
            elif "dk-builder-list" in box._dom_classes and isinstance(v, list | tuple):
                v = ", ".join(str(x) for x in v)
            box.value = v

    def condition(self) -> Any:
        from deskkit.custom import Condition

        return Condition(self.field.value, self.op.value, self.value())


def _numbers(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """Typed-in numbers as numbers (what is not one stays text, for validation to name)."""
    out = []
    for p in parts:
        try:
            x = float(p)
            out.append(int(x) if x.is_integer() else x)
        except (TypeError, ValueError):
            out.append(p)
    return tuple(out)


def _narrow() -> w.Layout:
    return w.Layout(width="120px")


def _read(box: w.Widget) -> Any:
    value = box.value
    if isinstance(box, w.SelectMultiple):
        return tuple(value)
    if isinstance(box, w.FloatText) and float(value).is_integer():
        return int(value)
    if isinstance(box, w.DatePicker):
        return value.isoformat() if value is not None else None
    if "dk-builder-list" in box._dom_classes:
        return tuple(part.strip() for part in str(value).split(",") if part.strip())
    return value


class CustomWidgetBuilder(w.VBox):
    """Build, preview and save a custom widget.

    ``filters()`` returns the desktop's current :class:`~deskkit.widgets.Filters` (period and
    whose) for the preview (None: this month, everyone). ``on_saved(widget_id)`` is called after
    the definition is saved and registered; ``on_close()`` when the user closes the builder.
    ``user`` owns the saved widget (None: shared with everyone).
    """

    def __init__(
        self,
        desk: Desk,
        *,
        user: int | None = None,
        lang: str = "en",
        on_saved: Callable[[str], Any] | None = None,
        on_close: Callable[[], Any] | None = None,
        filters: Callable[[], Filters] | None = None,
    ) -> None:
        super().__init__()
        self.desk = desk
        self.user = user
        self.lang = lang if lang in i18n.LANGUAGES else "en"
        self.on_saved = on_saved
        self.on_close = on_close
        self.filters = filters
        self.result: Any = None
        self.error: BaseException | None = None
        self.saved_id: str | None = None
        self._fields: dict[tuple[str, str], pd.DataFrame] = {}  # (entity, lang)
        self._id_edited = False
        self._setting_id = False
        self.rows: list[ConditionRow] = []

        self._head = _css(w.HTML(), "dk-builder-head")
        self._close = _css(w.Button(layout=w.Layout(width="auto")), "dk-builder-close")
        self._close.on_click(lambda _: self.close_builder())
        self.entity = _css(w.Dropdown(layout=w.Layout(width="220px")), "dk-builder-entity")
        self._entity_label = _css(w.HTML(), "dk-builder-section")
        self._cond_label = _css(w.HTML(), "dk-builder-section")
        self.conditions = _css(w.VBox(), "dk-builder-conditions")
        self._add_row = _css(w.Button(layout=w.Layout(width="auto")), "dk-builder-add")
        self._add_row.on_click(lambda _: self.add_condition())

        self._display_label = _css(w.HTML(), "dk-builder-section")
        self.kind = _css(w.ToggleButtons(), "dk-builder-kind")
        self.measure = _css(w.Dropdown(layout=w.Layout(width="160px")), "dk-builder-measure")
        self.measure_field = _css(
            w.Dropdown(layout=w.Layout(width="220px")), "dk-builder-measure-field"
        )
        self.split_by = _css(w.Dropdown(layout=w.Layout(width="220px")), "dk-builder-split")
        self._number_box = w.HBox([self.measure, self.measure_field])
        self._split_box = w.HBox([self.split_by], layout=w.Layout(display="none"))

        self._title_label = _css(w.HTML(), "dk-builder-section")
        self.title_en = _css(w.Text(layout=w.Layout(width="260px")), "dk-builder-title-en")
        self.title_ru = _css(w.Text(layout=w.Layout(width="260px")), "dk-builder-title-ru")
        self.widget_id = _css(w.Text(layout=w.Layout(width="220px")), "dk-builder-id")
        self.size = _css(w.Dropdown(layout=w.Layout(width="140px")), "dk-builder-size")

        self._preview = _css(w.Button(layout=w.Layout(width="auto")), "dk-builder-preview")
        self._preview.on_click(lambda _: self.preview())
        self._save = _css(w.Button(button_style="primary"), "dk-builder-save")
        self._save.layout.width = "auto"
        self._save.on_click(lambda _: self.save())
        self.message = _css(w.HTML(), "dk-builder-message")
        self.output = _css(w.HTML(), "dk-builder-result")

        self.entity.observe(lambda _: self._on_entity(), names="value")
        self.kind.observe(lambda _: self._on_kind(), names="value")
        self.measure.observe(lambda _: self._on_measure(), names="value")
        self.title_en.observe(lambda _: self._on_title(), names="value")
        self.widget_id.observe(lambda _: self._on_id(), names="value")

        self.children = [
            w.HTML(BUILDER_CSS),
            w.HBox([self._head, self._close], layout=w.Layout(justify_content="space-between")),
            self._entity_label,
            self.entity,
            self._cond_label,
            self.conditions,
            self._add_row,
            self._display_label,
            self.kind,
            self._number_box,
            self._split_box,
            self._title_label,
            w.HBox([self.title_en, self.title_ru]),
            w.HBox([self.widget_id, self.size]),
            w.HBox([self._preview, self._save]),
            self.message,
            self.output,
        ]
        self.add_class("dk-builder")
        self._syncing = False
        self._relabel()
        self.entity.value = ENTITIES[0]
        self._on_entity()
        self.kind.value = "number"
        self._on_kind()
        self.size.value = "small"

    # Fields of the chosen entity ----------------------------------------------------------------

    def fields_frame(self, entity: str | None = None) -> pd.DataFrame:
        """``deskkit.custom.fields`` of ``entity`` (the chosen one), read once per entity."""
        entity = entity or self.entity.value or ENTITIES[0]
        key = (entity, self.lang)
        if key not in self._fields:
            from deskkit.custom import fields

            self._fields[key] = fields(self.desk, entity, self.lang).reset_index(drop=True)
        return self._fields[key]

    def field_info(self, name: str | None) -> Mapping[str, Any] | None:
        if name is None:
            return None
        frame = self.fields_frame()
        hit = frame.loc[frame["field"] == name]
        return None if hit.empty else hit.iloc[0].to_dict()

    def _on_entity(self) -> None:
        if self._syncing:
            return
        for row in self.rows:
            row.set_fields()
        self._set_display_fields()

    def _set_display_fields(self) -> None:
        frame = self.fields_frame()
        numeric = [
            (str(r.label), str(r.field))
            for r in frame.itertuples(index=False)
            if _kind(r.type) == "number"
        ]
        splittable = SPLIT_TYPES
        splits = [
            (str(r.label), str(r.field))
            for r in frame.itertuples(index=False)
            if str(r.type).lower() in splittable
        ]
        for control, options in ((self.measure_field, numeric), (self.split_by, splits)):
            keep = control.value
            control.options = options
            ids = [v for _, v in options]
            control.value = keep if keep in ids else (ids[0] if ids else None)

    def _on_kind(self) -> None:
        if self._syncing:
            return
        split = self.kind.value == "split"
        # Bars need room: a split starts medium-sized, a number small (the user may change it).
        if split and self.size.value == "small":
            self.size.value = "medium"
        elif not split and self.size.value == "medium":
            self.size.value = "small"
        self._number_box.layout.display = "none" if split else None
        self._split_box.layout.display = None if split else "none"
        self._on_measure()

    def _on_measure(self) -> None:
        if self._syncing:
            return
        counting = self.measure.value in (None, "count")
        self.measure_field.layout.display = "none" if counting else None

    def _on_title(self) -> None:
        if not self._id_edited:
            self._setting_id = True
            try:
                self.widget_id.value = slug(self.title_en.value)
            finally:
                self._setting_id = False

    def _on_id(self) -> None:
        if not self._setting_id:
            self._id_edited = bool(self.widget_id.value) and (
                self.widget_id.value != slug(self.title_en.value)
            )

    # Conditions --------------------------------------------------------------------------------

    def add_condition(
        self, field: str | None = None, op: str | None = None, value: Any = None
    ) -> ConditionRow:
        """Add a condition row (optionally set to ``field`` / ``op`` / ``value``)."""
        row = ConditionRow(self, self.remove_condition)
        row.relabel()
        if field is not None:
            row.field.value = field
        if op is not None:
            row.op.value = op
        if value is not None:
            row.set_value(value)
        self.rows.append(row)
        self.conditions.children = [r.widget for r in self.rows]
        return row

    def remove_condition(self, row: ConditionRow) -> None:
        self.rows = [r for r in self.rows if r is not row]
        self.conditions.children = [r.widget for r in self.rows]

    # The definition ------------------------------------------------------------------------------

    def definition(self) -> Any:
        """The :class:`deskkit.custom.CustomWidget` the controls describe (not yet validated)."""
        from deskkit.custom import CustomWidget, Display

        split = self.kind.value == "split"
        measure = "count" if split else (self.measure.value or "count")
        display = Display(
            kind="split" if split else "number",
            measure=measure,
            field=None if split or measure == "count" else self.measure_field.value,
            split_by=self.split_by.value if split else None,
        )
        en = self.title_en.value.strip()
        ru = self.title_ru.value.strip() or en
        return CustomWidget(
            id=self.widget_id.value.strip() or slug(en),
            title={"en": en, "ru": ru},
            entity=self.entity.value,
            conditions=tuple(r.condition() for r in self.rows),
            display=display,
            size=self.size.value or "small",
        )

    def set_definition(self, definition: Any) -> None:
        """Fill the controls from a saved definition (to edit it)."""
        self.entity.value = definition.entity
        for row in list(self.rows):
            self.remove_condition(row)
        for c in definition.conditions:
            self.add_condition(c.field, c.op, c.value)
        d = definition.display
        self.kind.value = d.kind
        if d.kind == "split":
            self.split_by.value = d.split_by
        else:
            self.measure.value = d.measure
            if d.field is not None:
                self.measure_field.value = d.field
        self.title_en.value = definition.title.get("en", "")
        self.title_ru.value = definition.title.get("ru", "")
        self.widget_id.value = definition.id
        self._id_edited = definition.id != slug(self.title_en.value)
        self.size.value = definition.size

    def _checked(self) -> Any:
        """The validated definition, or None with the problem shown."""
        self.error = None
        try:
            return self.definition().validate(self.desk)
        except (ValueError, TypeError, KeyError) as exc:  # DefinitionError is a ValueError
            self._show_error(exc)
            return None

    def _show_error(self, exc: BaseException) -> None:
        self.error = exc
        field = getattr(exc, "field", None)
        problem = getattr(exc, "problem", None) or str(exc)
        lang = self.lang
        if field:
            text = i18n.t(
                "builder_field_problem", lang, field=self._field_name(field), problem=problem
            )
        else:
            text = str(problem)
        self.message.value = (
            f'<div class="dk-error-box" data-k="builder-error">'
            f"<b>{html.escape(i18n.t('builder_invalid', lang))}</b> {html.escape(text)}</div>"
        )

    def _field_name(self, field: str) -> str:
        """Where the problem is, in the builder's words: ``conditions[0].value`` -> "Segment
        (condition 1)"; a field name -> its label."""
        hit = re.fullmatch(r"conditions\[(\d+)\]\.\w+", field)
        if hit is not None and int(hit[1]) < len(self.rows):
            i = int(hit[1])
            name = self.rows[i].field.label or field
            return f"{name} ({i18n.t('builder_condition_n', self.lang, n=i + 1)})"
        if field.startswith("display."):
            return i18n.t("builder_display", self.lang)
        named = {"title.en": "builder_title_en", "title.ru": "builder_title_ru", "id": "builder_id"}
        if field in named:
            return i18n.t(named[field], self.lang)
        info = self.field_info(field)
        return str(info["label"]) if info is not None else field

    # Preview and save ---------------------------------------------------------------------------

    def _scope(self) -> tuple[Any, dict[str, Any]]:
        if self.filters is None:
            return "month", {}
        f = self.filters()
        scope = {**f.scope, "pipeline": f.pipeline}  # as the card computes it
        return f.period, {k: v for k, v in scope.items() if v is not None}

    def preview(self) -> Any:
        """Compute the definition with the current filters and show the value, the change and
        the split; returns the result (None when the definition is invalid)."""
        from deskkit.custom import preview

        self.message.value = ""
        self.output.value = ""
        definition = self._checked()
        if definition is None:
            return None
        period, scope = self._scope()
        try:
            result = preview(self.desk, definition, period=period, **scope)
        except (ValueError, TypeError, KeyError) as exc:
            self._show_error(exc)
            return None
        except Exception as exc:  # an engine error: say what, not where
            self.error = exc
            self.message.value = (
                f'<div class="dk-error-box" data-k="builder-error">'
                f"{html.escape(type(exc).__name__)}: {html.escape(str(exc)[:300])}</div>"
            )
            return None
        self.result = result
        self.output.value = self._result_html(result)
        return result

    def _result_html(self, r: Any) -> str:
        from deskkit.ui.card import CardStyle
        from deskkit.ui.cards.custom import _table, kind_of

        account = self.desk.store.account
        style = CardStyle(self.lang, account.currency, account.timezone)  # type: ignore[arg-type]
        lang, kind = self.lang, kind_of(r)
        value = i18n.fmt_value(r.value, kind, lang, style.currency)
        change = i18n.fmt_signed(r.change, kind, lang, style.currency)
        parts = [
            f'<div><span class="dk-builder-value-number" data-k="value" data-v="{_num(r.value)}">'
            f"{html.escape(value)}</span> "
            f'<span class="dk-delta" data-k="change" data-v="{_num(r.change)}" '
            f'title="{html.escape(i18n.t("custom_change", lang))}">{html.escape(change)}</span>'
            "</div>"
        ]
        table = _table(r)
        if table is not None:
            parts.append(table(style))
        rule = i18n.rule_text(r, lang)
        if rule:
            parts.append(f'<div class="dk-builder-rule">{html.escape(rule)}</div>')
        return "".join(parts)

    def save(self) -> str | None:
        """Save the definition (for ``user``), register it, and call ``on_saved(widget_id)``;
        returns the id (None when the definition is invalid)."""
        from deskkit.custom import register_saved, save

        self.message.value = ""
        definition = self._checked()
        if definition is None:
            return None
        try:
            save(self.desk, definition, user=self.user)
            register_saved(self.desk, user=self.user)
        except (ValueError, TypeError, KeyError, OSError) as exc:
            self._show_error(exc)
            return None
        self.saved_id = definition.id
        title = definition.title.get(self.lang) or definition.id
        text = i18n.t("builder_saved", self.lang, title=title)
        self.message.value = (
            f'<div class="dk-caption" data-k="builder-saved">{html.escape(text)}</div>'
        )
        if self.on_saved is not None:
            self.on_saved(definition.id)
        return definition.id

    def close_builder(self) -> None:
        if self.on_close is not None:
            self.on_close()
        else:
            self.layout.display = "none"

    # Language ------------------------------------------------------------------------------------

    def set_language(self, lang: str) -> None:
        self.lang = lang if lang in i18n.LANGUAGES else "en"
        self._relabel()

    def _relabel(self) -> None:
        lang = self.lang
        t = lambda key: i18n.t(key, lang)  # noqa: E731
        self._head.value = html.escape(t("builder_title"))
        self._close.description = t("close")
        self._entity_label.value = html.escape(t("builder_entity"))
        self._cond_label.value = html.escape(t("builder_conditions"))
        self._display_label.value = html.escape(t("builder_display"))
        self._title_label.value = html.escape(t("builder_title_id"))
        self._add_row.description = "+ " + t("builder_add_condition")
        self._preview.description = t("builder_preview")
        self._save.description = t("builder_save")
        self.title_en.placeholder = t("builder_title_en")
        self.title_ru.placeholder = t("builder_title_ru")
        self.widget_id.placeholder = t("builder_id")
        # New words for the same choices: the controls' observers stay quiet meanwhile.
        self._syncing = True
        try:
            _relabel_options(self.entity, [(t(f"builder_entity_{e}"), e) for e in ENTITIES])
            _relabel_options(
                self.kind,
                [(t("builder_kind_number"), "number"), (t("builder_kind_split"), "split")],
            )
            _relabel_options(
                self.measure, [(t(f"builder_measure_{m}"), m) for m in ("count", "sum", "mean")]
            )
            _relabel_options(self.size, [(t(f"builder_size_{s}"), s) for s in _SIZES])
        finally:
            self._syncing = False
        for row in self.rows:
            row.relabel()
        self._syncing = True
        try:
            self._set_display_fields()  # the field names, in the new language
        finally:
            self._syncing = False


def _relabel_options(control: Any, options: Sequence[tuple[str, Any]]) -> None:
    if [tuple(o) for o in control.options] == [tuple(o) for o in options]:
        return  # same words: leave the control (and its observers) alone
    keep = control.value
    control.options = list(options)
    values = [v for _, v in options]
    control.value = keep if keep in values else values[0]


def _num(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if x != x else f"{x:g}"
