"""The catalog from the LMS: what a remote LMS (Moodle) offers, written into the app database.

`talentloop lms sync` and the Schedule ``lms-catalog-sync`` (created by `talentloop setup`)
read the LMS's courses with everything the planner needs (hours, cost, prerequisites, skills
with levels) and upsert them into ``courses`` (``source_lms``, ``external_id``); a course
the LMS no longer offers, or that was only seeded, is marked ``offered = false`` and
planning leaves it out. Courses that cannot be mapped are reported, not guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.errors import LmsCode
from activities.lms.activities import as_application_error
from activities.lms.moodle import CatalogSync
from activities.lms.port import LmsError
from activities.store.tables import CourseRow


@runtime_checkable
class CatalogSource(Protocol):
    """An LMS whose catalog is synced into the app database (Moodle)."""

    @property
    def name(self) -> str:
        """The LMS's name."""
        ...

    def sync_catalog(self) -> CatalogSync:
        """The LMS's courses as the planner needs them, and those it cannot map."""
        ...


class SyncRequest(BaseModel):
    """One catalog sync."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = False
    """Report what would change, write nothing."""
    activity_task_queue: str | None = None
    """Task queue of the LMS activities; None: the workflow's."""


class SyncReport(BaseModel):
    """What a catalog sync found and changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_lms: str
    added: list[str]
    updated: list[str]
    withdrawn: list[str]
    """Courses no longer offered (planning leaves them out)."""
    unmapped: list[tuple[str, str]]
    """(LMS course, reason) of each course left out."""
    skills_from: dict[str, int]
    """How many courses took their skills from each source."""


def write_catalog(
    sessions: sessionmaker[Session], sync: CatalogSync, source_lms: str, *, dry_run: bool = False
) -> SyncReport:
    """Upsert the synced courses; mark every other course as not offered.

    Raises:
        LmsError: "invalid_request" when the LMS offers no usable course (the catalog is
            left as it was rather than emptied).
    """
    if not sync.courses:
        raise LmsError.of(
            LmsCode.INVALID_REQUEST,
            f"{source_lms} offers no course talentloop can map ({len(sync.unmapped)} unmapped): "
            "catalog left as it was",
        )
    now = datetime.now(UTC)
    added: list[str] = []
    updated: list[str] = []
    withdrawn: list[str] = []
    skills_from: dict[str, int] = {}
    with sessions() as s:
        seen = set()
        for c in sync.courses:
            seen.add(c.course_id)
            skills_from[c.skills_from] = skills_from.get(c.skills_from, 0) + 1
            values = {
                "title": c.title,
                "hours": c.hours,
                "cost": c.cost,
                "teaches": [
                    {"skill_id": sk, "from_level": lo, "to_level": hi} for sk, lo, hi in c.teaches
                ],
                "prerequisites": list(c.prerequisites),
                "source_lms": source_lms,
                "external_id": c.external_id,
                "offered": True,
                "synced_at": now,
            }
            row = s.get(CourseRow, c.course_id)
            if row is None:
                added.append(c.course_id)
                if not dry_run:
                    s.add(CourseRow(id=c.course_id, **values))
                continue
            current = {k: getattr(row, k) for k in values if k != "synced_at"}
            if current != {k: v for k, v in values.items() if k != "synced_at"}:
                updated.append(c.course_id)
            if not dry_run:
                for k, v in values.items():
                    setattr(row, k, v)
        for row in s.scalars(select(CourseRow).where(CourseRow.offered)):
            if row.id not in seen:
                withdrawn.append(row.id)
                if not dry_run:
                    row.offered = False
        if not dry_run:
            s.commit()
    return SyncReport(
        source_lms=source_lms,
        added=sorted(added),
        updated=sorted(updated),
        withdrawn=sorted(withdrawn),
        unmapped=sorted(sync.unmapped),
        skills_from=skills_from,
    )


class CatalogSyncActivities:
    """The catalog sync's side: read the LMS, write the app database."""

    def __init__(self, lms: object, sessions: sessionmaker[Session]) -> None:
        """Build over the LMS adapter and the app database."""
        self._lms = lms
        self._sessions = sessions

    @activity.defn(name="lms.sync_catalog")
    def sync(self, req: SyncRequest) -> SyncReport:
        """Sync the catalog from the LMS (a built-in LMS's catalog is the database itself)."""
        if not isinstance(self._lms, CatalogSource):
            name = str(getattr(self._lms, "name", "builtin"))
            return SyncReport(
                source_lms=name, added=[], updated=[], withdrawn=[], unmapped=[], skills_from={}
            )
        try:
            return write_catalog(
                self._sessions, self._lms.sync_catalog(), self._lms.name, dry_run=req.dry_run
            )
        except LmsError as err:
            raise as_application_error(err) from None
