"""HTML for the card's tables: the stage table and the drill-down records.

Pure functions of metric results and record frames (no widgets), so they are tested directly.
Every number that tests read sits in a ``<span data-k="…" data-v="…">`` hook: ``data-v`` holds
the plain value (no separators, ASCII sign), the span's text is what people read.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import pandas as pd

from deskkit.charts import money

if TYPE_CHECKING:
    from deskkit.metrics.pipeline_flow import PipelineFlow

__all__ = ["RECORDS_CAP", "hook", "records_html", "stage_table_html"]

#: Drill-down tables show at most this many rows (and say how many there are).
RECORDS_CAP = 200

# Record columns worth showing, in this order, with their headers.
_RECORD_COLUMNS = {
    "deal_id": "Deal",
    "name": "Name",
    "price": "Budget",
    "responsible": "Responsible",
    "stage": "Stage now",
    "at": "Moved at",
    "from_stage": "From",
    "to_stage": "To",
    "sign": "Direction",
    "created_at": "Created",
    "closed_at": "Closed",
}
_TIME_COLUMNS = ("at", "created_at", "closed_at")


def hook(key: str, value: float | int, text: str | None = None) -> str:
    """A number for people (``text``) with a stable handle for tests (``data-k``/``data-v``)."""
    plain = f"{int(value)}" if float(value).is_integer() else f"{float(value):.2f}"
    shown = plain if text is None else text
    return f'<span data-k="{html.escape(key)}" data-v="{plain}">{html.escape(shown)}</span>'


def stage_table_html(result: PipelineFlow, currency: str = "", lang: str = "en") -> str:
    """The stage table: stage, deals, budget, net in (signed), lost, conversion.

    The won row is marked (class ``dk-won``): its deals and budget are the deals won during the
    period, not a stock at the end of it.
    """
    from deskkit.ui import i18n

    rows = []
    last = len(result.stages) - 1
    for i, r in result.stages.reset_index(drop=True).iterrows():
        sid = int(r["stage_id"])
        won = i == last
        net = int(r["net_in"])
        name = i18n.t("won_row", lang) if won else str(r["stage"])
        budget = i18n.fmt_money(float(r["budget"]), currency, lang)
        conversion = i18n.fmt_percent(float(r["conversion"]), lang)
        deals, lost = int(r["deals"]), int(r["lost"])
        # The first open stage has no boundary before it, so nothing can flow "in".
        net_text = "—" if i == 0 else i18n.fmt_signed(net, "count", lang)
        lost_cell = "" if won else hook(f"lost-{sid}", lost, i18n.fmt_count(lost, lang))
        cells = [
            f'<td class="dk-stage">{html.escape(name)}</td>',
            f"<td>{hook(f'deals-{sid}', deals, i18n.fmt_count(deals, lang))}</td>",
            f"<td>{hook(f'budget-{sid}', float(r['budget']), budget)}</td>",
            f"<td>{hook(f'net-{sid}', net, net_text)}</td>",
            f"<td>{lost_cell}</td>",
            f"<td>{'' if won else html.escape(conversion)}</td>",
        ]
        cls = ' class="dk-won"' if won else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    head = "".join(
        f"<th>{html.escape(i18n.t(h, lang))}</th>"
        for h in ("stage", "deals", "budget", "net_in", "lost", "conversion")
    )
    return (
        '<table class="dk-table dk-stages">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _cell(column: str, value: object, currency: str, timezone: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if column == "price":
        return money(float(value), currency)  # type: ignore[arg-type]
    if column == "sign":
        return "forward" if int(value) > 0 else "back"  # type: ignore[call-overload]
    if column in _TIME_COLUMNS:
        # The store keeps naive UTC instants; people read the account's local time.
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return stamp.tz_convert(timezone).strftime("%Y-%m-%d %H:%M")
    return str(value)


def records_html(
    frame: pd.DataFrame,
    total: int | None = None,
    *,
    what: str = "records",
    currency: str = "",
    timezone: str = "UTC",
    cap: int = RECORDS_CAP,
) -> str:
    """The rows behind a number, at most ``cap`` of them, with a caption saying how many."""
    total = len(frame) if total is None else total
    shown = frame.head(cap)
    cols = [c for c in _RECORD_COLUMNS if c in shown.columns]
    if total == 0 or shown.empty:
        return f'<div class="dk-caption" data-k="records-total" data-v="0">No {what}.</div>'
    caption = (
        f"{total:,} {what}" if len(shown) >= total else f"First {len(shown):,} of {total:,} {what}"
    )
    head = "".join(f"<th>{_RECORD_COLUMNS[c]}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_cell(c, v, currency, timezone))}</td>"
            for c, v in zip(cols, row, strict=True)
        )
        + "</tr>"
        for row in shown[cols].itertuples(index=False, name=None)
    )
    return (
        f'<div class="dk-caption" data-k="records-total" data-v="{total}">{caption}</div>'
        f'<div class="dk-scroll"><table class="dk-table dk-records">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
