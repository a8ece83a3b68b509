"""The activity family: actions per manager, the event feed, chat messages and response time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.metrics.activity import ACTION_TYPES
from deskkit.ui.cards._common import (
    LIMIT,
    LocalTable,
    Option,
    head,
    keys_in,
    label,
    number,
    option,
    user_name,
)
from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model

__all__ = ["ACTIVITY", "EVENTS", "MESSAGES", "RESPONSE_TIME"]

#: Chart label of an action type -> its key (the activity chart's ``type`` is the label).
_ACTION_BY_LABEL = {v: k for k, v in ACTION_TYPES.items()}


def _user_of(datum: Mapping[str, Any]) -> int | None:
    uid = datum.get("user_id")
    return None if uid is None else int(uid)


# Activity -----------------------------------------------------------------------------------


def _activity_kpis(r: Any, prev: Any = None) -> list[Kpi]:
    out = [Kpi("actions", int(r.total), "count", int(r.previous_total), drill="actions")]
    for row in r.by_type.itertuples(index=False):
        out.append(Kpi(row.type, int(row.count), "count", int(row.previous), drill=row.type))
    return out


def _activity_table(r: Any) -> pd.DataFrame:
    t = r.table.rename(columns={"total": "actions", "previous_total": "previous_period"})
    return head(t, ["user", *ACTION_TYPES, "actions", "previous_period"])


def _actions(r: Any, user: int | None = None, type: str | None = None, **_: Any) -> pd.DataFrame:
    return r.records(user, type, limit=LIMIT)


def _action_rows(kind: str) -> Any:
    def rows(r: Any, user: int | None = None, **_: Any) -> pd.DataFrame:
        return r.records(user, kind, limit=LIMIT)

    return rows


def _activity_options(r: Any, lang: str) -> list[Option]:
    out = [option(label("actions", lang), int(r.total), lang, "actions")]
    by_type = r.by_type
    for kind, n in zip(by_type["type"].tolist(), by_type["count"].tolist(), strict=True):
        if n:
            out.append(option(label(kind, lang), int(n), lang, "actions", type=kind))
    names = dict(zip(r.table["user_id"].tolist(), r.table["user"].tolist(), strict=True))
    # Users in id order, each user's rows as listed (plain lists: a pandas groupby and its
    # row tuples cost more than the menu they make).
    per_user: dict[int, list[tuple[str, int]]] = {}
    counts = r.counts
    for uid, kind, n in zip(
        counts["user_id"].tolist(), counts["type"].tolist(), counts["count"].tolist(), strict=True
    ):
        if uid == uid:  # no row without an author (a groupby dropped it too)
            per_user.setdefault(int(uid), []).append((kind, int(n)))
    for uid in sorted(per_user):
        rows = per_user[uid]
        name = user_name(names.get(uid), uid)
        out.append(option(name, sum(n for _, n in rows), lang, "actions", user=uid))
        for kind, n in rows:
            text = f"{name} · {label(kind, lang)}"
            out.append(option(text, n, lang, "actions", user=uid, type=kind))
    return out


def _activity_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    params: dict[str, Any] = {}
    if (uid := _user_of(datum)) is not None:
        params["user"] = uid
    kind = datum.get("action") or _ACTION_BY_LABEL.get(str(datum.get("type")))
    if kind in ACTION_TYPES:
        params["type"] = kind
    return ("actions", params) if params else None


ACTIVITY = register_model(
    CardModel(
        "activity",
        _activity_kpis,
        table=_activity_table,
        drills=(
            Drill("actions", "actions", _actions),
            *(Drill(k, k, _action_rows(k)) for k in ACTION_TYPES),
        ),
        on_mark=_activity_mark,
        options=_activity_options,
    )
)


# Events -------------------------------------------------------------------------------------


def _event_label(kind: str, lang: str) -> str:
    return label(f"event_{kind}", lang, fallback=kind)


def _events_kpis(r: Any, prev: Any = None) -> list[Kpi]:
    return [Kpi("events", int(r.total), "count", drill="events")]


def _events_table(r: Any) -> LocalTable:
    frame = head(r.counts.rename(columns={"type": "event_type"}), ["event_type", "count"])
    return LocalTable(frame, {"event_type": _event_label})


def _events(r: Any, type: str | None = None, **_: Any) -> pd.DataFrame:
    return r.records(type, limit=LIMIT)


def _events_options(r: Any, lang: str) -> list[Option]:
    out = [option(label("events", lang), int(r.total), lang, "events")]
    for row in r.counts.itertuples(index=False):
        out.append(
            option(_event_label(row.type, lang), int(row.count), lang, "events", type=row.type)
        )
    return out


def _events_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    kind = datum.get("type")
    return None if kind is None else ("events", {"type": str(kind)})


EVENTS = register_model(
    CardModel(
        "events",
        _events_kpis,
        table=_events_table,
        drills=(Drill("events", "events", _events),),
        on_mark=_events_mark,
        options=_events_options,
    )
)


# Messages -----------------------------------------------------------------------------------

_DIRECTIONS = {"in": "incoming", "out": "outgoing"}


def _messages_kpis(r: Any, prev: Any = None) -> list[Kpi]:
    return [
        Kpi("incoming", int(r.incoming), "count", int(r.previous_incoming), drill="incoming"),
        Kpi("outgoing", int(r.outgoing), "count", int(r.previous_outgoing), drill="outgoing"),
    ]


def _messages_table(r: Any) -> LocalTable:
    u = r.by_user.assign(user=r.by_user["user"].where(r.by_user["user_id"] != 0, "robot"))
    return LocalTable(head(u, ["user", "incoming", "outgoing"]), {"user": keys_in("robot")})


def _messages(
    r: Any,
    direction: str | None = None,
    channel: str | None = None,
    user: int | None = None,
    **_: Any,
) -> pd.DataFrame:
    return r.records(direction, channel, user, limit=LIMIT)


def _direction_rows(direction: str) -> Any:
    def rows(r: Any, channel: str | None = None, user: int | None = None, **_: Any) -> Any:
        return r.records(direction, channel, user, limit=LIMIT)

    return rows


def _channel_label(channel: str, lang: str) -> str:
    return label(f"channel_{channel}", lang, fallback=channel)


def _messages_options(r: Any, lang: str) -> list[Option]:
    out: list[Option] = []
    for d, col in _DIRECTIONS.items():
        out.append(option(label(col, lang), int(getattr(r, col)), lang, "messages", direction=d))
    # One entry per channel and per author, each split by direction.
    splits = [
        (_channel_label(row.channel, lang), {"channel": row.channel}, row)
        for row in r.by_channel.itertuples(index=False)
    ] + [
        (
            label("robot", lang) if row.user_id == 0 else user_name(row.user, row.user_id),
            {"user": int(row.user_id)},
            row,
        )
        for row in r.by_user.itertuples(index=False)
    ]
    for name, params, row in splits:
        for d, col in _DIRECTIONS.items():
            n = int(getattr(row, col))
            if n:
                text = f"{name} · {label(col, lang)}"
                out.append(option(text, n, lang, "messages", direction=d, **params))
    return out


def _messages_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    params: dict[str, Any] = {}
    direction = {v: k for k, v in _DIRECTIONS.items()}.get(str(datum.get("direction")))
    if direction is not None:
        params["direction"] = direction
    if datum.get("channel") is not None:
        params["channel"] = str(datum["channel"])
    if (uid := _user_of(datum)) is not None:
        params["user"] = uid
    return ("messages", params) if params else None


MESSAGES = register_model(
    CardModel(
        "messages",
        _messages_kpis,
        table=_messages_table,
        drills=(
            Drill("messages", "messages", _messages),
            Drill("incoming", "incoming", _direction_rows("in")),
            Drill("outgoing", "outgoing", _direction_rows("out")),
        ),
        on_mark=_messages_mark,
        options=_messages_options,
    )
)


# Response time ------------------------------------------------------------------------------


def _response_kpis(r: Any, prev: Any = None) -> list[Kpi]:
    return [
        Kpi("mean_s", number(r.mean_s), "seconds", number(r.previous_mean_s), "down", "replies"),
        Kpi(
            "median_s",
            number(r.median_s),
            "seconds",
            number(r.previous_median_s),
            "down",
            "replies",
        ),
        Kpi("replies", int(r.replies), "count", int(r.previous_replies), drill="replies"),
        Kpi("unanswered", int(r.unanswered), "count", better="down", drill="unanswered"),
    ]


def _response_table(r: Any) -> pd.DataFrame:
    return head(r.by_user, ["user", "replies", "mean_s", "median_s", "unanswered"])


def _replies(r: Any, user: int | None = None, **_: Any) -> pd.DataFrame:
    return r.records("replies", user, limit=LIMIT)


def _unanswered(r: Any, user: int | None = None, **_: Any) -> pd.DataFrame:
    return r.records("unanswered", user, limit=LIMIT)


def _response_options(r: Any, lang: str) -> list[Option]:
    out = [
        option(label("replies", lang), int(r.replies), lang, "replies"),
        option(label("unanswered", lang), int(r.unanswered), lang, "unanswered"),
    ]
    for row in r.by_user.itertuples(index=False):
        name = user_name(row.user, row.user_id)
        if row.replies:
            out.append(
                option(
                    f"{name} · {label('replies', lang)}",
                    int(row.replies),
                    lang,
                    "replies",
                    user=int(row.user_id),
                )
            )
        if row.unanswered:
            out.append(
                option(
                    f"{name} · {label('unanswered', lang)}",
                    int(row.unanswered),
                    lang,
                    "unanswered",
                    user=int(row.user_id),
                )
            )
    return out


def _response_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    uid = _user_of(datum)
    return None if uid is None else ("replies", {"user": uid})


RESPONSE_TIME = register_model(
    CardModel(
        "response_time",
        _response_kpis,
        table=_response_table,
        drills=(
            Drill("replies", "replies", _replies),
            Drill("unanswered", "unanswered", _unanswered),
        ),
        on_mark=_response_mark,
        options=_response_options,
    )
)
