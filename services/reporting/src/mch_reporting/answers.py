"""Roll-ups of recent answers, kept while the facts stay as they were: a province's year is
counted from hundreds of thousands of facts, then any unit's values in it (the province, each of
its communes, an export) are looked up in the roll-up instead of counted again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from .domain.indicators import RolledUp

Token = Hashable
"""What the facts were when a roll-up was made (see ``Facts.token``): a roll-up made from other
facts is not used."""


class RollUpCache:
    """The ``size`` roll-ups used last, by question (period, view, indicators)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._kept: OrderedDict[Hashable, tuple[Token, RolledUp]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, question: Hashable, token: Token) -> RolledUp | None:
        with self._lock:
            found = self._kept.get(question)
            if found is None or found[0] != token:
                return None
            self._kept.move_to_end(question)
            return found[1]

    def put(self, question: Hashable, token: Token, rolled: RolledUp) -> None:
        with self._lock:
            self._kept[question] = (token, rolled)
            self._kept.move_to_end(question)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
