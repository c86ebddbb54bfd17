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

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Generic, TypeVar

T = TypeVar("T")

PLUGINS_VARIABLE = "FEDMARKET_PLUGINS"
"""The environment variable naming plug-in modules or ``.py`` files (``os.pathsep``-separated)."""
PLUGIN_GROUP = "fedmarket.plugins"
"""The entry-point group an installed package registers its plug-in module under."""

_loaded: set[str] = set()
_loading = False
_entry_points_read = False


class PluginError(ValueError):
    """A plug-in named in the environment could not be imported (one line, with the fix)."""


def load_plugins() -> list[str]:
    """Import every plug-in not imported yet (``FEDMARKET_PLUGINS``, then the
    ``fedmarket.plugins`` entry points); returns what it imported. Called before a registry
    is read, so a worker process finds the same components as its parent.

    Raises:
        PluginError: a plug-in failed to import (the message names it and the variable).
    """
    global _loading, _entry_points_read
    if _loading:
        return []
    _loading = True
    done: list[str] = []
    try:
        names = [n for n in os.environ.get(PLUGINS_VARIABLE, "").split(os.pathsep) if n.strip()]
        for name in names:
            if name not in _loaded:
                _loaded.add(name)
                _import_plugin(name.strip())
                done.append(name)
        points = [] if _entry_points_read else list(entry_points(group=PLUGIN_GROUP))
        _entry_points_read = True
        for point in points:
            key = f"entry point {point.name}"
            if key not in _loaded:
                _loaded.add(key)
                try:
                    point.load()
                except Exception as error:  # a broken plug-in: one line, not a traceback
                    raise PluginError(f"{PLUGIN_GROUP}: {point.value!r} failed: {error}") from error
                done.append(key)
    finally:
        _loading = False
    return done


def _import_plugin(name: str) -> None:
    """Import the module ``name`` (``pkg.module``) or the file ``name`` (``path/x.py``)."""
    try:
        if name.endswith(".py"):
            path = Path(name).expanduser().resolve()
            module_name = f"fedmarket_plugin_{path.stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None or not path.is_file():
                raise FileNotFoundError(f"no such file {str(path)!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(name)
    except Exception as error:  # a broken plug-in: one line naming it and the fix
        raise PluginError(
            f"{PLUGINS_VARIABLE}: could not load {name!r} ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); fix it or remove it from "
            f"{PLUGINS_VARIABLE}"
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
        """Make ``factory`` buildable as ``name``.

        Raises:
            ValueError: ``name`` is not an identifier-like string, is taken (pass
                ``replace=True`` to replace a name registered earlier; a built-in name can
                never be replaced), or ``factory`` is not a subclass of :attr:`base`.
        """
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
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
