"""The activity family on PostgreSQL: the same DataFrames as on DuckDB over the same demo account
(window functions, medians and subqueries included)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.activity import activity, events, events_since
from deskkit.metrics.messaging import messages, response_time

pytestmark = pytest.mark.postgres


@pytest.fixture
def stores(desks):
    """(DuckDB store, PostgreSQL store) holding the same demo account."""
    return desks[0].store, desks[1].store


def frames(ctx: Context) -> dict[str, object]:
    """Every DataFrame and headline number of the family for one request."""
    a, e = activity(ctx), events(ctx, limit=50)
    m, r = messages(ctx), response_time(ctx)
    return {
        "activity.table": a.table,
        "activity.counts": a.counts,
        "activity.by_type": a.by_type,
        "events.feed": e.feed,
        "events.counts": e.counts,
        "messages.by_channel": m.by_channel,
        "messages.by_user": m.by_user,
        "response.by_user": r.by_user,
        "numbers": pd.DataFrame(
            [
                {
                    "activity": a.total,
                    "activity_prev": a.previous_total,
                    "events": e.total,
                    "new_events": events_since(ctx, ctx.now - dt.timedelta(days=2)),
                    "incoming": m.incoming,
                    "outgoing": m.outgoing,
                    "replies": r.replies,
                    "mean_s": r.mean_s,
                    "median_s": r.median_s,
                    "unanswered": r.unanswered,
                    "prev_median_s": r.previous_median_s,
                }
            ]
        ),
    }


@pytest.mark.parametrize(
    ("preset", "scope", "viewer"),
    [
        ("month", Scope(), None),
        ("year", Scope(), None),
        ("month", Scope(department=402), None),
        ("quarter", Scope(), "own"),
    ],
    ids=["month", "year", "department", "own-viewer"],
)
def test_activity_family_is_the_same_on_postgres(stores, test_store, preset, scope, viewer):
    duck, pg = stores
    assert pg.backend.name == "postgres"
    if viewer == "own":
        users = duck.users
        viewer = int(users.query("deal_access == 'own' and not is_admin")["user_id"].iloc[0])
    tz = duck.account.timezone
    period = Period.preset(preset, timezone=tz, now=test_store.now)
    a = frames(Context(duck, period, scope, Viewer(viewer)))
    b = frames(Context(pg, period, scope, Viewer(viewer)))
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    # Not trivially empty.
    numbers = a["numbers"].iloc[0]
    assert numbers["activity"] > 0 and numbers["events"] > 0 and numbers["replies"] > 0
