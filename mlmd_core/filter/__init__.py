"""filter_query: ml-metadata's declarative node filter, parsed with lark and compiled to SQLAlchemy."""

from mlmd_core.filter.compiler import condition, parameters

__all__ = ["condition", "parameters"]
