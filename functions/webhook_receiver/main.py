"""Webhook receiver: signed HTTP POST -> ``webhook-events`` topic, body unchanged.

Logic lives in :mod:`shared.webhooks.receiver`; this module only adapts Flask.
"""

from typing import Any

import functions_framework

from shared import http_body, log
from shared.settings import area_settings, get_settings
from shared.webhooks import receiver, replay_guard
from shared.webhooks.settings import ReceiverSettings

area_settings(ReceiverSettings)  # validate at start: a malformed variable fails the cold start

_config: receiver.ReceiverConfig | None = None


def _get_config() -> receiver.ReceiverConfig:
    global _config  # noqa: PLW0603 - read the environment once per instance
    if _config is None:
        _config = receiver.ReceiverConfig.from_env()
    return _config


@functions_framework.http
def receive(request: Any) -> tuple[str, int]:
    settings = get_settings()
    log.configure(settings.project_id, settings.log_level)
    config = _get_config()
    early = receiver.precheck(config, request.method, request.path, request.content_length)
    if early is not None:
        return early.body, early.status
    try:  # before the signature is checked: an oversize body is refused unread (413)
        body = http_body.read_body(request, config.max_body_bytes)
    except http_body.BodyTooLarge:
        return "body too large", 413
    answer = receiver.handle(
        config,
        request.path,
        dict(request.headers),
        body,
        receiver.pubsub_publish,
        guard=replay_guard.default_guard(),
    )
    return answer.body, answer.status
