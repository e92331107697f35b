"""Google clients, created on first use and reused for the life of the instance.

Each accessor imports its library lazily so a function only pays the import cost of the
clients it actually calls. Locally, the emulator hosts from :mod:`shared.settings` route the
unmodified official clients to the emulators.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shared.imports import BIGQUERY_IMPORTS
from shared.once import OncePerKey
from shared.settings import get_settings

if TYPE_CHECKING:
    from google.cloud import bigquery as bq
    from google.cloud import firestore as fs
    from google.cloud import pubsub_v1
    from google.cloud import storage as gcs
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient
    from google.cloud.firestore_v1.services.firestore import FirestoreClient as FirestoreApi
    from google.pubsub_v1.services.publisher import PublisherClient as PromptPublisher

_instances: OncePerKey[str, Any] = OncePerKey()


def _once[T](name: str, factory: Callable[[], T]) -> T:
    instance: T = _instances.get(name, factory)
    return instance


def reset() -> None:
    """Forget every client (tests; after a fork)."""
    _instances.clear()


def _anonymous() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def _project_client[T](client_class: Callable[..., T], emulator_host: str | None) -> T:
    """``client_class(project=...)``; with anonymous credentials when an emulator serves it
    (the library reads the emulator's host from the environment itself)."""
    project = get_settings().project_id
    if emulator_host:
        return client_class(project=project, credentials=_anonymous())
    return client_class(project=project)


def _gapic_client[T](
    client_class: Callable[..., T],
    transport_class: Callable[..., Any],
    emulator_host: str | None,
    options: Sequence[tuple[str, Any]] = (),
) -> T:
    """A GAPIC client: on an insecure channel to the emulator when ``emulator_host`` is set
    (GAPIC clients do not read the *_EMULATOR_HOST variables themselves), else Google's
    endpoint with the default credentials."""
    if not emulator_host:
        return client_class()
    import grpc

    target = emulator_host.split("://", 1)[-1]
    channel = grpc.insecure_channel(target, options=list(options))
    return client_class(transport=transport_class(channel=channel))


def bigquery() -> bq.Client:
    """The BigQuery client (emulator endpoint when BIGQUERY_EMULATOR_HOST is set)."""

    def make() -> bq.Client:
        with BIGQUERY_IMPORTS:
            from google.cloud import bigquery as bq_mod

        settings = get_settings()
        host = settings.bigquery_emulator_host
        if host:
            from google.api_core.client_options import ClientOptions

            endpoint = host if host.startswith("http") else f"http://{host}"
            return bq_mod.Client(
                project=settings.project_id,
                credentials=_anonymous(),
                client_options=ClientOptions(api_endpoint=endpoint),
                location=settings.bigquery_location,
            )
        return bq_mod.Client(project=settings.project_id, location=settings.bigquery_location)

    return _once("bigquery", make)


def bigquery_write() -> BigQueryWriteClient:
    """The BigQuery Storage Write API client (gRPC; the local BigQuery's gRPC port when
    BIGQUERY_WRITE_EMULATOR_HOST is set). Imports no ``google.cloud.bigquery``."""

    def make() -> BigQueryWriteClient:
        with BIGQUERY_IMPORTS:
            from google.cloud.bigquery_storage_v1 import BigQueryWriteClient as Client
            from google.cloud.bigquery_storage_v1.services.big_query_write import transports

        # Reconnect quickly after a local outage (gRPC's default backoff grows to 120 s), and
        # no transparent retries: against a refused port they keep the stream's open waiting
        # until the port is back, instead of failing it (measured here).
        options = [
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
            ("grpc.enable_retries", 0),
        ]
        return _gapic_client(
            Client,
            transports.BigQueryWriteGrpcTransport,
            get_settings().bigquery_write_emulator_host,
            options,
        )

    return _once("bigquery_write", make)


def storage() -> gcs.Client:
    """The Cloud Storage client (STORAGE_EMULATOR_HOST is honoured by the library itself)."""

    def make() -> gcs.Client:
        from google.cloud import storage as gcs_mod

        return _project_client(gcs_mod.Client, get_settings().storage_emulator_host)

    return _once("storage", make)


def publisher() -> pubsub_v1.PublisherClient:
    """The Pub/Sub publisher (PUBSUB_EMULATOR_HOST is honoured by the library itself)."""

    def make() -> pubsub_v1.PublisherClient:
        from google.cloud import pubsub_v1 as ps

        return ps.PublisherClient()

    return _once("publisher", make)


def prompt_publisher() -> PromptPublisher:
    """The Pub/Sub GAPIC publisher: one ``Publish`` call per use, sent at once, for the rare
    message a caller waits for (quota alerts). The shared :func:`publisher` holds a message up
    to its batch's ``max_latency`` (10 ms) and commits each batch from a thread of its own;
    on the 64-caller admission bench that machinery cost ~8 ms of p95 (docs/quotas.md, run 8)."""

    def make() -> PromptPublisher:
        from google.pubsub_v1.services.publisher import PublisherClient
        from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

        host = get_settings().pubsub_emulator_host
        return _gapic_client(PublisherClient, PublisherGrpcTransport, host)

    return _once("prompt_publisher", make)


def firestore() -> fs.Client:
    """The Firestore client (FIRESTORE_EMULATOR_HOST is honoured by the library itself)."""

    def make() -> fs.Client:
        from google.cloud import firestore as fs_mod

        return _project_client(fs_mod.Client, get_settings().firestore_emulator_host)

    return _once("firestore", make)


def firestore_api() -> FirestoreApi:
    """The Firestore GAPIC client, for the commits the quotas build as raw protobuf
    (:mod:`shared.quotas.wire`); same endpoint and project as :func:`firestore`."""

    def make() -> FirestoreApi:
        from google.cloud.firestore_v1.services.firestore import FirestoreClient
        from google.cloud.firestore_v1.services.firestore.transports import (
            FirestoreGrpcTransport,
        )

        host = get_settings().firestore_emulator_host
        return _gapic_client(FirestoreClient, FirestoreGrpcTransport, host)

    return _once("firestore_api", make)


def firestore_commit() -> tuple[Callable[..., Any], list[tuple[str, str]]]:
    """Firestore's Commit as the bare gRPC method on :func:`firestore_api`'s own channel (its
    endpoint and credentials), taking and returning raw protobuf, and the metadata the GAPIC
    method would send (:func:`firestore_metadata`, its routing header, its client header),
    computed once. The GAPIC method's wrappers (retry, timeout, error remapping, a logging
    interceptor) cost a quarter of the caller's CPU per commit (187 vs 250 us measured here),
    on the quotas' hot path; :func:`shared.quotas.store.commit_writes` does their work."""

    def make() -> tuple[Callable[..., Any], list[tuple[str, str]]]:
        from google.api_core.gapic_v1 import client_info, routing_header
        from google.cloud.firestore_v1.types import firestore as api

        transport: Any = firestore_api().transport  # the gRPC transport: it has a channel
        method = transport.grpc_channel.unary_unary(
            "/google.firestore.v1.Firestore/Commit",
            request_serializer=api.CommitRequest.pb().SerializeToString,
            response_deserializer=api.CommitResponse.pb().FromString,
        )
        metadata = [
            *firestore_metadata(),
            routing_header.to_grpc_metadata((("database", firestore_database()),)),
            client_info.ClientInfo().to_grpc_metadata(),
        ]
        return method, metadata

    return _once("firestore_commit", make)


def firestore_database() -> str:
    """The one Firestore database (terraform/firestore.tf declares ``(default)``)."""
    return f"projects/{get_settings().project_id}/databases/(default)"


def firestore_metadata() -> list[tuple[str, str]]:
    """What the high-level client sends with each call: the database's resource prefix, and
    on the emulator the owner's bearer (security rules do not apply to server clients)."""
    metadata = [("google-cloud-resource-prefix", firestore_database())]
    if get_settings().firestore_emulator_host:
        metadata.append(("authorization", "Bearer owner"))
    return metadata


def topic_path(topic: str) -> str:
    return f"projects/{get_settings().project_id}/topics/{topic}"
