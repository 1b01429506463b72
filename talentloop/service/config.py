"""The one settings object, in groups: every address and option, from the environment and `.env`.

Every variable is the field name upper-cased with the prefix ``TALENTLOOP_``, e.g.
``TALENTLOOP_KAFKA_PORT=9192``. Nothing else in the code base hard-codes an address.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.skills.onet import PACKAGED_ONET_DIR
from schemas.learning import EmployeeWorkflowInput, LearningPolicy, PolicySnapshot


class DevStackSettings(BaseModel):
    """The embedded dev stack: where its state lives and the loopback ports it binds."""

    state_dir: Path = Field(Path(".talentloop"), description="Dev-stack state: pids, logs, data.")
    host: str = Field("127.0.0.1", description="Loopback address the dev stack binds to.")
    temporal_port: int = Field(7233, description="Temporal frontend (gRPC) port.")
    temporal_ui_port: int = Field(8233, description="Temporal Web UI port.")
    kafka_port: int = Field(9092, description="Kafka-protocol broker port.")
    smtp_port: int = Field(1025, description="SMTP port (the sink in dev).")

    @cached_property
    def maildir(self) -> Path:
        """Where the dev SMTP sink stores every message."""
        return self.state_dir / "maildir"

    @cached_property
    def temporal_ui_url(self) -> str:
        """The Temporal Web UI address."""
        return f"http://{self.host}:{self.temporal_ui_port}"


class TemporalSettings(BaseModel):
    """Temporal: the frontend, the namespace, the task queue and how workers run workflows."""

    temporal_address: str | None = Field(None, description="host:port; default host:temporal_port.")
    temporal_namespace: str = "default"
    task_queue: str = "talentloop"
    worker_workflow_tasks: int = Field(
        16,
        ge=1,
        description="Workflow tasks one worker runs at once (each with its local activities).",
    )
    workflow_sandbox: bool = Field(
        False,
        description="Run workflows in Temporal's sandbox (determinism checks at run time; "
        "the tests always do).",
    )


class KafkaSettings(BaseModel):
    """Kafka: the cluster, the topics, the bridge's consumer group and its limits."""

    kafka_bootstrap: str | None = Field(None, description="Bootstrap servers; default host:port.")
    topic_reviews: str = "hr.reviews"
    topic_objectives: str = "strategy.objectives"
    topic_completions: str = "lms.completions"
    topic_employees: str = "hr.employees"
    topic_outbound: str = "talentloop.events"
    topic_dlq: str = "talentloop.dlq"
    topic_partitions: int = Field(4, ge=1, description="Partitions of each topic `setup` makes.")
    consumer_group: str = "talentloop-bridge"
    max_event_bytes: int = Field(256 * 1024, description="Larger events go to the DLQ.")
    event_past_days: float = Field(
        1827, gt=0, description="An event's dates may lie this long before its record's time."
    )
    event_future_days: float = Field(
        1, ge=0, description="An event's date-times may lie this long after its record's time."
    )
    event_planned_days: float = Field(
        3653, ge=0, description="A calendar date (a due date) may lie this long after it."
    )
    directory_cache_seconds: float = Field(
        60.0, gt=0, description="The bridge trusts an employee id it found for this long."
    )
    kafka_connect_timeout_ms: int = Field(30_000, description="Give up reaching the broker.")

    @cached_property
    def inbound_topics(self) -> list[str]:
        """The topics the bridge consumes."""
        return [
            self.topic_reviews,
            self.topic_objectives,
            self.topic_completions,
            self.topic_employees,
        ]


class MailSettings(BaseModel):
    """Mail: the SMTP relay and the sender."""

    smtp_host: str | None = Field(None, description="SMTP relay host; default host.")
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "talentloop <learning@talentloop.example>"


class LmsSettings(BaseModel):
    """The LMS: which adapter, the Moodle site, and how its calls are limited and polled."""

    lms_adapter: Literal["builtin", "moodle"] = Field("builtin", description="Which LMS.")
    moodle_url: str | None = Field(None, description="Moodle site URL (see docs/lms.md).")
    moodle_token: str | None = Field(None, description="Moodle web service token.")
    moodle_user_field: str = "idnumber"
    moodle_course_field: str = "idnumber"
    lms_task_queue: str = Field("talentloop-lms", description="Task queue of LMS calls.")
    lms_rate_limit: float | None = Field(None, description="LMS calls/s across all workers.")
    lms_max_concurrency: int = Field(8, description="LMS calls at once, per worker.")
    lms_poll_minutes: float = Field(5.0, description="Completion poll period (Schedule).")


class DataSettings(BaseModel):
    """The application database and the O*NET reference data."""

    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in state.")
    onet_dir: Path = Field(
        PACKAGED_ONET_DIR,
        description="O*NET text files (NAME.txt or NAME.txt.gz); default the O*NET 29.3 excerpt "
        "installed with the package. Point it at a newer release folder to use that.",
    )


class PlanPolicySettings(BaseModel):
    """The plan policy every employee workflow gets: due dates, approvals, reminders."""

    enrollment_due_days: int = Field(30, description="Due date after enrollment, no objective.")
    approval_hours_over: float | None = Field(16.0, description="More hours need approval.")
    approval_cost_over: float | None = Field(1000.0, description="More cost needs approval.")
    approval_sla_days: int = Field(5, description="Days before escalating, then the default.")
    approval_default: Literal["approve", "reject"] = "approve"
    reminder_days: list[int] = Field(default_factory=lambda: [7, 1])
    escalate_overdue: bool = True
    hr_approver_id: str | None = Field(
        None,
        description="Employee id of the HR approver for employees whose manager is not known "
        "yet (a bulk onboarding's manager may join later).",
    )

    def learning_policy(self) -> LearningPolicy:
        """The plan policy handed to each employee workflow."""
        return LearningPolicy(
            due_days=self.enrollment_due_days,
            approval_hours_over=self.approval_hours_over,
            approval_cost_over=self.approval_cost_over,
            approval_sla_days=self.approval_sla_days,
            approval_default=self.approval_default,
            reminder_days=list(self.reminder_days),
            escalate_overdue=self.escalate_overdue,
            hr_approver_id=self.hr_approver_id,
        )


class Settings(
    DevStackSettings,
    TemporalSettings,
    KafkaSettings,
    MailSettings,
    LmsSettings,
    DataSettings,
    PlanPolicySettings,
    BaseSettings,
):
    """Addresses, topic names and options for every talentloop process.

    The fields are grouped by what they configure (one class per group above); each is read
    from its own environment variable, ``TALENTLOOP_`` + the field name upper-cased.
    """

    model_config = SettingsConfigDict(
        env_prefix="TALENTLOOP_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        env_parse_none_str="null",
    )

    def to_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment variables that make a child process read exactly these settings."""
        env = dict(os.environ if base is None else base)
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                env[f"TALENTLOOP_{name.upper()}"] = "null"
            elif isinstance(value, bool):
                env[f"TALENTLOOP_{name.upper()}"] = str(value).lower()
            elif isinstance(value, list):
                env[f"TALENTLOOP_{name.upper()}"] = json.dumps(value)
            else:
                env[f"TALENTLOOP_{name.upper()}"] = str(value)
        return env

    @property
    def lms_calls_local(self) -> bool:
        """Whether the workflows call the LMS as local activities, not on the LMS task queue.

        The built-in LMS is the worker's own database, so without a rate limit nothing needs
        the LMS task queue's protection. A remote LMS (Moodle), or any LMS with a rate limit,
        is called on the LMS task queue so that its limits hold across all workers.
        """
        return self.lms_adapter == "builtin" and self.lms_rate_limit is None

    def policy_snapshot(self) -> PolicySnapshot:
        """The policy and LMS call mode running employee workflows read (`policy.current`)."""
        policy = self.learning_policy()
        mode = {"queue": self.lms_task_queue, "local": self.lms_calls_local}
        digest = hashlib.sha256(
            json.dumps([policy.model_dump(mode="json"), mode], sort_keys=True).encode()
        ).hexdigest()[:12]
        return PolicySnapshot(
            policy=policy,
            lms_task_queue=self.lms_task_queue,
            lms_local=self.lms_calls_local,
            version=digest,
        )

    def employee_workflow_input(self, employee_id: str) -> EmployeeWorkflowInput:
        """The start input of an employee's workflow, as the bridge hands it over."""
        return EmployeeWorkflowInput(
            employee_id=employee_id,
            policy=self.learning_policy(),
            lms_task_queue=self.lms_task_queue,
            lms_local=self.lms_calls_local,
        )

    @cached_property
    def temporal_target(self) -> str:
        """The Temporal frontend address the client dials."""
        return self.temporal_address or f"{self.host}:{self.temporal_port}"

    @cached_property
    def kafka_servers(self) -> str:
        """The Kafka bootstrap servers."""
        return self.kafka_bootstrap or f"{self.host}:{self.kafka_port}"

    @cached_property
    def smtp_server(self) -> str:
        """The SMTP host mail is sent through."""
        return self.smtp_host or self.host

    @cached_property
    def db_url(self) -> str:
        """The application database URL."""
        return self.database_url or f"sqlite:///{self.state_dir.resolve() / 'talentloop.db'}"
