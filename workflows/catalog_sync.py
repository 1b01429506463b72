"""CatalogSyncWorkflow: one sync of the course catalog from the LMS, run by a Temporal Schedule."""

from __future__ import annotations

from temporalio import workflow

from workflows.calls import call_remote

with workflow.unsafe.imports_passed_through():
    from activities.lms.catalog_sync import CatalogSyncActivities, SyncReport, SyncRequest

CATALOG_SYNC_SCHEDULE_ID = "lms-catalog-sync"
"""The Schedule's id (one per deployment using a remote LMS)."""


@workflow.defn(name="CatalogSyncWorkflow")
class CatalogSyncWorkflow:
    """Sync the catalog from the LMS once (courses, skills, hours) into the app database."""

    @workflow.run
    async def run(self, req: SyncRequest) -> SyncReport:
        """Sync, on the LMS task queue."""
        return await call_remote(
            CatalogSyncActivities.sync, req, "poll", task_queue=req.activity_task_queue
        )
