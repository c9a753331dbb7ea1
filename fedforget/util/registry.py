"""One registry per role (unlearners, combiners, attacks, ...).

Each method registers itself in its own file with a decorator::

    @register_unlearner("oeu")
    class EntropyUnlearner(Unlearner): ...

An unknown name raises a :class:`RegistryError` that lists the known names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from fedforget.util.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> component, filled by decorators in the components' own modules."""

    def __init__(self, role: str, package: str | None = None) -> None:
        self.role = role
        self._package = package  # imported lazily so that every method file registers
        self._items: dict[str, T] = {}
        self._loaded = package is None

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise RegistryError(f"{self.role} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def _load(self) -> None:
        if not self._loaded:
            pkg = importlib.import_module(self._package)  # type: ignore[arg-type]
            for mod in getattr(pkg, "__all_modules__", ()):
                importlib.import_module(f"{self._package}.{mod}")
            self._loaded = True

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise RegistryError(
                f"unknown {self.role} {name!r}; known {self.role}s: {known}"
            ) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
