"""filter_query: ml-metadata's declarative node filter, parsed with lark and compiled to SQLAlchemy."""

from mlmd_core.filter.compiler import matching_ids

__all__ = ["matching_ids"]
