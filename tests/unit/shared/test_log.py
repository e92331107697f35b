import json
import logging

from shared import log


def _format(record_msg: str, **extra: object) -> dict[str, object]:
    formatter = log.CloudLoggingFormatter("demo-local")
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, record_msg, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    parsed: dict[str, object] = json.loads(formatter.format(record))
    return parsed


def test_json_line_has_severity_message_labels_and_trace() -> None:
    with log.context("4bf92f3577b34da6a3ce929d0e0e4736", function="uploads", event_id="e1"):
        entry = _format("hello", fields={"reason": "x"})
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "hello"
    assert entry["reason"] == "x"
    assert entry["logging.googleapis.com/labels"] == {"function": "uploads", "event_id": "e1"}
    assert (
        entry["logging.googleapis.com/trace"]
        == "projects/demo-local/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    )


def test_context_is_restored_after_exit() -> None:
    with log.context(None, function="a"):
        pass
    entry = _format("x")
    assert "logging.googleapis.com/labels" not in entry


def test_trace_from_w3c_and_cloud_headers() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert log.trace_id_from_headers({"Traceparent": tp}) == "4bf92f3577b34da6a3ce929d0e0e4736"
    cloud = "105445AA7843BC8BF206B12000100000/1;o=1"
    assert log.trace_id_from_headers({"X-Cloud-Trace-Context": cloud}) == (
        "105445aa7843bc8bf206b12000100000"
    )
    assert log.trace_id_from_headers({"traceparent": "garbage"}) is None
    assert log.trace_id_from_headers({}) is None
