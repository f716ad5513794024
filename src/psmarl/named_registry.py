"""A named registry (items by name), shared by the environment and method registries."""

from __future__ import annotations

from typing import Generic, TypeVar

from psmarl.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Items by name. ``get`` of an unknown name raises a ConfigError naming the config key."""

    def __init__(self, kind: str, config_key: str):
        self.kind = kind
        self.config_key = config_key
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def names(self) -> list[str]:
        return sorted(self._items)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}",
                key=self.config_key,
            ) from None
