"""Quotas function: pipeline lifecycle events and scheduler sweeps from ``pipeline-events``."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.events import pubsub_message_from_event
from shared.handler import cloud_event_handler
from shared.quotas import lifecycle


@functions_framework.cloud_event
@cloud_event_handler("quotas")
def handle_pipeline_event(event: CloudEvent) -> None:
    message = pubsub_message_from_event(event)
    lifecycle.handle(message.json())
