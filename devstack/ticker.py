"""Local Cloud Scheduler: publishes each schedule's message on its cron expression.

The schedules (cron, time zone, topic, data, attributes) come from the resource manifest that
Terraform turns into ``google_cloud_scheduler_job`` resources, so local ticks and production
ticks carry the same bodies to the same topics.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from google.cloud import pubsub_v1

from shared.resources import manifest


def message_of(schedule: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The exact bytes and attributes Cloud Scheduler publishes for ``schedule``."""
    data = json.dumps(schedule.get("data", {}), sort_keys=True, separators=(",", ":")).encode()
    attributes = {str(k): str(v) for k, v in schedule.get("attributes", {}).items()}
    attributes.setdefault("schedule", schedule["name"])
    return data, attributes


def publish(publisher: pubsub_v1.PublisherClient, project: str, schedule: dict[str, Any]) -> str:
    data, attributes = message_of(schedule)
    topic = f"projects/{project}/topics/{schedule['topic']}"
    future = publisher.publish(topic, data, **attributes)  # type: ignore[arg-type]
    message_id: str = future.result(timeout=30)
    return message_id


def next_fire(schedule: dict[str, Any], now: datetime) -> datetime:
    zone = ZoneInfo(schedule.get("time_zone", "UTC"))
    fire: datetime = croniter(schedule["cron"], now.astimezone(zone)).get_next(datetime)
    return fire


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", required=True)
    args = parser.parse_args()
    publisher = pubsub_v1.PublisherClient()
    schedules = manifest()["schedules"]
    now = datetime.now(ZoneInfo("UTC"))
    upcoming = {s["name"]: next_fire(s, now) for s in schedules}
    print(f"ticker: {len(schedules)} schedules", flush=True)
    while upcoming:
        name, when = min(upcoming.items(), key=lambda item: item[1])
        time.sleep(max(0.0, (when - datetime.now(ZoneInfo("UTC"))).total_seconds()))
        schedule = manifest().schedule(name)
        message_id = publish(publisher, args.project, schedule)
        print(f"ticker: {name} -> {schedule['topic']} ({message_id})", flush=True)
        upcoming[name] = next_fire(schedule, datetime.now(ZoneInfo("UTC")))


if __name__ == "__main__":
    main()
