import pytest

from shared.errors import PermanentError, TransientError, is_transient


class ServiceUnavailable(Exception):  # noqa: N818 - mirrors google.api_core
    """Same class name as google.api_core.exceptions.ServiceUnavailable."""


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TransientError("x"), True),
        (PermanentError("bad"), False),
        (ConnectionError("reset"), True),
        (TimeoutError(), True),
        (ServiceUnavailable("503"), True),
        (RuntimeError("Could not serialize access to table t due to concurrent update"), True),
        (ValueError("nope"), False),
        (KeyError("k"), False),
    ],
)
def test_transient_classification(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected


def test_google_api_errors_are_classified() -> None:
    from google.api_core import exceptions

    assert is_transient(exceptions.ServiceUnavailable("down"))
    assert is_transient(exceptions.TooManyRequests("slow down"))
    assert not is_transient(exceptions.BadRequest("bad"))
    assert not is_transient(exceptions.NotFound("gone"))


def test_permanent_error_carries_reason_and_detail() -> None:
    err = PermanentError("invalid_json", "line 1")
    assert err.reason == "invalid_json"
    assert err.detail == "line 1"
    assert str(err) == "invalid_json: line 1"


def test_configuration_errors_share_the_root_and_stay_value_errors() -> None:
    from shared.errors import ConfigurationError, PipelineError
    from shared.resources import ManifestError
    from shared.settings import SettingsError

    for cls in (ConfigurationError, SettingsError, ManifestError):
        assert issubclass(cls, PipelineError)
        assert issubclass(cls, ValueError)  # callers that caught ValueError still do
        assert not is_transient(cls("bad"))


def test_structured_reasons_decide_before_class_names() -> None:
    from google.api_core import exceptions as gexc

    from shared.errors import is_transient

    limited = gexc.Forbidden("slow down", errors=[{"reason": "rateLimitExceeded"}])
    assert is_transient(limited)  # a 403 whose reason says retry
    invalid = gexc.InternalServerError("bad", errors=[{"reason": "invalid"}])
    assert not is_transient(invalid)  # a 500 whose reason says the input is wrong
    conflict = gexc.BadRequest(
        "Could not serialize access to table p.d.t due to concurrent update",
        errors=[{"reason": "invalidQuery"}],
    )
    assert is_transient(conflict)
