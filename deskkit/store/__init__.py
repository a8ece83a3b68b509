"""The store layer: the deskkit schema on an Ibis backend."""

from deskkit.store.open import Account, Store, open_store
from deskkit.store.schema import SCHEMA, SCHEMA_VERSION
from deskkit.store.validate import SchemaError, SchemaIssue, check_schema

__all__ = (
    "SCHEMA",
    "SCHEMA_VERSION",
    "Account",
    "SchemaError",
    "SchemaIssue",
    "Store",
    "check_schema",
    "open_store",
)
