"""The system-usage card: online hours per user against the previous period."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.ui.cards._common import LIMIT, Option, head, label, user_name
from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model

__all__ = ["MODEL"]


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    u = r.users
    return [
        Kpi("online_hours", float(r.hours), "hours", float(r.previous_hours), drill="sessions"),
        Kpi(
            "users_online",
            int((u["hours"] > 0).sum()),
            "count",
            int((u["previous_hours"] > 0).sum()),
            drill="sessions",
        ),
    ]


def _table(r: Any) -> pd.DataFrame:
    return head(r.users, ["user", "hours", "previous_hours", "change"])


def _sessions(r: Any, user: int | None = None, previous: bool = False, **_: Any) -> pd.DataFrame:
    return r.records(user, previous=bool(previous), limit=LIMIT)


def _options(r: Any, lang: str) -> list[Option]:
    from deskkit.ui.i18n import fmt_hours

    def entry(text: str, hours: float, **params: Any) -> Option:
        return (f"{text}: {fmt_hours(hours, lang)}", "sessions", params)

    prev_word = label("previous_period", lang)
    out: list[Option] = [
        entry(label("online_hours", lang), float(r.hours)),
        entry(
            f"{label('online_hours', lang)} · {prev_word}", float(r.previous_hours), previous=True
        ),
    ]
    for row in r.users.itertuples(index=False):
        name = user_name(row.user, row.user_id)
        if row.hours > 0:
            out.append(entry(name, float(row.hours), user=int(row.user_id)))
        if row.previous_hours > 0:
            out.append(
                entry(
                    f"{name} · {prev_word}",
                    float(row.previous_hours),
                    user=int(row.user_id),
                    previous=True,
                )
            )
    return out


def _on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    uid = datum.get("user_id")
    return None if uid is None else ("sessions", {"user": int(uid)})


MODEL = register_model(
    CardModel(
        "system_usage",
        _kpis,
        table=_table,
        drills=(Drill("sessions", "sessions", _sessions),),
        on_mark=_on_mark,
        options=_options,
    )
)
