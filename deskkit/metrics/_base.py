"""What every metric shares: the query context and the scoped, viewer-safe base tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deskkit.filters import Period, Scope, Viewer, owner_filter, visible_owners

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.store import Store

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """One metric request: the store and the filters (period, scope, viewer)."""

    store: Store
    period: Period
    scope: Scope = field(default_factory=Scope)
    viewer: Viewer = field(default_factory=Viewer)

    @property
    def owners(self) -> frozenset[int] | None:
        """Responsible users whose records are in scope and visible (None = everyone)."""
        s = self.store
        return visible_owners(self.scope, self.viewer, s.users, s.groups)

    def deals(self) -> ir.Table:
        """Deals that are not deleted, in scope and visible to the viewer.

        The viewer's rights are applied here, inside the query, so no metric can return rows
        the viewer may not see.
        """
        t = self.store.table("deals")
        return t.filter(
            ~t.is_deleted.fill_null(False), owner_filter(t.responsible_user_id, self.owners)
        )
