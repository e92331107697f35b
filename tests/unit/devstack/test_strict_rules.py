"""The strict BigQuery layer's rules without HTTP: SQL checks and per-table state."""

from __future__ import annotations

import threading
import time

import pytest

from devstack.strict_rules import BigQueryError, StrictConfig, TableGate, analyse, statement_key


def refused(sql: str, **kwargs: object) -> BigQueryError:
    with pytest.raises(BigQueryError) as info:
        analyse(sql, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_mutating_statements_name_their_target() -> None:
    st = analyse("UPDATE d.t SET n = n + 1 WHERE id = @id", bound=frozenset({"id"}))
    assert st.kind == "Update"
    assert st.mutated == ("d.t",)
    merge = analyse(
        "MERGE `p.d.t` T USING (SELECT 1 AS id) S ON T.id = S.id "
        "WHEN MATCHED THEN UPDATE SET n = 1 WHEN NOT MATCHED THEN INSERT (id) VALUES (S.id)"
    )
    assert merge.mutated == ("d.t",)
    assert analyse("DELETE FROM t WHERE true", default_dataset="d").mutated == ("d.t",)


def test_reads_and_inserts_mutate_nothing() -> None:
    st = analyse(
        "WITH x AS (SELECT * FROM d.a) SELECT it.qty FROM x, UNNEST(items) AS it "
        "WHERE id IN UNNEST(@ids)",
        bound=frozenset({"ids"}),
    )
    assert st.mutated == ()
    assert st.tables == ("d.a",)
    assert analyse("INSERT INTO d.t (id) VALUES ('a')").mutated == ()


def test_text_that_is_no_statement_is_a_syntax_error() -> None:
    error = refused("SELEC nonsense")
    assert (error.reason, error.status) == ("invalidQuery", 400)
    assert error.message.startswith("Syntax error")
    assert refused("SELECT (1").message.startswith("Syntax error")


def test_update_and_delete_need_a_where_clause() -> None:
    assert "DELETE must have a WHERE clause" in refused("DELETE FROM d.t").message
    assert "UPDATE must have a WHERE clause" in refused("UPDATE d.t SET n = 1").message


def test_tables_must_be_qualified_with_a_dataset() -> None:
    error = refused("SELECT * FROM t")
    assert error.reason == "invalid"
    assert 'Table "t" must be qualified with a dataset' in error.message


def test_every_parameter_must_be_bound() -> None:
    assert "Query parameter 'x' not found" in refused("SELECT @x").message
    assert analyse("SELECT @X", bound=frozenset({"x"})).kind == "Select"


def test_error_body_has_bigquerys_shape() -> None:
    body = BigQueryError("rateLimitExceeded", "too many", 403).body()["error"]
    assert body["code"] == 403
    assert body["errors"][0]["reason"] == "rateLimitExceeded"
    assert body["status"] == "PERMISSION_DENIED"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_streaming_buffer_refuses_dml_until_the_window_passes() -> None:
    clock = Clock()
    gate = TableGate(StrictConfig(buffer_s=60), clock=clock)
    gate.check_buffer("d.t")  # nothing streamed yet
    gate.streamed("d.t", 3)
    with pytest.raises(BigQueryError) as info:
        gate.check_buffer("D.T", "p")
    assert "over table p:D.T would affect rows in the streaming buffer" in info.value.message
    clock.now += 61
    gate.check_buffer("d.t")
    assert gate.snapshot()["streaming_buffer_refusals"] == 1


def test_overlapping_mutation_aborts_and_a_retry_recovers() -> None:
    gate = TableGate(StrictConfig())
    gate.enter(("d.t",), "a")
    with pytest.raises(BigQueryError) as info:
        gate.enter(("d.t",), "b", "p")
    assert info.value.message == (
        "Could not serialize access to table p:d.t due to concurrent update"
    )
    gate.enter(("d.other",), "c")  # other tables are independent
    gate.leave(("d.t",), "a", ok=True)
    assert gate.lost() == 1
    gate.enter(("d.t",), "b")
    gate.leave(("d.t",), "b", ok=True)
    snap = gate.snapshot()
    assert (snap["conflicts_overlap"], snap["retried"], snap["recovered"], snap["lost"]) == (
        1,
        1,
        1,
        0,
    )


def test_forced_and_random_conflicts() -> None:
    gate = TableGate(StrictConfig(force_conflicts={"d.t": 2}))
    for _ in range(2):
        with pytest.raises(BigQueryError):
            gate.enter(("d.t",), "k")
    gate.enter(("d.t",), "k")
    gate.leave(("d.t",), "k", ok=True)
    assert gate.snapshot()["conflicts_forced"] == 2
    rate = TableGate(StrictConfig(conflict_rate=0.5, seed=7))
    aborted = 0
    for i in range(200):
        try:
            rate.enter(("d.t",), str(i))
            rate.leave(("d.t",), str(i), ok=True)
        except BigQueryError:
            aborted += 1
    assert 60 < aborted < 140
    assert rate.snapshot()["conflicts_random"] == aborted


def test_two_run_twenty_queue_then_rate_limit() -> None:
    gate = TableGate(StrictConfig(overlap_conflicts=False, max_running=2, max_queued=20))
    gate.enter(("d.t",), "1")
    gate.enter(("d.t",), "2")
    started: list[str] = []

    def queued(i: int) -> None:
        gate.enter(("d.t",), f"q{i}")
        started.append(str(i))

    waiting = [threading.Thread(target=queued, args=(i,)) for i in range(20)]
    for thread in waiting:
        thread.start()
    deadline = time.monotonic() + 10
    while gate._queued.get("d.t", 0) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate._queued["d.t"] == 20
    with pytest.raises(BigQueryError) as info:
        gate.enter(("d.t",), "too-many")
    assert (info.value.reason, info.value.status) == ("rateLimitExceeded", 403)
    assert "limit is 20" in info.value.message
    assert started == []
    for _ in range(22):  # each leave lets one queued statement run
        gate.leave(("d.t",), "x", ok=True)
        time.sleep(0.01)
    for thread in waiting:
        thread.join(5)
    assert len(started) == 20


def test_statement_key_covers_parameters() -> None:
    assert statement_key("UPDATE", [1]) == statement_key("UPDATE", [1])
    assert statement_key("UPDATE", [1]) != statement_key("UPDATE", [2])


def test_config_rejects_unknown_settings() -> None:
    config = StrictConfig()
    config.update({"buffer_s": 5})
    assert config.buffer_s == 5
    with pytest.raises(ValueError, match="unknown"):
        config.update({"nope": 1})
