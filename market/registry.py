"""A registry of named factories: one lookup and one error message for every component kind.

Used by :func:`market.make_mechanism` and :func:`market.make_estimator`; an unknown name or a
bad option is a ``ValueError`` naming the kind, the name and the valid choices. A researcher's
own component is added with :meth:`Registry.register` (:func:`market.register_mechanism`,
:func:`market.register_estimator`, ``agents.register_strategy``,
``agents.register_join_policy``) and is then built by name exactly like a built-in one: from a
scenario's TOML, the CLI and the explorer.

Plug-in modules (:func:`load_plugins`) are imported before a registry is first read: every
module or ``.py`` file named in the ``FEDMARKET_PLUGINS`` environment variable (separated by
``os.pathsep``) and every entry point of the ``fedmarket.plugins`` group of an installed
package. Importing a plug-in registers its components.

Threat model: a plug-in is code and runs with the user's rights. It comes only from the
user's own environment (the variable, the installed packages), never from a scenario file: a
TOML someone sends can name only components already registered, so opening it runs nothing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Generic, TypeVar

T = TypeVar("T")

PLUGINS_VARIABLE = "FEDMARKET_PLUGINS"
"""The environment variable naming plug-in modules or ``.py`` files (``os.pathsep``-separated)."""
PLUGIN_GROUP = "fedmarket.plugins"
"""The entry-point group an installed package registers its plug-in module under."""


class PluginError(ValueError):
    """A plug-in named in the environment could not be imported (one line, with the fix)."""


_lock = threading.RLock()
_loaded: set[str] = set()
"""Plug-ins imported (a resolved file path, a module name, or an entry point's identity)."""
_failed: dict[str, PluginError] = {}
"""Plug-ins that failed: their error is raised again on every read (never silently skipped)."""
_loading: set[int] = set()
"""Threads importing plug-ins now (a plug-in that reads a registry while it loads)."""
_entry_points: list[tuple[str, EntryPoint]] | None = None


def load_plugins() -> list[str]:
    """Import every plug-in not imported yet (``FEDMARKET_PLUGINS``, then the
    ``fedmarket.plugins`` entry points); returns what it imported. Called before a registry
    is read, so a worker process finds the same components as its parent. Thread-safe (the
    explorer serves sessions from threads): another thread waits until loading is done.

    Raises:
        PluginError: a plug-in failed to import (the message names it and the fix), on this
            and on every later read.
    """
    thread = threading.get_ident()
    if thread in _loading:  # a plug-in reading a registry while it is imported
        return []
    with _lock:
        _loading.add(thread)
        try:
            done = []
            for key, load in _pending():
                if key in _failed:
                    raise _failed[key]
                if key in _loaded:
                    continue
                try:
                    load()
                except PluginError as error:
                    _failed[key] = error
                    raise
                _loaded.add(key)
                done.append(key)
            return done
        finally:
            _loading.discard(thread)


def _pending() -> list[tuple[str, Callable[[], None]]]:
    """Every plug-in named now, keyed by what identifies it (a file by its resolved path)."""
    global _entry_points
    out: list[tuple[str, Callable[[], None]]] = []
    for name in os.environ.get(PLUGINS_VARIABLE, "").split(os.pathsep):
        name = name.strip()
        if name.endswith(".py"):
            path = Path(name).expanduser().resolve()
            out.append((str(path), functools.partial(_import_file, name, path)))
        elif name:
            out.append((name, functools.partial(_import_module, name)))
    if _entry_points is None:
        found = entry_points(group=PLUGIN_GROUP)
        _entry_points = [
            (f"{getattr(point.dist, 'name', '?')}:{point.name}={point.value}", point)
            for point in found
        ]
    for key, point in _entry_points:
        out.append((key, functools.partial(_load_entry_point, point)))
    return out


def _one_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"


def _import_file(name: str, path: Path) -> None:
    """Import the file ``path`` (named ``name`` in the variable) as its own module."""
    try:
        if not path.is_file():
            raise FileNotFoundError(f"no such file {str(path)!r}")
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        module_name = f"fedmarket_plugin_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{str(path)!r} is not a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as error:  # a broken plug-in: one line naming it and the fix
        raise _named_error(name, error) from error


def _import_module(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception as error:  # a broken plug-in: one line naming it and the fix
        raise _named_error(name, error) from error


def _named_error(name: str, error: BaseException) -> PluginError:
    """The one-line error for the plug-in ``name`` of ``FEDMARKET_PLUGINS``."""
    return PluginError(
        f"{PLUGINS_VARIABLE}: could not load {name!r} ({_one_line(error)}); fix it or "
        f"remove it from {PLUGINS_VARIABLE}"
    )


def _load_entry_point(point: EntryPoint) -> None:
    package = getattr(point.dist, "name", "?")
    try:
        point.load()
    except Exception as error:  # a broken installed plug-in: one line naming the package
        raise PluginError(
            f"{PLUGIN_GROUP}: {point.value!r} of package {package!r} could not load "
            f"({_one_line(error)}); fix it or `pip uninstall {package}`"
        ) from error


class Registry(Mapping[str, Callable[..., T]], Generic[T]):
    """A mapping ``name -> factory`` that builds components by name; read-only except
    through :meth:`register`.

    Args:
        kind: what the names denote, for error messages (``"mechanism"``, ``"method"``).
        factories: the built-in factories by name.
        base: the class every registered factory must be a subclass of (``None``: any
            callable).
    """

    def __init__(
        self,
        kind: str,
        factories: Mapping[str, Callable[..., T]],
        base: type | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self._own = dict(factories)
        self._factories = MappingProxyType(self._own)
        self.builtin = frozenset(factories)
        """The names shipped with fedmarket (the others were registered by a user)."""

    def register(self, name: str, factory: Callable[..., T], *, replace: bool = False) -> None:
        """Make ``factory`` buildable as ``name``. A plug-in module that may be imported twice
        (listed twice, or imported by a script too) passes ``replace=True``.

        Raises:
            ValueError: ``name`` is not an identifier-like string, is taken (pass
                ``replace=True`` to replace a name registered earlier; a built-in name can
                never be replaced), or ``factory`` is not a subclass of :attr:`base`.
        """
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ValueError(f"{self.kind} name {name!r}: use letters, digits, '_' or '-'")
        if name in self.builtin or (name in self._own and not replace):
            raise ValueError(
                f"{self.kind} {name!r} is already registered; choose another name"
                + ("" if name in self.builtin else " or pass replace=True")
            )
        if self.base is not None and not (
            isinstance(factory, type) and issubclass(factory, self.base)
        ):
            raise ValueError(
                f"{self.kind} {name!r}: the factory must be a subclass of "
                f"{self.base.__module__}.{self.base.__qualname__}"
            )
        self._own[name] = factory

    def unregister(self, name: str) -> None:
        """Forget a component a user registered (a built-in one stays).

        Raises:
            ValueError: ``name`` is built in or not registered.
        """
        if name in self.builtin or name not in self._own:
            raise ValueError(f"{self.kind} {name!r} is not a user-registered {self.kind}")
        del self._own[name]

    def __getitem__(self, name: str) -> Callable[..., T]:
        load_plugins()
        return self._factories[name]

    def __iter__(self) -> Iterator[str]:
        load_plugins()
        return iter(self._factories)

    def __len__(self) -> int:
        load_plugins()
        return len(self._factories)

    def make(self, name: str, **options: object) -> T:
        """Build the component registered as ``name`` with keyword ``options``."""
        load_plugins()
        factory = self._factories.get(name)
        if factory is None:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of {sorted(self)}")
        try:
            return factory(**options)
        except TypeError as exc:
            raise ValueError(f"bad options for {self.kind} {name!r}: {exc}") from exc


__all__ = ["PLUGINS_VARIABLE", "PLUGIN_GROUP", "PluginError", "Registry", "load_plugins"]
