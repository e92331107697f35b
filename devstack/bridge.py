"""Storage notification -> Eventarc CloudEvent bridge.

fake-gcs-server publishes object notifications (Pub/Sub, JSON_API_V1) to one topic; a push
subscription delivers them here. The bridge turns each into the binary-mode CloudEvent that
Eventarc sends (``google.cloud.storage.object.v1.finalized``/``.deleted``/``.metadataUpdated``,
data = the object resource) and POSTs it to every function routed to that bucket and type.
Built with the cloudevents SDK (``CloudEvent`` + ``to_binary``).
A non-2xx answer from a function is passed back, so Pub/Sub redelivers as Eventarc retries.

Run: ``python -m devstack.bridge --port P --routes routes.json`` where routes.json is
``[{"bucket": "...", "event_type": "google.cloud.storage.object.v1.finalized", "url": "..."}]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shared.events import STORAGE_DELETED, STORAGE_FINALIZED, STORAGE_METADATA_UPDATED

EVENT_TYPES = {
    "OBJECT_FINALIZE": STORAGE_FINALIZED,
    "OBJECT_DELETE": STORAGE_DELETED,
    "OBJECT_METADATA_UPDATE": STORAGE_METADATA_UPDATED,
    "OBJECT_ARCHIVE": "google.cloud.storage.object.v1.archived",
}


def storage_cloud_event(push_body: dict[str, Any]) -> CloudEvent:
    """The Eventarc Storage CloudEvent for one wrapped push body of a GCS notification."""
    message = push_body["message"]
    attributes = message.get("attributes") or {}
    bucket = attributes["bucketId"]
    name = attributes.get("objectId", "")
    ce_attributes = {
        "id": str(message.get("messageId") or message.get("message_id")),
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "type": EVENT_TYPES[attributes["eventType"]],
        # header values must be ASCII: percent-encode like a URL path (the data keeps the name)
        "subject": "objects/" + urllib.parse.quote(name, safe="/"),
        "datacontenttype": "application/json",
    }
    when = attributes.get("eventTime") or message.get("publishTime")
    if when:
        ce_attributes["time"] = when
    # data = the JSON API object resource, passed on byte for byte
    return CloudEvent(ce_attributes, base64.b64decode(message.get("data") or ""))


def cloud_event_request(push_body: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
    """(bucket, ce type, headers, body) of the binary-mode request Eventarc would send."""
    event = storage_cloud_event(push_body)
    headers, body = to_binary(event)
    bucket = push_body["message"]["attributes"]["bucketId"]
    return bucket, str(event["type"]), dict(headers), bytes(body or b"")


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[list[dict[str, str]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        print(f"bridge: {format % args}", flush=True)

    def do_GET(self) -> None:
        self._reply(200, b"ok")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            bucket, ce_type, headers, body = cloud_event_request(
                json.loads(self.rfile.read(length))
            )
        except (KeyError, ValueError, TypeError) as exc:
            print(f"bridge: dropping unreadable notification: {exc}", flush=True)
            self._reply(204, b"")
            return
        status = 204
        for route in self.routes:
            if route["bucket"] != bucket or route["event_type"] != ce_type:
                continue
            # the routes file only holds the stack's own http://127.0.0.1 function URLs
            request = urllib.request.Request(route["url"], body, headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
                    code = int(response.status)
            except urllib.error.HTTPError as exc:
                code = exc.code
            except OSError:
                code = 503
            if not 200 <= code < 300:
                status = 502
        self._reply(status, b"")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", required=True)
    args = parser.parse_args()
    with open(args.routes) as f:
        _Handler.routes = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
