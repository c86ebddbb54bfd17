"""A registry of named factories: one lookup and one error message for every component kind.

Used by :func:`market.make_mechanism` and :func:`market.make_estimator`; an unknown name or a
bad option is a ``ValueError`` naming the kind, the name and the valid choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, Callable[..., T]], Generic[T]):
    """A read-only mapping ``name -> factory`` that builds components by name.

    Args:
        kind: what the names denote, for error messages (``"mechanism"``, ``"method"``).
        factories: the factories by name.
    """

    def __init__(self, kind: str, factories: Mapping[str, Callable[..., T]]) -> None:
        self.kind = kind
        self._factories = MappingProxyType(dict(factories))

    def __getitem__(self, name: str) -> Callable[..., T]:
        return self._factories[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)

    def make(self, name: str, **options: object) -> T:
        """Build the component registered as ``name`` with keyword ``options``."""
        factory = self._factories.get(name)
        if factory is None:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of {sorted(self)}")
        try:
            return factory(**options)
        except TypeError as exc:
            raise ValueError(f"bad options for {self.kind} {name!r}: {exc}") from exc


__all__ = ["Registry"]
