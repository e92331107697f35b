"""What the webhook receiver adds per request: verification p50 per sender scheme.

In process, no network: ``receiver.handle`` (header lower-casing, the scheme's parse and
constant-time HMAC check, attributes) with a publish that does nothing, on each scheme's sample
request signed as its provider signs it. Baselines, measured in the same run: the
``standardwebhooks`` package's ``Webhook.verify`` for Standard Webhooks, a bare HMAC-SHA256 of
the body for the others (the irreducible cost). Also the import cost (cold start) of our
scheme module vs the package, each in a fresh interpreter.
"""

from __future__ import annotations

import hashlib
import hmac
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import figure
from shared.resources import manifest
from shared.webhooks import receiver, samples, senders

ROUNDS = 3000
CASES = {
    "standard_webhooks": "meta_ads_campaign_daily",
    "stripe": "stripe_charge_succeeded",
    "github": "github_push",
    "shopify": "shopify_order_created",
}


def _no_publish(body: bytes, attributes: dict[str, str]) -> str:
    return "1"


def _p50_us(fn: Callable[[], Any]) -> float:
    for _ in range(200):
        fn()
    samples_us = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        samples_us.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples_us)


def _import_ms(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    return statistics.median(runs) * 1000


def run() -> list[dict[str, Any]]:
    fn = manifest().function("webhook-receiver")
    local = fn["local_env"]
    config = receiver.ReceiverConfig.from_entries(fn["webhook_sources"], local)
    routes = {e["source"]: e for e in fn["webhook_sources"]}
    figures: list[dict[str, Any]] = []
    for scheme, name in CASES.items():
        body, attrs = samples.load(name)
        source = attrs["source"]
        secret = local[routes[source]["secrets"][0]]
        now = int(time.time())
        headers = senders.signed_headers(scheme, secret, body, attrs, now=now)
        path = f"/{source}"

        def verify(
            body: bytes = body, headers: dict[str, str] = headers, path: str = path, now: int = now
        ) -> None:
            answer = receiver.handle(config, path, headers, body, _no_publish, now=now)
            assert answer.status == 202, answer.body

        value = _p50_us(verify)
        if scheme == "standard_webhooks":
            from standardwebhooks.webhooks import Webhook

            hook = Webhook(secret)

            def package(hook: Webhook = hook, body: bytes = body, headers: Any = headers) -> None:
                hook.verify(body, headers)

            baseline = _p50_us(package)
            label = "standardwebhooks package verify"
        else:
            key = secret.encode()

            def bare(key: bytes = key, body: bytes = body) -> None:
                hmac.new(key, body, hashlib.sha256).digest()

            baseline = _p50_us(bare)
            label = "bare HMAC-SHA256 of the body"
        figures.append(
            figure(
                f"webhook receiver: verify + route p50, {scheme} ({len(body)} B body; "
                f"baseline: {label})",
                value,
                "µs",
                baseline,
            )
        )
    ours, theirs = _import_ms("shared.webhooks.schemes"), _import_ms("standardwebhooks")
    figures.append(
        figure(
            "webhook receiver: import cost of shared.webhooks.schemes (baseline: standardwebhooks)",
            ours,
            "ms",
            theirs,
        )
    )
    return figures


if __name__ == "__main__":
    for row in run():
        print(row)
