"""Uploads function: every Cloud Storage object generation becomes a ``media_files`` row.

Trigger: ``google.cloud.storage.object.v1.finalized`` and ``.deleted`` on the uploads bucket.
The logic lives in :mod:`shared.uploads` (shipped with the function's archive).
"""

import functions_framework
from cloudevents.http import CloudEvent

from shared.handler import cloud_event_handler
from shared.settings import area_settings
from shared.uploads.handler import handle
from shared.uploads.settings import UploadsSettings

area_settings(UploadsSettings)  # validate at start: a malformed variable fails the cold start


@functions_framework.cloud_event
@cloud_event_handler("uploads")
def on_object_event(event: CloudEvent) -> None:
    handle(event)
