"""Memory stores against a plain dict model (Hypothesis stateful), under threads, on bad files."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from memory import (
    ConfigurationError,
    InMemoryStore,
    MemoryStore,
    MemoryStoreError,
    Scope,
    SQLiteStore,
    StoreFileError,
    tokens,
)

NAMESPACES = st.sampled_from(["agent:risk", "agent:legal", "workflow:w1"])
KEYS = st.sampled_from(["revenue", "lawsuits", "headcount", "churn", "notes"])
WORDS = st.sampled_from(["alpha", "beta", "Gamma", "delta", "risk", "2024", "é"])
VALUES = st.one_of(
    st.lists(WORDS, max_size=4).map(" ".join),
    st.integers(-100, 100),
    st.dictionaries(st.sampled_from(["a", "b"]), WORDS, max_size=2),
)


class StoreMachine(RuleBasedStateMachine):
    """Every store must behave as this dict: (namespace, key) -> (value, scope, order)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.tmp = tempfile.TemporaryDirectory()
        self.stores: list[MemoryStore] = [
            InMemoryStore(clock=lambda: self.now),
            SQLiteStore(Path(self.tmp.name) / "memory.db", clock=lambda: self.now),
        ]
        self.model: dict[tuple[str, str], tuple[object, Scope, float]] = {}
        self.order: list[tuple[str, str]] = []  # oldest write first

    def _write(self, key: tuple[str, str], value: object, scope: Scope) -> None:
        self.model[key] = (value, scope, self.now)
        if key in self.order:
            self.order.remove(key)
        self.order.append(key)

    def _forget(self, key: tuple[str, str]) -> None:
        self.model.pop(key, None)
        if key in self.order:
            self.order.remove(key)

    @rule(namespace=NAMESPACES, key=KEYS, value=VALUES, short=st.booleans())
    def put(self, namespace: str, key: str, value: object, short: bool) -> None:
        self.now += 1
        scope = Scope.SHORT_TERM if short else Scope.LONG_TERM
        for store in self.stores:
            store.put(namespace, key, value, scope=scope)  # type: ignore[arg-type]
        self._write((namespace, key), value, scope)

    @rule(namespace=NAMESPACES, key=KEYS)
    def delete(self, namespace: str, key: str) -> None:
        existed = (namespace, key) in self.model
        for store in self.stores:
            assert store.delete(namespace, key) == existed
        self._forget((namespace, key))

    @rule(namespace=NAMESPACES, key=KEYS)
    def get(self, namespace: str, key: str) -> None:
        expected = self.model.get((namespace, key))
        for store in self.stores:
            record = store.get(namespace, key)
            if expected is None:
                assert record is None
            else:
                assert record is not None
                assert (record.value, record.scope, record.updated_at) == expected

    @rule(namespace=NAMESPACES, query=st.lists(WORDS, min_size=1, max_size=2).map(" ".join))
    def search(self, namespace: str, query: str) -> None:
        wanted = set(tokens(query))
        newest_first = [k for k in reversed(self.order) if k[0] == namespace]
        expected = [
            k[1]
            for k in newest_first
            if wanted
            and wanted <= set(tokens(f"{k[1]} {json.dumps(self.model[k][0], ensure_ascii=False)}"))
        ][:3]
        for store in self.stores:
            assert [r.key for r in store.search(namespace, query, limit=3)] == expected

    @rule(namespace=NAMESPACES, query=st.lists(WORDS, min_size=1, max_size=3).map(" ".join))
    def recall(self, namespace: str, query: str) -> None:
        wanted = set(tokens(query))
        newest_first = [k for k in reversed(self.order) if k[0] == namespace]
        overlap = {
            k: len(
                wanted & set(tokens(f"{k[1]} {json.dumps(self.model[k][0], ensure_ascii=False)}"))
            )
            for k in newest_first
        }
        ranked = sorted((k for k in newest_first if overlap[k]), key=lambda k: -overlap[k])
        expected = [k[1] for k in ranked][:3]
        for store in self.stores:
            assert [r.key for r in store.search(namespace, query, 3, match="any")] == expected

    @rule(namespace=NAMESPACES)
    def discard(self, namespace: str) -> None:
        doomed = [
            k for k in self.model if k[0] == namespace and self.model[k][1] is Scope.SHORT_TERM
        ]
        for store in self.stores:
            assert store.discard(namespace) == len(doomed)
        for k in doomed:
            self._forget(k)

    @rule(max_records=st.none() | st.integers(0, 6), max_age=st.none() | st.floats(0, 10))
    def retain(self, max_records: int | None, max_age: float | None) -> None:
        long_term = [k for k in self.order if self.model[k][1] is Scope.LONG_TERM]
        doomed: set[tuple[str, str]] = set()
        if max_age is not None:
            doomed |= {k for k in long_term if self.model[k][2] < self.now - max_age}
        if max_records is not None:
            survivors = [k for k in long_term if k not in doomed]
            if len(survivors) > max_records:
                doomed |= set(survivors[: len(survivors) - max_records])
        for store in self.stores:
            assert store.retain(max_records=max_records, max_age=max_age) == len(doomed)
        for k in doomed:
            self._forget(k)

    @invariant()
    def records_match_the_model(self) -> None:
        for namespace in ("agent:risk", "agent:legal", "workflow:w1"):
            expected = [k[1] for k in reversed(self.order) if k[0] == namespace]
            for store in self.stores:
                assert [r.key for r in store.records(namespace)] == expected

    def teardown(self) -> None:
        for store in self.stores:
            store.close()
        self.tmp.cleanup()


StoreMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStores = StoreMachine.TestCase


def test_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = SQLiteStore(path)
    store.put("agent:risk", "score", {"value": 49})
    store.close()
    again = SQLiteStore(path)
    record = again.get("agent:risk", "score")
    assert record is not None and record.value == {"value": 49}
    again.close()


def test_eight_threads_lose_no_write(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                store.put(f"agent{n}", f"fact{i}", {"n": n, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(len(store.records(f"agent{n}")) for n in range(8)) == 1600
    assert store.get("agent7", "fact199") is not None
    store.close()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    path.write_bytes(b"this is not a database, it is a grocery list" * 100)
    with pytest.raises(StoreFileError, match=r"is not a usable SQLite database") as caught:
        SQLiteStore(path)
    assert caught.value.path == str(path)


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    db.close()
    with pytest.raises(
        StoreFileError,
        match=r"^Memory store '.*' holds tables of another program \(invoices\); "
        r"give the store its own file\.$",
    ):
        SQLiteStore(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreFileError, match=r"has schema version 99, newer than this code's 2"):
        SQLiteStore(path)


@pytest.mark.parametrize("make", [InMemoryStore, lambda: SQLiteStore(":memory:")])
def test_usage_mistakes_and_closed_stores(make: type[InMemoryStore]) -> None:
    store = make()
    with pytest.raises(ConfigurationError, match=r"^A memory namespace must not be empty"):
        store.put("", "k", 1)
    with pytest.raises(ConfigurationError, match=r"^A memory key in namespace 'a' must not be"):
        store.put("a", "", 1)
    with pytest.raises(ConfigurationError, match=r"^Retention max_records=-1"):
        store.retain(max_records=-1)
    store.close()
    with pytest.raises(MemoryStoreError, match=r"is closed"):
        store.get("a", "k")
