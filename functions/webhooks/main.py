"""Webhook ingest: Pub/Sub push (``webhook-events``) -> raw lake + typed tables.

Logic lives in :mod:`shared.webhooks`; this module only wires the trigger.
"""

import functions_framework
from cloudevents.http import CloudEvent

from shared.events import pubsub_message_from_event
from shared.handler import cloud_event_handler
from shared.settings import area_settings
from shared.webhooks.ingest import ingest as ingest_message
from shared.webhooks.settings import SinkSettings
from shared.webhooks.sink import default_sink

area_settings(SinkSettings)  # validate at start: a malformed variable fails the cold start


@functions_framework.cloud_event
@cloud_event_handler("webhooks")
def ingest(event: CloudEvent) -> None:
    ingest_message(pubsub_message_from_event(event), default_sink())
