"""Workload charts: deals per manager against capacity, deals without tasks, the weighted
forecast and the latest-deals list. Pure functions of the metric results (no data access)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import count, money, percent

if TYPE_CHECKING:
    from deskkit.metrics.forecast import Forecast
    from deskkit.metrics.workload import DealsByManager, DealsWithoutTasks, LatestDeals

__all__ = [
    "deals_by_manager_chart",
    "deals_without_tasks_chart",
    "forecast_chart",
    "latest_deals_chart",
]

_ROW = 26
_WIDTH = 420
# The theme's category range is open, won, lost, muted: naming the whole domain keeps each
# semantic kind on its colour whichever kinds a chart happens to draw.
_KINDS = ["open", "won", "lost", "muted"]
_COLOR = alt.Color("kind:N", scale=alt.Scale(domain=_KINDS), legend=None)


def _x(field: str, title: str, fmt: str = "d") -> alt.X:
    """An x channel on the scale from 0 to the chart's ``top`` param."""
    return alt.X(field, title=title, scale=_shape.top_scale(), axis=alt.Axis(format=fmt))


def deals_by_manager_chart(
    result: DealsByManager, currency: str = "", lang: str = "en"
) -> alt.LayerChart:
    """A bar of open deals per manager, red when over capacity, with a tick at each manager's
    capacity and a "deals / capacity · budget" label."""
    m = result.managers
    frame = pd.DataFrame(
        {
            "user_id": m["user_id"].astype(int),
            "user": m["user"].astype(str),
            "deals": m["deals"].astype(int),
            "capacity": m["capacity"].astype(int),
            "kind": m["over_capacity"].map({True: "lost", False: "open"}),
            "cap_kind": "muted",
            "label": [
                f"{d} / {c} · {money(b, currency)}"
                for d, c, b in zip(m["deals"], m["capacity"], m["budget"], strict=True)
            ],
        }
    )
    frame = _shape.ordered(frame)
    top = max([1, *frame["deals"], *frame["capacity"]]) * 1.6
    x = _x("deals:Q", tr("Open deals now (tick: capacity)", lang))
    base = alt.Chart().encode(
        y=alt.Y("user:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("user:N", title=tr("Manager", lang)),
            alt.Tooltip("deals:Q", title=tr("Open deals", lang)),
            alt.Tooltip("capacity:Q", title=tr("Capacity", lang)),
            alt.Tooltip("label:N", title=tr("Deals / capacity · budget", lang)),
        ],
    )
    bars = base.mark_bar().encode(x=x, color=_COLOR)
    ticks = base.mark_tick(thickness=2, size=_ROW - 6).encode(
        x=alt.X("capacity:Q", scale=_shape.top_scale()),
        color=alt.Color("cap_kind:N", scale=alt.Scale(domain=_KINDS), legend=None),
    )
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=alt.X("max_x:Q", scale=_shape.top_scale()), text=alt.Text("label:N")
    )
    labels = labels.transform_calculate(max_x="max(datum.deals, datum.capacity)")
    title, text = _shape.title(
        tr(
            "{deals} open deals · {over} over capacity",
            lang,
            deals=count(result.deals),
            over=result.over,
        )
    )
    return _shape.layer(
        bars,
        ticks,
        labels,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_ROW),
        title=title,
        values=(_shape.top(top), text),
    )


def deals_without_tasks_chart(
    result: DealsWithoutTasks, currency: str = "", lang: str = "en"
) -> alt.LayerChart:
    """Per manager: open deals (muted) with the part that has no open task (red) on top,
    labelled "without of open · budget"."""
    u = result.by_user
    frame = pd.DataFrame(
        {
            "user_id": u["user_id"].astype(int),
            "user": u["user"].astype(str),
            "open_deals": u["open_deals"].astype(int),
            "without_tasks": u["without_tasks"].astype(int),
            "all_kind": "muted",
            "kind": "lost",
            "label": [
                f"{w} of {o} · {money(b, currency)}"
                for w, o, b in zip(u["without_tasks"], u["open_deals"], u["budget"], strict=True)
            ],
        }
    )
    frame = _shape.ordered(frame)
    top = max([1, *frame["open_deals"]]) * 1.8
    base = alt.Chart().encode(
        y=alt.Y("user:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("user:N", title=tr("Manager", lang)),
            alt.Tooltip("without_tasks:Q", title=tr("Without tasks", lang)),
            alt.Tooltip("open_deals:Q", title=tr("Open deals", lang)),
            alt.Tooltip("label:N", title=tr("Without of open · budget", lang)),
        ],
    )
    whole = base.mark_bar().encode(
        x=_x("open_deals:Q", tr("Open deals now; red: without an open task", lang)),
        color=alt.Color("all_kind:N", scale=alt.Scale(domain=_KINDS), legend=None),
    )
    part = base.mark_bar().encode(x=_x("without_tasks:Q", ""), color=_COLOR)
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=_x("open_deals:Q", ""), text=alt.Text("label:N")
    )
    title, text = _shape.title(
        tr(
            "{without} of {open} open deals without tasks · {budget}",
            lang,
            without=count(result.deals),
            open=count(result.open_deals),
            budget=money(result.budget, currency),
        )
    )
    return _shape.layer(
        whole,
        part,
        labels,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_ROW),
        title=title,
        values=(_shape.top(top), text),
    )


def forecast_frame(result: Forecast, currency: str = "") -> pd.DataFrame:
    """One row per forecast stage with the texts the chart draws."""
    st = result.stages
    rows = []
    for r in st.itertuples():
        note = "" if r.basis == "stage" else f" ({r.basis} rate)"
        rows.append(
            {
                "pipeline_id": int(r.pipeline_id),
                "stage_id": int(r.stage_id),
                "row": f"{r.pipeline} · {r.stage}",
                "budget": float(r.budget),
                "weighted": float(r.weighted_budget),
                "all_kind": "muted",
                "kind": "won",
                "label": (
                    f"{money(r.weighted_budget, currency)} of {money(r.budget, currency)} · "
                    f"p {percent(r.probability)}, n={r.basis_sample}{note}"
                ),
                "deals": int(r.deals),
            }
        )
    columns = ["pipeline_id", "stage_id", "row", "budget", "weighted", "all_kind", "kind"]
    frame = pd.DataFrame(rows, columns=[*columns, "label", "deals"])
    dup = frame["row"].duplicated(keep=False)
    frame.loc[dup, "row"] = frame.loc[dup, "row"] + " #" + frame.index[dup].astype(str)
    return frame


def forecast_chart(result: Forecast, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """Per open stage: the open budget (muted) and its weighted part (green), labelled with
    the probability, its sample and whether the pipeline's rate stood in."""
    frame = _shape.ordered(forecast_frame(result, currency))
    top = max([1.0, *frame["budget"]]) * 2.2
    base = alt.Chart().encode(
        y=alt.Y("row:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("row:N", title=tr("Stage", lang)),
            alt.Tooltip("deals:Q", title=tr("Open deals", lang)),
            alt.Tooltip("label:N", title=tr("Weighted of budget · probability", lang)),
        ],
    )
    whole = base.mark_bar().encode(
        x=_x("budget:Q", tr("Open budget now; green: weighted by win probability", lang), ",.0f"),
        color=alt.Color("all_kind:N", scale=alt.Scale(domain=_KINDS), legend=None),
    )
    part = base.mark_bar().encode(x=_x("weighted:Q", "", ",.0f"), color=_COLOR)
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=_x("budget:Q", "", ",.0f"), text=alt.Text("label:N")
    )
    title, text = _shape.title(
        tr(
            "Forecast {weighted} of {budget} open ({deals} deals)",
            lang,
            weighted=money(result.weighted_budget, currency),
            budget=money(result.budget, currency),
            deals=count(result.deals),
        )
    )
    return _shape.layer(
        whole,
        part,
        labels,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_ROW),
        title=title,
        values=(_shape.top(top), text),
    )


def latest_deals_chart(result: LatestDeals, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """The newest open deals as a list: created, deal, stage, responsible and price columns."""
    d = result.deals
    frame = pd.DataFrame(
        {
            "deal_id": d["deal_id"].astype(int),
            "order": range(1, len(d) + 1),
            "created": pd.to_datetime(d["created_at"]).dt.strftime("%Y-%m-%d %H:%M"),
            "deal": d["name"].astype(str),
            "stage": d["stage"].fillna("").astype(str),
            "responsible": d["responsible"].fillna("").astype(str),
            "price": [money(p, currency) for p in d["price"]],
        }
    )
    y = alt.Y("order:O", axis=None)
    shown = [c for c in frame.columns if c not in ("deal_id", "order")]
    names = {"created": "Created", "deal": "Deal", "stage": "Stage"}
    names |= {"responsible": "Responsible", "price": "Price"}
    tooltip = [alt.Tooltip(c, type="nominal", title=tr(names[c], lang)) for c in shown]
    base = alt.Chart().encode(y=y, tooltip=tooltip)
    columns = [("created", 0, "dk-note"), ("deal", 110, "dk-value"), ("stage", 290, "dk-note")]
    columns += [("responsible", 400, "dk-note")]
    scale = alt.Scale(domain=[0, 600], nice=False)

    def at(pos: int) -> alt.XDatum:
        return alt.XDatum(pos, scale=scale, axis=None)

    layers = [
        base.mark_text(align="left", style=style).encode(x=at(pos), text=alt.Text(f"{col}:N"))
        for col, pos, style in columns
    ]
    layers.append(
        base.mark_text(align="right", style="dk-value").encode(x=at(600), text=alt.Text("price:N"))
    )
    return _shape.layer(*layers, data=frame, width=600, height=alt.Step(_ROW))
