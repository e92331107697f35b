"""The copy-paste sender examples of docs/webhooks.md land what they say (typed rows)."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devstack.stack import LocalStack

pytestmark = pytest.mark.stack
REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "webhooks.md"


def sender_block() -> str:
    text = DOC.read_text()
    section = text[text.index("### Copy-paste: one signed request per sender") :]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "no bash block in the copy-paste section"
    return match.group(1)


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("jq", "openssl", "curl", "base64", "od")),
    reason="the documented example needs jq, openssl, curl, base64 and od",
)
def test_documented_sender_examples_land_typed_rows(stack: LocalStack) -> None:
    block = sender_block()
    url_line = next(line for line in block.splitlines() if line.startswith("URL="))
    n = str(random.randint(10_000_000, 99_999_999))
    script = block.replace(url_line, f"URL={stack.function_url('webhook-receiver')}").replace(
        "N=$RANDOM", f"N={n}"
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    statuses = [line.rsplit(" ", 1)[-1] for line in done.stdout.splitlines() if line.strip()]
    assert statuses == ["202"] * 4, done.stdout
    ids = [f"evt_readme_{n}", f"readme-{n}", f"msg_readme_{n}"]

    def landed() -> list[dict[str, object]] | None:
        rows = stack.query(
            "SELECT source, event_key, mapping_status "
            "FROM `demo-local.warehouse.integration_raw_data` "
            "WHERE provider_event_id IN UNNEST(@ids)",
            {"ids": ids},
        )
        return rows if len({r["source"] for r in rows}) == 4 else None

    rows = stack.wait_until(landed, timeout=90, what="the four documented webhooks in raw")
    assert {r["mapping_status"] for r in rows} == {"mapped"}
    typed = stack.query(
        "SELECT event_key FROM `demo-local.warehouse.platform_events` "
        "WHERE event_key IN UNNEST(@keys) UNION ALL "
        "SELECT event_key FROM `demo-local.warehouse.campaign_metrics` "
        "WHERE event_key IN UNNEST(@keys)",
        {"keys": [str(r["event_key"]) for r in rows]},
    )
    assert {t["event_key"] for t in typed} == {r["event_key"] for r in rows}


def test_readme_carries_the_same_examples() -> None:
    readme = (REPO / "README.md").read_text()
    assert sender_block() in readme
