"""The org-unit tree cache, with the database stood in for by lists of versions and thread events."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree, OrgTreeError
from mch_events.orgtree_cache import OrgTreeCache

WAIT = 30.0
"""How long a test waits for a thread before calling it stuck (never reached when it passes)."""


def unit(code: str, level: str, parent: str | None) -> OrgUnit:
    return OrgUnit(code=code, name=code, level=level, parent=parent, valid_from=dt.date(2020, 1, 1))


VALID = [unit("VN", "national", None), unit("38", "province", "VN")]
GROWN = [*VALID, unit("404", "district", "38")]
BROKEN = [unit("VN", "national", None), unit("404", "district", "38")]  # 38 is missing


class Table:
    """The stored versions, and how many times they were read."""

    def __init__(self, versions: list[OrgUnit]) -> None:
        self.versions = versions
        self.reads = 0

    def load(self, source: object) -> list[OrgUnit]:
        self.reads += 1
        return list(self.versions)


def codes(tree: OrgTree) -> set[str]:
    return {v.code for v in tree.versions()}


def run(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """``target`` on a thread of its own; what it returned or raised lands in the list."""
    outcome: list[object] = []

    def body() -> None:
        try:
            outcome.append(target())
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


def finish(thread: threading.Thread) -> None:
    thread.join(WAIT)
    assert not thread.is_alive(), "the reader is stuck"


def test_reads_once_until_forgotten() -> None:
    table = Table(VALID)
    cache: OrgTreeCache[object] = OrgTreeCache(table.load)
    first = cache.tree("session")
    assert cache.tree("session") is first
    assert table.reads == 1

    table.versions = GROWN
    assert cache.tree("session") is first  # nobody said the versions changed
    cache.forget()
    assert codes(cache.tree("session")) == {"VN", "38", "404"}
    assert table.reads == 2


def test_reads_through_its_own_source_when_given_none() -> None:
    table = Table(VALID)
    opened: list[str] = []

    @contextmanager
    def connect() -> Iterator[str]:
        opened.append("open")
        yield "own session"
        opened.append("closed")

    cache = OrgTreeCache(table.load, connect=connect)
    assert codes(cache.tree()) == {"VN", "38"}
    assert opened == ["open", "closed"]
    cache.tree("caller's session")
    cache.forget()
    cache.tree("caller's session")
    assert opened == ["open", "closed"]  # the caller's source is used when given


def test_needs_a_source_when_it_has_none_of_its_own() -> None:
    cache: OrgTreeCache[object] = OrgTreeCache(Table(VALID).load)
    with pytest.raises(TypeError):
        cache.tree()


def test_forgetting_during_a_load_wins() -> None:
    # The read began before the transaction that changes the versions committed, so it may have
    # seen the old ones: its reader gets them, but the cache does not keep them.
    cache: OrgTreeCache[object]
    table = Table(VALID)

    def load_then_commit(source: object) -> list[OrgUnit]:
        seen = table.load(source)
        table.versions = GROWN
        cache.forget()
        return seen

    cache = OrgTreeCache(load_then_commit)
    assert codes(cache.tree("session")) == {"VN", "38"}
    assert codes(cache.tree("session")) == {"VN", "38", "404"}
    assert table.reads == 2


def test_a_broken_tree_is_kept_as_its_error_until_forgotten() -> None:
    table = Table(BROKEN)
    cache: OrgTreeCache[object] = OrgTreeCache(table.load)
    with pytest.raises(OrgTreeError) as first:
        cache.tree("session")
    with pytest.raises(OrgTreeError) as second:
        cache.tree("session")
    assert second.value is first.value
    assert table.reads == 1
    assert any("38 does not exist" in p for p in first.value.problems)

    table.versions = VALID
    cache.forget()
    assert codes(cache.tree("session")) == {"VN", "38"}


def test_a_failed_read_is_not_kept() -> None:
    table = Table(VALID)
    failures = [ConnectionError("the database went away")]

    def flaky(source: object) -> list[OrgUnit]:
        if failures:
            raise failures.pop()
        return table.load(source)

    cache: OrgTreeCache[object] = OrgTreeCache(flaky)
    with pytest.raises(ConnectionError):
        cache.tree("session")
    assert codes(cache.tree("session")) == {"VN", "38"}


def test_a_reader_holding_the_database_never_waits_for_another_reader() -> None:
    # A reader without a session of its own waits for the database, which the consumer's
    # transaction holds; the consumer then asks for the tree through that transaction.
    table = Table(VALID)
    database = threading.Lock()
    waiting = threading.Event()

    @contextmanager
    def connect() -> Iterator[str]:
        waiting.set()
        with database:
            yield "own session"

    cache = OrgTreeCache(table.load, connect=connect)
    with database:
        reader, read = run(cache.tree)
        assert waiting.wait(WAIT)
        consumer, consumed = run(lambda: cache.tree("consumer's transaction"))
        finish(consumer)
        assert reader.is_alive()
    finish(reader)
    [tree] = consumed
    assert isinstance(tree, OrgTree)
    assert read == [tree]  # the first read to finish is the one kept and shared
    assert cache.tree("session") is tree
    assert table.reads == 2


def test_concurrent_readers_agree_on_one_tree() -> None:
    table = Table(GROWN)
    cache: OrgTreeCache[object] = OrgTreeCache(table.load)
    start = threading.Barrier(8)

    def reader() -> object:
        start.wait(WAIT)
        return cache.tree("session")

    started = [run(reader) for _ in range(8)]
    for thread, _ in started:
        finish(thread)
    trees = [outcome for _, [outcome] in started]
    assert all(isinstance(t, OrgTree) for t in trees)
    assert all(t is trees[0] for t in trees)
    assert 1 <= table.reads <= 8
    assert cache.tree("session") is trees[0]
