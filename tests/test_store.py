"""The store's connections: a reader per thread that sees committed batches only, one writer.

Many threads read through the web app while another thread writes batches:
no reader may ever see a batch before its commit, or part of one.
"""
from __future__ import annotations

import tempfile
import threading
import time

import pytest
from leian.data.record import validate
from leian.web.accounts import Accounts
from leian.web.app import create_app, services

from leian.home import Home

BATCH = 20
BATCHES = 12
READERS = 6


def _case(n: int):
    return validate({
        "id": f"C{n:04d}", "text": f"楼上漏水导致楼下天花板受损（第{n}号）", "type": "邻里/漏水", "occurred_on": "2025-03-02",
        "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇"},
    })


def test_readers_through_the_web_app_see_only_committed_batches():
    home = Home.resolve(tempfile.mkdtemp(prefix="leian-store-threads-"))
    app = create_app(home, testing=True)
    with app.app_context():
        Accounts(services().store).add("ana", "analyst", "correct-horse-9")
        store = services().store
    clients = []
    for _ in range(READERS):
        client = app.test_client()
        assert client.post("/api/login", json={"username": "ana", "password": "correct-horse-9"}).status_code == 200
        assert client.get("/api/heat").get_json()["places"] == []  # warm: the first answer imports scipy
        clients.append(client)

    # Set just before each COMMIT: no reader may see more cases than this.
    most_visible = 0
    done = threading.Event()
    seen: list[list[int]] = [[] for _ in clients]
    errors: list[BaseException] = []

    def write() -> None:
        nonlocal most_visible
        try:
            for batch in range(BATCHES):
                with store.transaction():
                    for n in range(batch * BATCH, (batch + 1) * BATCH):
                        store.upsert_batch([_case(n)])
                        time.sleep(0.002)  # readers run while the batch is half written
                    assert store.count() == (batch + 1) * BATCH  # the writer reads its own uncommitted rows
                    most_visible = (batch + 1) * BATCH
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    def read(number: int) -> None:
        try:
            while not done.is_set():
                answer = clients[number].get("/api/heat?level=town&period=month")
                assert answer.status_code == 200, answer.get_json()
                total = sum(place["total"] for place in answer.get_json()["places"])
                assert total <= most_visible, f"saw {total} cases, only {most_visible} committed"
                seen[number].append(total)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read, args=(i,)) for i in range(READERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    for totals in seen:
        assert totals, "every reader got answers while the writer ran"
        assert all(total % BATCH == 0 for total in totals), f"a part of a batch was visible: {totals}"
        assert totals == sorted(totals), "a reader never goes back in time"
    assert len({t for totals in seen for t in totals}) > 2, "readers saw the store grow, batch by batch"
    with app.app_context():
        assert services().store.count() == BATCH * BATCHES


def test_each_thread_reads_through_its_own_connection_and_the_writer_inside_its_transaction(tmp_path):
    from leian.data.store import Store

    store = Store(tmp_path / "cases.sqlite")
    mine = store.conn
    assert store.conn is mine  # one reader per thread, kept
    other: list = []
    thread = threading.Thread(target=lambda: other.append(store.conn))
    thread.start()
    thread.join()
    assert other[0] is not mine
    with store.transaction() as writer:
        assert store.conn is writer and writer is not mine
    assert store.conn is mine
    with pytest.raises(Exception, match="readonly"):
        store.conn.execute("DELETE FROM cases")  # a reader never writes: writes belong in transaction()
    store.close()


def test_component_migrations_are_checked_once_per_open_store(tmp_path):
    from leian.data.store import Store

    store = Store(tmp_path / "cases.sqlite")
    statements: list[str] = []
    migrations = ["CREATE TABLE extra_things (id INTEGER PRIMARY KEY)"]
    store.migrate_component("extra", migrations)
    writer = store._writer
    writer.set_trace_callback(statements.append)
    for _ in range(3):
        store.migrate_component("extra", migrations)
    writer.set_trace_callback(None)
    assert statements == [], "a current component takes no write lock"
    store.close()
    reopened = Store(tmp_path / "cases.sqlite")
    reopened.migrate_component("extra", migrations)
    assert reopened.conn.execute("SELECT version FROM component_schema WHERE component = 'extra'").fetchone()[0] == 1
    reopened.close()
