"""The overdue-tasks card: deadlines missed in the period (the desktop's number) next to the
tasks overdue now (the task list's number), per user and by what became of the task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.ui.cards._common import LIMIT, Option, head, label, option, user_name
from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model

__all__ = ["MODEL"]

#: A fate column of ``by_user`` -> the ``status`` its occurrence records carry.
FATES: dict[str, str] = {
    "completed_since": "completed late",
    "rescheduled": "rescheduled",
    "still_overdue": "overdue now",
}


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    previous = None if prev is None else int(prev.occurrences)
    u = r.by_user
    return [
        Kpi("missed_deadlines", int(r.occurrences), "count", previous, "down", "occurrences"),
        Kpi("overdue_now", int(r.overdue_now), "count", better="down", drill="now"),
        Kpi("completed_since", int(u["completed_since"].sum()), "count", drill="completed_since"),
        Kpi(
            "still_overdue",
            int(u["still_overdue"].sum()),
            "count",
            better="down",
            drill="still_overdue",
        ),
    ]


def _table(r: Any) -> pd.DataFrame:
    t = r.by_user.rename(columns={"occurrences": "missed_deadlines"})
    cols = ["user", "missed_deadlines", *FATES, "overdue_now"]
    return head(t, cols)


def _occurrences(
    r: Any, user: int | str | None = None, fate: str | None = None, **_: Any
) -> pd.DataFrame:
    """Missed deadlines, optionally only those whose task met ``fate`` (a :data:`FATES` key).
    ``records()`` cannot narrow by fate: those rows are filtered here."""
    if fate is None:
        return r.records("occurrences", user, limit=LIMIT)
    if fate not in FATES:
        raise ValueError(f"unknown fate {fate!r}; use one of {list(FATES)}")
    rows = r.records("occurrences", user)
    rows = rows.loc[rows["status"] == FATES[fate]]
    return rows.head(LIMIT).reset_index(drop=True)


def _now(r: Any, user: int | str | None = None, **_: Any) -> pd.DataFrame:
    return r.records("now", user, limit=LIMIT)


def _fate_rows(fate: str) -> Any:
    def rows(r: Any, user: int | str | None = None, **_: Any) -> pd.DataFrame:
        return _occurrences(r, user, fate)

    return rows


def _options(r: Any, lang: str) -> list[Option]:
    u = r.by_user
    out = [
        option(label("missed_deadlines", lang), int(r.occurrences), lang, "occurrences"),
        option(label("overdue_now", lang), int(r.overdue_now), lang, "now"),
    ]
    for fate in FATES:
        if n := int(u[fate].sum()):
            out.append(option(label(fate, lang), n, lang, "occurrences", fate=fate))
    for row in u.itertuples(index=False):
        name, uid = user_name(row.user, row.user_id), int(row.user_id)
        if row.occurrences:
            out.append(
                option(
                    f"{name} · {label('missed_deadlines', lang)}",
                    int(row.occurrences),
                    lang,
                    "occurrences",
                    user=uid,
                )
            )
        for fate in FATES:
            if n := int(getattr(row, fate)):
                out.append(
                    option(
                        f"{name} · {label(fate, lang)}", n, lang, "occurrences", user=uid, fate=fate
                    )
                )
        if row.overdue_now:
            out.append(
                option(
                    f"{name} · {label('overdue_now', lang)}",
                    int(row.overdue_now),
                    lang,
                    "now",
                    user=uid,
                )
            )
    return out


def _on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    uid = datum.get("user_id")
    if uid is None:
        return None
    key = "now" if datum.get("which") == "now" else "occurrences"
    return (key, {"user": int(uid)})


MODEL = register_model(
    CardModel(
        "overdue_tasks",
        _kpis,
        table=_table,
        drills=(
            Drill("occurrences", "missed_deadlines", _occurrences),
            Drill("now", "overdue_now", _now),
            *(Drill(f, f, _fate_rows(f)) for f in FATES),
        ),
        on_mark=_on_mark,
        options=_options,
        compare_previous=True,
    )
)
