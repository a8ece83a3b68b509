"""The last step of a sync: columns that need more than one stream, computed in the store.

Both are pure functions of what is stored, so recomputing them on every run (and again after
a resumed run) always gives the same result.

- ``tasks.completed_at``: the API has no completion time. A completed task takes the time of
  its latest ``task_completed`` event; without one it keeps its ``updated_at`` (set when the
  task was mapped).
- ``nps.user_id``: an NPS rate event has no manager; a response is attributed to the current
  responsible user of the deal (contact, company) it was given on.
"""

from __future__ import annotations

from typing import Final

import duckdb

__all__ = ["derive"]

_COMPLETED: Final = """
UPDATE tasks SET completed_at = done.at
FROM (
    SELECT entity_id AS task_id, max(created_at) AS at
    FROM events WHERE type = 'task_completed' AND entity_type = 'task'
    GROUP BY entity_id
) AS done
WHERE tasks.task_id = done.task_id AND tasks.is_completed
  AND tasks.completed_at IS DISTINCT FROM done.at
"""

_NPS_OWNER: Final = """
UPDATE nps SET user_id = owner.user_id
FROM (
    SELECT 'deal' AS entity_type, deal_id AS entity_id, responsible_user_id AS user_id FROM deals
    UNION ALL
    SELECT 'contact', id, responsible_user_id FROM contacts
    UNION ALL
    SELECT 'company', id, responsible_user_id FROM companies
    UNION ALL
    SELECT 'customer', customer_id, responsible_user_id FROM customers
) AS owner
WHERE nps.entity_type = owner.entity_type AND nps.entity_id = owner.entity_id
  AND nps.user_id IS DISTINCT FROM owner.user_id
"""


def derive(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the cross-stream columns (inside the caller's transaction)."""
    con.execute(_COMPLETED)
    con.execute(_NPS_OWNER)
