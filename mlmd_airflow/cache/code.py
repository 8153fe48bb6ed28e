"""Code fingerprints: what a step's code *means*, not how it is written.

The hash is over the AST of the source with docstrings, the decorators of the step itself and all formatting and
comments removed, so cosmetic edits keep hits (joblib #324/#1533, ZenML #3880) while any change of behaviour
misses. It never involves `__module__` or file paths, which differ between `python dag.py`, dag.test() and
workers (a DAG file's module is `unusual_prefix_<sha1>_<file>` in Airflow).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterable
from typing import Any

from mlmd_airflow.cache.files import file_digest


class CodeFingerprintError(ValueError):
    """A code dependency cannot be fingerprinted (no source, not importable, not a file)."""


def _strip(tree: ast.AST, *, drop_decorators: bool) -> ast.AST:
    """Removes docstrings everywhere and, for the top-level definition, its decorators."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    if drop_decorators and isinstance(tree, ast.Module):
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                node.decorator_list = []
                if not isinstance(node, ast.ClassDef):
                    node.name = "_"  # the step's identity is its `name`, not what the function is called
    return tree


def source_digest(source: str, *, drop_decorators: bool = True) -> str:
    """sha256 of the normalized AST of Python source text (docstrings/comments/formatting do not count)."""
    tree = ast.parse(textwrap.dedent(source))
    dumped = ast.dump(_strip(tree, drop_decorators=drop_decorators), annotate_fields=True, include_attributes=False)
    return hashlib.sha256(dumped.encode("utf-8")).hexdigest()


def _unwrap(obj: Any) -> Any:
    seen = set()
    while hasattr(obj, "__wrapped__") and id(obj) not in seen:
        seen.add(id(obj))
        obj = obj.__wrapped__
    return obj


def _bytecode_digest(code: types.CodeType) -> str:
    """Fallback when no source exists (a lambda typed in a REPL): bytecode + constants, Python-version scoped."""
    h = hashlib.sha256(f"py{sys.version_info[0]}.{sys.version_info[1]}".encode())

    def feed(c: types.CodeType) -> None:
        h.update(c.co_code)
        h.update(repr(c.co_names).encode())
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                feed(const)
            else:
                h.update(repr(const).encode())

    feed(code)
    return "bytecode:" + h.hexdigest()


def object_digest(obj: Any) -> str:
    """Fingerprint of a function, class or module: its normalized source (bytecode when there is no source)."""
    obj = _unwrap(obj)
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType):
            return _bytecode_digest(code)
        raise CodeFingerprintError(f"cannot read the source of {obj!r} to fingerprint it") from None
    if getattr(obj, "__name__", "") == "<lambda>":
        code = getattr(obj, "__code__", None)
        return _bytecode_digest(code) if isinstance(code, types.CodeType) else source_digest(source)
    try:
        return source_digest(source)
    except SyntaxError:  # e.g. a method's source with odd indentation; fall back to the raw text
        return hashlib.sha256(source.encode("utf-8")).hexdigest()


def dep_name(dep: Any) -> str:
    """Display name of a code dependency: `clean()`, `Scaler`, `mypkg.features`."""
    if isinstance(dep, str):
        return dep
    obj = _unwrap(dep)
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    # the plain name, so the same helper defined in another module or DAG function keeps its identity
    name = getattr(obj, "__name__", None) or type(obj).__name__
    return f"{name}()" if callable(obj) and not isinstance(obj, type) else name


def _resolve(dep: Any) -> Any:
    if not isinstance(dep, str):
        return dep
    module_name, _, attr = dep.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CodeFingerprintError(f"code_deps: cannot import {module_name!r}: {exc}") from None
    if not attr:
        return module
    try:
        target: Any = module
        for part in attr.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise CodeFingerprintError(f"code_deps: {module_name!r} has no attribute {attr!r}") from None
    return target


def code_fingerprint(fn: Callable[..., Any], *, version: str | None, code_deps: Iterable[Any] = (),
                     file_deps: Iterable[str] = ()) -> dict[str, Any]:
    """The `code` part of a manifest.

    With `version`: {"version": v} plus file deps (the source is then deliberately ignored). Otherwise:
    {"fn": digest, "deps": {name: digest}, "files": {path: digest}}. Code deps are functions, classes,
    modules, or strings `"pkg.module"` / `"pkg.module:attr"`.
    """
    out: dict[str, Any] = {}
    if version is not None:
        out["version"] = str(version)
    else:
        out["fn"] = object_digest(fn)
        deps: dict[str, str] = {}
        for d in code_deps:
            name = dep_name(d)
            if name in deps:  # two helpers with one name: tell them apart by qualified name
                name = getattr(_unwrap(d), "__qualname__", name).replace("<locals>.", "")
            deps[name] = object_digest(_resolve(d))
        if deps:
            out["deps"] = deps
    files = {str(path): file_digest(path) for path in file_deps}
    if files:
        out["files"] = files
    return out
