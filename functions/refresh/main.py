"""Refresh orchestrator: one Pub/Sub message (Cloud Scheduler, API, continuation) = one run
invocation. Logic lives in shared.refresh."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.events import pubsub_message_from_event
from shared.handler import cloud_event_handler
from shared.refresh.settings import RefreshSettings
from shared.settings import area_settings

area_settings(RefreshSettings)  # validate at start: a malformed variable fails the cold start


@functions_framework.cloud_event
@cloud_event_handler("refresh")
def refresh(event: CloudEvent) -> None:
    from shared.refresh import orchestrate, request

    message = pubsub_message_from_event(event)
    run_request = request.parse(
        message.json(),
        default_run_type="scheduled",
        default_run_id=request.run_id_for_message(message.message_id),
    )
    orchestrate.handle(run_request)
