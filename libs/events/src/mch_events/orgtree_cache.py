"""The org-unit tree of one service, built once from the versions it stores and kept until they change.

Every service keeps its own copy of the versions (its own table, its own way of storing them) and
hands this cache a loader that reads them through a session or connection. Two rules make it safe
beside a database:

- The versions are read without holding the cache's lock. A thread that holds the database (a
  consumer's write transaction; on SQLite, the only writer) may ask for the tree; were the lock held
  while another thread waits for that database, the two would wait for each other. So readers that
  find nothing cached each read for themselves, and the first to finish keeps its tree.
- Whoever changes the versions calls ``forget`` once the transaction that changed them has committed.
  Each ``forget`` starts a new generation, and a tree read under an earlier one is returned to its
  reader but never kept: a read that began before the commit may have seen the old versions.

A set of versions that does not form a tree is kept too, as its ``OrgTreeError``: every reader gets
the same error, without a read each, until the versions change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from .contracts.records import OrgUnit
from .orgtree import OrgTree, OrgTreeError

Source = TypeVar("Source")
"""What the versions are read through: a session or a connection."""


class OrgTreeCache(Generic[Source]):
    """The tree built from ``load(source)``; ``connect`` opens one for readers that bring none."""

    def __init__(
        self,
        load: Callable[[Source], Iterable[OrgUnit]],
        *,
        connect: Callable[[], AbstractContextManager[Source]] | None = None,
    ) -> None:
        self._load = load
        self._connect = connect
        self._tree: OrgTree | OrgTreeError | None = None
        self._generation = 0
        self._lock = threading.Lock()

    def tree(self, source: Source | None = None) -> OrgTree:
        """The tree, read through ``source`` when nothing is cached (given one: on SQLite another
        connection would wait for the write lock that the caller's transaction holds). Raises
        ``OrgTreeError`` while the versions do not form a tree."""
        with self._lock:
            found, generation = self._tree, self._generation
        if found is None:
            built = self._build(source)
            with self._lock:
                if generation == self._generation:
                    if self._tree is None:
                        self._tree = built
                    # Readers of one generation share one tree and the roll-up paths it caches.
                    built = self._tree
            found = built
        if isinstance(found, OrgTreeError):
            raise found
        return found

    def forget(self) -> None:
        """Drop the cached tree: call once the transaction that changed the versions has committed
        (a reader in between would otherwise keep the tree of the versions before it)."""
        with self._lock:
            self._tree = None
            self._generation += 1

    def _build(self, source: Source | None) -> OrgTree | OrgTreeError:
        try:
            if source is not None:
                return OrgTree(self._load(source))
            if self._connect is None:
                raise TypeError("this cache has no source of its own: pass one to tree()")
            with self._connect() as own:
                return OrgTree(self._load(own))
        except OrgTreeError as error:
            return error
