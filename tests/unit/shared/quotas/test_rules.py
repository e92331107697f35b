"""Pure rules of the quotas area: plans, thresholds, validation, malformed input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import PermanentError
from shared.quotas import admission, alerts, http_api, lifecycle, plans
from shared.quotas.validation import InvalidInputError


def test_plans_as_data() -> None:
    assert [
        (p.name, p.team_members, p.providers, p.daily_pipelines, p.concurrent)
        for p in plans.PLANS.values()
    ] == [("STARTER", 2, 3, 6, 3), ("PROFESSIONAL", 6, 6, 25, 3), ("SCALE", 11, 10, 100, 3)]
    assert all(p.monthly_api_calls > 0 for p in plans.PLANS.values())
    assert plans.TRIAL_DAYS == 14
    assert plans.plan("starter").name == "STARTER"
    with pytest.raises(ValueError, match="unknown plan"):
        plans.plan("GOLD")


@pytest.mark.parametrize(
    ("used", "limit", "expected"),
    [
        (0, 6, []),
        (4, 6, []),
        (5, 6, ["warning"]),
        (6, 6, ["warning", "exceeded"]),
        (4, 5, ["warning"]),
        (7, 6, ["warning", "exceeded"]),
        (3, 0, []),
    ],
)
def test_thresholds(used: int, limit: int, expected: list[str]) -> None:
    found = alerts.thresholds("c", "STARTER", "daily_pipelines", used, limit, "2026-01-01")
    assert [a.threshold for a in found] == expected


def test_alert_id_is_deterministic_per_customer_period_metric_threshold() -> None:
    a = alerts.Alert("c", "STARTER", "daily_pipelines", 5, 6, 83.3, "warning", "2026-01-01")
    b = alerts.Alert("c", "STARTER", "daily_pipelines", 6, 6, 100.0, "warning", "2026-01-01")
    c = alerts.Alert("c", "STARTER", "daily_pipelines", 5, 6, 83.3, "warning", "2026-01-02")
    assert a.alert_id == b.alert_id != c.alert_id
    assert set(a.to_json()) == {
        "alert_id",
        "customer",
        "plan",
        "metric",
        "used",
        "limit",
        "percent",
        "threshold",
        "period",
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda: admission.start("", "p", "r"),
        lambda: admission.start("c", "p", "r", lease_seconds=0),
        lambda: admission.start("c", "p", "r", lease_seconds=True),
        lambda: admission.start("c", "bad pipeline", "r"),
        lambda: admission.finish("r", "DONE", customer_id="c"),
        lambda: admission.finish("r", "COMPLETED", customer_id=""),
        lambda: admission.heartbeat("c", "r" * 129),
        lambda: admission.heartbeat("c/../d", "r"),
        lambda: admission.start("c", "p", "run-1\n"),  # re.match with "$" took it (HTTP 200)
        lambda: admission.finish("r\n", "COMPLETED", customer_id="c"),
    ],
)
def test_invalid_arguments_raise_before_any_io(call: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        call()
    assert info.value.reason == "invalid_input"


def test_problems_are_all_reported_at_once() -> None:
    with pytest.raises(InvalidInputError) as info:
        admission.start("", "", "", lease_seconds=-1)
    assert len(info.value.problems) == 4


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.text(),
        st.lists(st.integers()),
        st.dictionaries(st.text(), st.one_of(st.none(), st.integers(), st.text())),
    )
)
def test_malformed_events_are_permanent_errors(body: Any) -> None:
    if isinstance(body, dict) and body.get("type") in lifecycle.TYPES:
        body = {**body, "run_id": None}
        if body.get("type") == "sweep":
            body["sweep"] = None
    with pytest.raises(PermanentError):
        lifecycle.handle(body)


def test_http_api_refuses_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_api, "get_settings", _FakeSettings)
    assert http_api.dispatch("POST", "/runs/start", {}, {})[1] == 401
    assert http_api.dispatch("POST", "/runs/start", {"X-API-Key": "nope"}, {})[1] == 401
    assert http_api.dispatch("GET", "/runs/start", {}, {})[1] == 405


class _FakeSettings:
    project_id = "demo-local"
    log_level = "INFO"
