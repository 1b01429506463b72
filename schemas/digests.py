"""Inputs and outputs of the monitoring digests (workflows/digests.py, activities/digests.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

DigestKind = Literal["manager", "hr"]
"""``manager``: weekly, to each manager about their team; ``hr``: daily, to HR ops."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DigestInput(_Model):
    """One digest run (what a Schedule starts); a run continued as new goes on after `after`.

    Attributes:
        kind: Which digest.
        period: The period it covers (``2026-W49`` or ``2026-12-02``); None: the one the run's
            start falls in.
        as_of: The instant the figures are taken at; None: the run's start.
        after: The last recipient already handled (recipients go in id order).
        sent: Digests sent so far by this run.
        skipped: Recipients skipped so far (nothing to report, no address, sent already).
    """

    kind: DigestKind
    period: str | None = None
    as_of: datetime | None = None
    after: str = ""
    sent: int = 0
    skipped: int = 0


class RecipientPage(_Model):
    """Ask for the next recipients of a digest, in id order after `after`."""

    kind: DigestKind
    after: str = ""
    limit: int = 200


class DigestSend(_Model):
    """Send one recipient's digest for one period (once: the outbox key names both)."""

    kind: DigestKind
    recipient_id: str
    period: str
    as_of: datetime


class DigestSent(_Model):
    """What sending one digest did: ``sent``, ``duplicate``, ``empty`` or ``no-address``."""

    recipient_id: str
    outcome: Literal["sent", "duplicate", "empty", "no-address"]


class DigestReport(_Model):
    """What a digest run did."""

    kind: DigestKind
    period: str
    sent: int
    skipped: int
