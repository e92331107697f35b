import threading
from collections.abc import Mapping
from typing import Any

import pytest

from bench.insertall_writer import BatchingWriter, RowsRejectedError, TableWriter
from shared.errors import TransientError


class FakeInsert:
    """Our own insert boundary: records calls, fails on demand, and refuses a request with a
    row whose "v" is "bad" as insertAll does without skipInvalidRows (the bad row named
    ``invalid``, every other row ``stopped``, nothing written)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail_next = False
        self.lock = threading.Lock()

    def __call__(self, table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
        with self.lock:
            self.calls.append(list(row_ids))
            if self.fail_next:
                self.fail_next = False
                raise ConnectionError("insert failed")
            assert all(set(row) == {"v"} for row in rows)  # the key went as insertId only
        if not any(row.get("v") == "bad" for row in rows):
            return []
        invalid = {"reason": "invalid", "message": "bad value", "location": "v"}
        stopped = {"reason": "stopped", "message": ""}
        return [
            {"index": i, "errors": [invalid if row.get("v") == "bad" else stopped]}
            for i, row in enumerate(rows)
        ]


def test_table_writer_surfaces_row_errors() -> None:
    insert = FakeInsert()
    writer = TableWriter("p.d.t", insert)
    writer.write([("a", {"v": 1})])
    with pytest.raises(RowsRejectedError, match="row c: invalid: bad value \\(v\\)"):
        writer.write([("b", {"v": 2}), ("c", {"v": "bad"})])
    # the request was refused whole: the valid row is sent again, alone, and lands
    assert insert.calls == [["a"], ["b", "c"], ["b"]]


def _run_concurrently(
    writer: BatchingWriter, batches: list[list[tuple[str, dict[str, Any]]]]
) -> dict[int, BaseException | None]:
    results: dict[int, BaseException | None] = {}
    barrier = threading.Barrier(len(batches))

    def worker(n: int) -> None:
        barrier.wait()
        try:
            writer.write(batches[n])
            results[n] = None
        except BaseException as exc:
            results[n] = exc

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_concurrent_callers_share_batches() -> None:
    insert = FakeInsert()
    writer = BatchingWriter("p.d.t", insert, max_rows=1000, max_wait_s=0.2)
    batches = [[(f"r{n}", {"v": n})] for n in range(20)]
    results = _run_concurrently(writer, batches)
    assert all(r is None for r in results.values()) and len(results) == 20
    written = sorted(i for call in insert.calls for i in call)
    assert written == sorted(f"r{n}" for n in range(20))
    assert len(insert.calls) < 20  # shared calls, not one per caller
    assert writer.stats.rows == 20


def test_batch_size_is_bounded() -> None:
    insert = FakeInsert()
    writer = BatchingWriter("p.d.t", insert, max_rows=5, max_wait_s=0.2)
    results = _run_concurrently(writer, [[(f"r{n}", {"v": n})] for n in range(12)])
    assert all(r is None for r in results.values())
    assert max(len(c) for c in insert.calls) <= 5
    assert sum(len(c) for c in insert.calls) == 12


def test_invalid_row_fails_only_its_caller() -> None:
    insert = FakeInsert()
    writer = BatchingWriter("p.d.t", insert, max_rows=100, max_wait_s=0.2)
    batches = [[(f"r{n}", {"v": "bad" if n == 3 else n})] for n in range(6)]
    results = _run_concurrently(writer, batches)
    assert isinstance(results[3], RowsRejectedError)
    assert all(results[n] is None for n in range(6) if n != 3)
    landed = [i for call in insert.calls if "r3" not in call for i in call]  # requests w/o it
    assert sorted(landed) == [f"r{n}" for n in range(6) if n != 3]


def test_failed_batch_fails_exactly_its_callers() -> None:
    insert = FakeInsert()
    insert.fail_next = True
    writer = BatchingWriter("p.d.t", insert, max_rows=100, max_wait_s=0.0)
    with pytest.raises(TransientError):  # classified, and not retried inside the writer
        writer.write([("a", {"v": 1})])
    writer.write([("b", {"v": 2})])  # the next batch is unaffected
    assert insert.calls == [["a"], ["b"]]
    assert writer.stats.batches_failed == 1


def test_empty_write_is_a_no_op() -> None:
    insert = FakeInsert()
    BatchingWriter("p.d.t", insert).write([])
    TableWriter("p.d.t", insert).write([])
    assert insert.calls == []
