"""The "now" cards: deals by manager, deals without tasks, the latest deals and the forecast.
They look at the account now, so they have no previous-period comparison."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.ui.cards._common import LIMIT, Option, head, label, option, user_name
from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model

__all__ = ["DEALS_BY_MANAGER", "DEALS_WITHOUT_TASKS", "FORECAST", "LATEST_DEALS"]


def _user_mark(key: str) -> Any:
    """``on_mark`` for charts with one bar per user (``user_id`` in the datum)."""

    def on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        uid = datum.get("user_id")
        return None if uid is None else (key, {"user": int(uid)})

    return on_mark


def _user_deals(r: Any, user: int | str | None = None, **_: Any) -> pd.DataFrame:
    return r.records(user, limit=LIMIT)


# Deals by manager ---------------------------------------------------------------------------


def _managers_kpis(r: Any, prev: Any = None) -> list[Kpi]:
    return [
        Kpi("open_deals", int(r.deals), "count", drill="deals"),
        Kpi("open_budget", float(r.budget), "money", drill="deals"),
        Kpi("over_capacity", int(r.over), "count", better="down", drill="over"),
    ]


def _managers_table(r: Any) -> pd.DataFrame:
    t = r.managers.rename(columns={"load": "load_share"})
    return head(t, ["user", "deals", "budget", "capacity", "load_share", "over_capacity"])


def _over_rows(r: Any, **_: Any) -> pd.DataFrame:
    """The open deals of every manager over capacity, the most loaded first."""
    over = r.managers.loc[r.managers["over_capacity"]]
    parts, got = [], 0
    for uid in over["user_id"]:
        if got >= LIMIT:
            break
        part = r.records(int(uid), limit=LIMIT - got)
        parts.append(part)
        got += len(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _managers_options(r: Any, lang: str) -> list[Option]:
    out = [option(label("open_deals", lang), int(r.deals), lang, "deals")]
    if r.over:
        n = int(r.managers.loc[r.managers["over_capacity"], "deals"].sum())
        out.append(option(label("over_capacity", lang), n, lang, "over"))
    for row in r.managers.itertuples(index=False):
        if row.deals:
            name = user_name(row.user, row.user_id)
            out.append(option(name, int(row.deals), lang, "deals", user=int(row.user_id)))
    return out


DEALS_BY_MANAGER = register_model(
    CardModel(
        "deals_by_manager",
        _managers_kpis,
        table=_managers_table,
        drills=(
            Drill("deals", "open_deals", _user_deals),
            Drill("over", "over_capacity", _over_rows),
        ),
        on_mark=_user_mark("deals"),
        options=_managers_options,
    )
)


# Deals without tasks ------------------------------------------------------------------------


def _bare_kpis(r: Any, prev: Any = None) -> list[Kpi]:
    share = None if not r.open_deals else float(r.share)
    return [
        Kpi("without_tasks", int(r.deals), "count", better="down", drill="deals"),
        Kpi("budget", float(r.budget), "money", better="down", drill="deals"),
        Kpi("share", share, "percent", better="down"),
        Kpi("open_deals", int(r.open_deals), "count"),
    ]


def _bare_table(r: Any) -> pd.DataFrame:
    return head(r.by_user, ["user", "without_tasks", "open_deals", "budget", "share"])


def _bare_options(r: Any, lang: str) -> list[Option]:
    out = [option(label("without_tasks", lang), int(r.deals), lang, "deals")]
    for row in r.by_user.itertuples(index=False):
        if row.without_tasks:
            name = user_name(row.user, row.user_id)
            out.append(option(name, int(row.without_tasks), lang, "deals", user=int(row.user_id)))
    return out


DEALS_WITHOUT_TASKS = register_model(
    CardModel(
        "deals_without_tasks",
        _bare_kpis,
        table=_bare_table,
        drills=(Drill("deals", "without_tasks", _user_deals),),
        on_mark=_user_mark("deals"),
        options=_bare_options,
    )
)


# Latest deals -------------------------------------------------------------------------------


def _latest_kpis(r: Any, prev: Any = None) -> list[Kpi]:
    return [
        Kpi("deals", len(r.deals), "count", drill="deals"),
        Kpi("budget", float(r.deals["price"].fillna(0).sum()), "money", drill="deals"),
    ]


def _latest_table(r: Any) -> pd.DataFrame:
    return head(r.deals, ["name", "stage", "responsible", "price", "created_at"], rows=r.n)


def _latest_rows(r: Any, deal: int | None = None, **_: Any) -> pd.DataFrame:
    rows = r.records(limit=LIMIT)
    if deal is not None:
        rows = rows.loc[rows["deal_id"] == int(deal)].reset_index(drop=True)
    return rows


def _latest_options(r: Any, lang: str) -> list[Option]:
    out = [option(label("deals", lang), len(r.deals), lang, "deals")]
    for row in r.deals.itertuples(index=False):
        out.append((str(row.name), "deals", {"deal": int(row.deal_id)}))
    return out


def _latest_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    deal = datum.get("deal_id")
    return None if deal is None else ("deals", {"deal": int(deal)})


LATEST_DEALS = register_model(
    CardModel(
        "latest_deals",
        _latest_kpis,
        table=_latest_table,
        drills=(Drill("deals", "deals", _latest_rows),),
        on_mark=_latest_mark,
        options=_latest_options,
    )
)


# Forecast -----------------------------------------------------------------------------------


def _forecast_kpis(r: Any, prev: Any = None) -> list[Kpi]:
    return [
        Kpi("weighted_budget", float(r.weighted_budget), "money", drill="deals"),
        Kpi("open_budget", float(r.budget), "money", drill="deals"),
        Kpi("open_deals", int(r.deals), "count", drill="deals"),
    ]


def _forecast_table(r: Any) -> pd.DataFrame:
    return head(r.by_user, ["user", "deals", "budget", "weighted_budget"])


def _forecast_deals(
    r: Any,
    pipeline: int | None = None,
    stage: int | None = None,
    user: int | None = None,
    **_: Any,
) -> pd.DataFrame:
    return r.records("deals", pipeline, stage, user=user, limit=LIMIT)


def _forecast_sample(
    r: Any, pipeline: int | None = None, stage: int | None = None, **_: Any
) -> pd.DataFrame:
    """The closed deals a probability was learned from (the first stage's when none is named)."""
    if pipeline is None:
        st = r.stages
        if st.empty:
            return pd.DataFrame()
        first = st.iloc[0]
        pipeline = int(first["pipeline_id"])
        stage = int(first["stage_id"]) if first["basis"] == "stage" else None
    return r.records("sample", pipeline, stage, limit=LIMIT)


def _sample_params(row: Any) -> dict[str, Any]:
    """Where a stage's probability came from: its own history or its pipeline's."""
    params: dict[str, Any] = {"pipeline": int(row.pipeline_id)}
    if row.basis == "stage":
        params["stage"] = int(row.stage_id)
    return params


def _forecast_options(r: Any, lang: str) -> list[Option]:
    out = [option(label("open_deals", lang), int(r.deals), lang, "deals")]
    sample_word = label("sample", lang)
    for row in r.stages.itertuples(index=False):
        name = f"{row.pipeline} · {row.stage}"
        if row.deals:
            params = {"pipeline": int(row.pipeline_id), "stage": int(row.stage_id)}
            out.append(option(name, int(row.deals), lang, "deals", **params))
        if row.basis != "none":
            out.append(
                option(
                    f"{name} · {sample_word}",
                    int(row.basis_sample),
                    lang,
                    "sample",
                    **_sample_params(row),
                )
            )
    for row in r.by_user.itertuples(index=False):
        if row.deals:
            name = user_name(row.user, row.user_id)
            out.append(option(name, int(row.deals), lang, "deals", user=int(row.user_id)))
    return out


def _forecast_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    pid, sid = datum.get("pipeline_id"), datum.get("stage_id")
    if pid is None or sid is None:
        return None
    return ("deals", {"pipeline": int(pid), "stage": int(sid)})


FORECAST = register_model(
    CardModel(
        "forecast",
        _forecast_kpis,
        table=_forecast_table,
        drills=(
            Drill("deals", "open_deals", _forecast_deals),
            Drill("sample", "sample", _forecast_sample),
        ),
        on_mark=_forecast_mark,
        options=_forecast_options,
    )
)
