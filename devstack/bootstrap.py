"""Create the resources of the manifest in the emulators (Terraform does the same in the cloud)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery, pubsub_v1, storage

from shared.resources import ACK_DEADLINE_S, Manifest


def create_topics(publisher: pubsub_v1.PublisherClient, project: str, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(api_exceptions.AlreadyExists):
            publisher.create_topic(name=f"projects/{project}/topics/{name}")


def create_subscriptions(
    subscriber: pubsub_v1.SubscriberClient,
    project: str,
    subscriptions: list[dict[str, Any]],
    push_endpoint: Callable[[dict[str, Any]], str | None],
) -> None:
    """Pull or push subscriptions with their dead-letter and retry policies."""
    for sub in subscriptions:
        request: dict[str, Any] = {
            "name": f"projects/{project}/subscriptions/{sub['name']}",
            "topic": f"projects/{project}/topics/{sub['topic']}",
            "ack_deadline_seconds": int(sub.get("ack_deadline_seconds", ACK_DEADLINE_S)),
        }
        endpoint = push_endpoint(sub)
        if endpoint:
            request["push_config"] = {"push_endpoint": endpoint}
        if sub.get("dead_letter_topic"):
            request["dead_letter_policy"] = {
                "dead_letter_topic": f"projects/{project}/topics/{sub['dead_letter_topic']}",
                "max_delivery_attempts": int(sub.get("max_delivery_attempts", 5)),
            }
        if sub.get("min_backoff_s") is not None:
            request["retry_policy"] = {
                "minimum_backoff": {"seconds": int(sub["min_backoff_s"])},
                "maximum_backoff": {"seconds": int(sub.get("max_backoff_s", 600))},
            }
        if sub.get("enable_message_ordering"):
            request["enable_message_ordering"] = True
        with contextlib.suppress(api_exceptions.AlreadyExists):
            subscriber.create_subscription(request=request)


def table_from_manifest(project: str, item: dict[str, Any], schema: list[dict[str, Any]]) -> Any:
    table = bigquery.Table(
        f"{project}.{item['dataset']}.{item['name']}",
        schema=[bigquery.SchemaField.from_api_repr(f) for f in schema],
    )
    partition = item.get("partition") or {}
    if partition:
        expiration = partition.get("expiration_days")
        table.time_partitioning = bigquery.TimePartitioning(
            type_=partition.get("type", "DAY"),
            field=partition.get("field"),
            expiration_ms=int(expiration) * 86_400_000 if expiration else None,
        )
    if item.get("clustering"):
        table.clustering_fields = list(item["clustering"])
    table.description = item.get("description")
    table.labels = dict(item.get("labels", {}))
    return table


def create_bigquery(client: bigquery.Client, project: str, manifest: Manifest) -> None:
    """Datasets, tables (schema, partitioning, clustering) and views, in declared order."""
    for ds in manifest["datasets"]:
        dataset = bigquery.Dataset(f"{project}.{ds['id']}")
        dataset.description = ds.get("description")
        client.create_dataset(dataset, exists_ok=True)
    for item in manifest["tables"]:
        table = table_from_manifest(project, item, manifest.table_schema(item["name"]))
        client.create_table(table, exists_ok=True)
    for view in manifest["views"]:
        sql = manifest.view_sql(view["name"], project)
        client.query(
            f"CREATE OR REPLACE VIEW `{project}.{view['dataset']}.{view['name']}` AS\n{sql}"
        ).result()


def create_buckets(client: storage.Client, project: str, manifest: Manifest) -> dict[str, str]:
    """The buckets of the manifest; returns key -> bucket name."""
    names = {}
    for item in manifest["buckets"]:
        name = manifest.bucket_name(item["key"], project)
        with contextlib.suppress(api_exceptions.Conflict):
            client.create_bucket(name)
        names[item["key"]] = name
    return names
