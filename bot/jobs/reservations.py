"""Jobs being made: a member's request between its admission check and `JobEngine.accept`. Counting them lets
simultaneous requests not all pass the same check (the check and the reservation happen in one step)."""

from __future__ import annotations


class Reservations:
    def __init__(self) -> None:
        self._by_member: dict[int, int] = {}

    def add(self, user_id: int) -> None:
        self._by_member[user_id] = self._by_member.get(user_id, 0) + 1

    def remove(self, user_id: int) -> None:
        left = self._by_member.get(user_id, 0) - 1
        if left > 0:
            self._by_member[user_id] = left
        else:
            self._by_member.pop(user_id, None)

    def of(self, user_id: int) -> int:
        return self._by_member.get(user_id, 0)

    def total(self) -> int:
        return sum(self._by_member.values())
