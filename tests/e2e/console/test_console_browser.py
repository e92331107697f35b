"""The console in a real headless browser (Debian's chromium): after demo data exists, the
numbers the page shows match BigQuery; a screenshot is saved to .local/console.png."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
import requests

from devstack.console import data
from devstack.console.serve import start_console
from devstack.stack import REPO, LocalStack
from tests.e2e.cli.helpers import plumb, plumb_json

pytestmark = pytest.mark.stack
SCREENSHOT = REPO / ".local" / "console.png"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium missing in CI: `make test-setup` installs the Debian package")
    pytest.skip("chromium is not installed and this is not CI (apt-get install chromium)")


def browse(url: str, *extra: str) -> str:
    with tempfile.TemporaryDirectory(prefix="console-chromium-") as profile:
        done = subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Dom(HTMLParser):
    """Every element's attributes plus the text inside it (enough for data-* lookups)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, **{k: v or "" for k, v in attrs}, "text": ""}
        self.elements.append(element)
        if tag not in ("meta", "br", "img", "input", "line", "rect", "path", "link"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                break

    def handle_data(self, text: str) -> None:
        for element in self._open:
            element["text"] += text

    def having(self, attribute: str) -> list[dict[str, Any]]:
        return [e for e in self.elements if attribute in e]


def parse(html: str) -> Dom:
    dom = Dom()
    dom.feed(html)
    return dom


@pytest.fixture(scope="module")
def demo(stack: LocalStack) -> Iterator[dict[str, Any]]:
    """Demo data through the real triggers and the CLI: customers with admissions, a
    refresh run, a dead letter."""
    from shared.refresh import seed

    tag = uuid.uuid4().hex[:6]
    customers = {f"console-a-{tag}": 2, f"console-b-{tag}": 5}
    for cid, runs in customers.items():
        plumb("customers", "create", cid, "--plan", "STARTER")
        for i in range(runs):
            finish = ("--finish", "COMPLETED") if i < runs - 1 else ()
            plumb("quotas", "admit", cid, "--pipeline", "sync", "--run-id", f"{cid}-{i}", *finish)
    seed.load(stack.bigquery(), stack.project, datetime.now(UTC).date(), days=2)
    run = plumb_json(
        "refresh", "trigger", "--table", "platform_events_daily", "--wait", "--timeout", "240"
    )
    assert run["ok"], run
    stack.publish("webhook-events", b"{not json", source=f"console-{tag}")
    stack.wait_until(
        lambda: stack.query(
            f"SELECT COUNT(*) AS n FROM `{stack.project}.ops.dead_letters_current` "
            "WHERE JSON_VALUE(attributes, '$.source') = @s",
            {"s": f"console-{tag}"},
        )[0]["n"],
        timeout=60,
        what="the dead letter",
    )
    yield {"customers": customers, "run_id": run["run_id"]}


def _counts(stack: LocalStack) -> dict[str, int]:
    """COUNT(*) of every manifest table and view, in one statement."""
    sql = " UNION ALL ".join(
        f"SELECT '{d}.{n}' AS object, COUNT(*) AS n FROM `{stack.project}.{d}.{n}`"
        for _, d, n in data.objects()
    )
    return {r["object"]: int(r["n"]) for r in stack.query(sql)}


def _letters(stack: LocalStack) -> dict[tuple[str, str], int]:
    rows = stack.query(
        f"SELECT function, reason, COUNT(*) AS n FROM `{stack.project}.ops.dead_letters_current` "
        "GROUP BY function, reason"
    )
    return {(r["function"], r["reason"]): int(r["n"]) for r in rows}


def test_console_numbers_match_bigquery_in_a_headless_browser(
    stack: LocalStack, demo: dict[str, Any]
) -> None:
    url = stack.extra_endpoints.get("console") or start_console(stack)
    assert url.startswith("http://127.0.0.1:")
    assert requests.get(f"{url}/healthz", timeout=10).text == "ok"
    counts_before, letters_before = _counts(stack), _letters(stack)
    dom = parse(browse(url, "--dump-dom", "--virtual-time-budget=5000"))
    counts_after, letters_after = _counts(stack), _letters(stack)

    # rows per table and view: every manifest object, each number as BigQuery counts it
    shown = {e["data-object"]: e for e in dom.having("data-object")}
    assert set(shown) == set(counts_before)
    cells = {
        e["data-object"]: int(c["data-rows"])
        for e, c in zip(dom.having("data-object"), dom.having("data-rows"), strict=True)
    }
    for name, value in cells.items():
        low, high = sorted((counts_before[name], counts_after[name]))
        assert low <= value <= high, (name, value, counts_before[name], counts_after[name])
    assert cells["customers.customer_profiles"] >= len(demo["customers"])

    # dead letters by reason
    counted = {
        (e["data-function"], e["data-reason"]): int(n["data-letters"])
        for e, n in zip(dom.having("data-reason"), dom.having("data-letters"), strict=True)
    }
    assert set(counted) == set(letters_before) | set(letters_after)
    for key, value in counted.items():
        low, high = sorted((letters_before.get(key, 0), letters_after.get(key, 0)))
        assert low <= value <= high, (key, value)

    # quota bars: every customer; limits from BigQuery, today's runs and leases from admission
    from shared.quotas import admission

    bars = {e["data-customer"]: e for e in dom.having("data-customer")}
    limits = {
        r["customer_id"]: r["daily_pipeline_limit"]
        for r in stack.query(
            f"SELECT customer_id, daily_pipeline_limit "
            f"FROM `{stack.project}.customers.customer_subscriptions` WHERE status = 'ACTIVE'"
        )
    }
    profiles = stack.query(f"SELECT customer_id FROM `{stack.project}.customers.customer_profiles`")
    assert set(bars) == {r["customer_id"] for r in profiles}
    for cid, runs in demo["customers"].items():
        bar, live = bars[cid], admission.usage(cid)
        assert int(bar["data-used"]) == runs == live["admitted"]
        assert int(bar["data-limit"]) == limits[cid] == 6
        assert int(bar["data-running"]) == len(live["leases"]) == 1  # the last run is open
        assert f"{runs} / 6 runs today" in " ".join(bar["text"].split())

    # the refresh graph: every definition a node, edges = dependencies, the run's table green
    from shared.refresh import definitions

    deps = definitions.dependencies(definitions.load())
    nodes = {e["data-table"]: e["data-status"] for e in dom.having("data-status")}
    assert set(nodes) == set(deps)
    assert nodes["platform_events_daily"] == "success"
    edges = {(e["data-from"], e["data-to"]) for e in dom.having("data-from")}
    assert edges == {(d, n) for n, ds in deps.items() for d in ds}
    # auto-refresh, the project, the Pub/Sub topology
    assert any(e.get("http-equiv") == "refresh" for e in dom.elements)
    assert {"webhook-events", "refresh-requests"} <= {
        e["data-topic"] for e in dom.having("data-topic")
    }

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    browse(url, f"--screenshot={SCREENSHOT}", "--window-size=1400,2400")
    assert SCREENSHOT.exists() and SCREENSHOT.stat().st_size > 10_000
