"""An ordered set of keys, each with a cost, that answers in O(log n): how many keys (and how much cost) come
before a key, and how many leading keys pass a test on the cost before them. The fair queue's places are counted
with it (`scheduler.py`): a job's place in its guild is its rank, and another guild's jobs ahead of it are those
whose cost before them, at that guild's share, starts earlier.

A treap (a binary search tree kept balanced by random heap priorities), each node carrying its subtree's size and
cost. Priorities come from a seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

Key = tuple[Any, ...]


class _Node:
    __slots__ = ("cost", "key", "left", "priority", "right", "size", "total")

    def __init__(self, key: Key, cost: float, priority: float) -> None:
        self.key, self.cost, self.priority = key, cost, priority
        self.left: _Node | None = None
        self.right: _Node | None = None
        self.size, self.total = 1, cost

    def update(self) -> None:
        left, right = self.left, self.right
        self.size = 1 + (left.size if left else 0) + (right.size if right else 0)
        self.total = self.cost + (left.total if left else 0.0) + (right.total if right else 0.0)


def _split(node: _Node | None, key: Key) -> tuple[_Node | None, _Node | None]:
    """(keys < key, keys >= key)."""
    if node is None:
        return None, None
    if node.key < key:
        node.right, right = _split(node.right, key)
        node.update()
        return node, right
    left, node.left = _split(node.left, key)
    node.update()
    return left, node


def _merge(left: _Node | None, right: _Node | None) -> _Node | None:
    """Every key of `left` is below every key of `right`."""
    if left is None:
        return right
    if right is None:
        return left
    if left.priority > right.priority:
        left.right = _merge(left.right, right)
        left.update()
        return left
    right.left = _merge(left, right.left)
    right.update()
    return right


class CostTree:
    def __init__(self, seed: int = 0) -> None:
        self._root: _Node | None = None
        self._random = random.Random(seed)

    def __len__(self) -> int:
        return self._root.size if self._root else 0

    @property
    def total(self) -> float:
        return self._root.total if self._root else 0.0

    def add(self, key: Key, cost: float) -> None:
        left, right = _split(self._root, key)
        self._root = _merge(_merge(left, _Node(key, cost, self._random.random())), right)

    def remove(self, key: Key) -> None:
        left, rest = _split(self._root, key)
        middle, right = _split(rest, (*key, 0)) if rest is not None else (None, None)  # (key,) < (key, 0)
        if middle is None or middle.key != key:
            raise KeyError(key)
        self._root = _merge(left, _merge(_merge(middle.left, middle.right), right))

    def before(self, key: Key) -> tuple[int, float]:
        """How many keys, and how much cost, are below `key`."""
        node, count, cost = self._root, 0, 0.0
        while node is not None:
            if node.key < key:
                count += 1 + (node.left.size if node.left else 0)
                cost += node.cost + (node.left.total if node.left else 0.0)
                node = node.right
            else:
                node = node.left
        return count, cost

    def leading(self, starts_before: Callable[[float], bool]) -> tuple[int, float]:
        """How many keys from the first, and their cost, pass `starts_before(the cost of the keys before it)`, a
        test that, once false, stays false for every larger cost."""
        node, count, cost = self._root, 0, 0.0
        while node is not None:
            ahead = cost + (node.left.total if node.left else 0.0)
            if starts_before(ahead):
                count += 1 + (node.left.size if node.left else 0)
                cost = ahead + node.cost
                node = node.right
            else:
                node = node.left
        return count, cost

    def __iter__(self) -> Iterator[tuple[Key, float]]:
        stack: list[_Node] = []
        node = self._root
        while stack or node is not None:
            while node is not None:
                stack.append(node)
                node = node.left
            node = stack.pop()
            yield node.key, node.cost
            node = node.right
