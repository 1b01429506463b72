"""A union-find (disjoint sets) over hashable items, with path halving."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class UnionFind(Generic[T]):
    """Disjoint sets over a fixed collection of items."""

    def __init__(self, items: Iterable[T]) -> None:
        """Start with each of ``items`` in a set of its own."""
        self._parent: dict[T, T] = {item: item for item in items}

    def find(self, item: T) -> T:
        """The root (representative) of the set holding ``item``."""
        parent = self._parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, item: T, other: T) -> None:
        """Join the set of ``item`` into the set of ``other`` (whose root stays the root)."""
        root = self.find(other)
        self._parent[self.find(item)] = root

    def groups(self) -> dict[T, list[T]]:
        """The members of each set by root, both in the order the items were given."""
        out: dict[T, list[T]] = {}
        for item in self._parent:
            out.setdefault(self.find(item), []).append(item)
        return out
