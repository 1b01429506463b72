"""The catalog from Moodle: competencies > custom field/tags > mapping file, levels from course
custom fields, unmapped courses listed, courses Moodle does not offer left out of planning."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dbs import seed_small
from fake_moodle import MoodleState, fake_moodle
from sqlalchemy import select
from support.cli import talentloop_lms

from activities.lms.catalog_sync import write_catalog
from activities.lms.moodle import MoodleConfig, MoodleLms, SkillMapping
from activities.store.engine import open_engine, session_factory
from activities.store.tables import CourseRow


def fields(**values: str) -> list[dict[str, str]]:
    return [
        {"name": k, "shortname": k, "type": "text", "valueraw": v, "value": v}
        for k, v in values.items()
    ]


def site() -> MoodleState:
    s = MoodleState()
    s.add_course(1, "", "Front page")
    # Competencies win over the custom field; levels from the course's custom fields.
    s.add_course(
        10,
        "M-SQL",
        "SQL for analysts",
        customfields=fields(
            hours="6", cost="120", level_from="1", level_to="3", skills="onet:2.A.1.a"
        ),
    )
    s.add_competency(501, "2.B.3.e", 10)
    # Skills from tags.
    s.add_course(
        11,
        "M-GIT",
        "Git",
        customfields=fields(hours="2", level_to="2", prerequisites="M-SQL"),
    )
    s.tags[77] = {11}
    # Skills from the mapping file only.
    s.add_course(12, "M-EXCEL", "Excel", customfields=fields(hours="3"))
    # Cannot be mapped: no skills anywhere; no hours; competencies without a level; no id.
    s.add_course(13, "M-YOGA", "Yoga", customfields=fields(hours="1"))
    s.add_course(14, "M-NOHOURS", "No hours", customfields=fields(skills="onet:2.A.1.a"))
    s.add_course(15, "M-NOLEVEL", "No level", customfields=fields(hours="4"))
    s.add_competency(502, "2.A.1.b", 15)
    s.add_course(16, "", "Sandbox")
    return s


def test_sync_writes_what_moodle_offers_and_lists_what_it_cannot_map(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'app.db'}")
    sessions = session_factory(engine)
    seed_small(sessions)
    mapping = SkillMapping(
        tags={77: "onet:2.B.3.e"}, courses={"M-EXCEL": (("onet:2.C.1.a", 0.0, 2.5),)}
    )
    with fake_moodle(site()) as (url, st):
        lms = MoodleLms(MoodleConfig(url=url, token=st.token, calls_per_second=0, skills=mapping))
        sync = lms.sync_catalog()
        preview = write_catalog(sessions, sync, "moodle", dry_run=True)
        with sessions() as s:
            assert s.get(CourseRow, "M-SQL") is None
        report = write_catalog(sessions, sync, "moodle")
    assert report == preview
    assert report.added == ["M-EXCEL", "M-GIT", "M-SQL"]
    assert report.withdrawn == ["C-SELF", "C-SQL"]
    assert report.skills_from == {"competencies": 1, "metadata": 1, "mapping file": 1}
    assert dict(report.unmapped) == {
        "m-yoga": "no skills (competencies, custom field, tags or file)",
        "m-nohours": "no hours (custom field hours)",
        "m-nolevel": "skills from competencies but no level (custom field level_to)",
        "16": "no idnumber",
    }
    with sessions() as s:
        sql = s.get(CourseRow, "M-SQL")
        assert sql is not None
        assert (sql.hours, sql.cost, sql.external_id, sql.source_lms) == (
            6.0,
            120.0,
            "10",
            "moodle",
        )
        assert sql.teaches == [{"skill_id": "onet:2.B.3.e", "from_level": 1.0, "to_level": 3.0}]
        git = s.get(CourseRow, "M-GIT")
        assert git is not None and git.prerequisites == ["M-SQL"]
        assert git.teaches == [{"skill_id": "onet:2.B.3.e", "from_level": 0.0, "to_level": 2.0}]
        offered = set(s.scalars(select(CourseRow.id).where(CourseRow.offered)))
    assert offered == {"M-SQL", "M-GIT", "M-EXCEL"}
    engine.dispose()


def test_cli_sync_prints_the_report(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    mapping = tmp_path / "skills.json"
    mapping.write_text(json.dumps({"tags": {"77": "onet:2.B.3.e"}}))
    with fake_moodle(site()) as (url, st):
        env = dict(os.environ)
        env.update(
            TALENTLOOP_DATABASE_URL=f"sqlite:///{db}",
            TALENTLOOP_LMS_ADAPTER="moodle",
            TALENTLOOP_MOODLE_URL=url,
            TALENTLOOP_MOODLE_TOKEN=st.token,
            TALENTLOOP_MOODLE_SKILL_MAP=str(mapping),
        )
        result = talentloop_lms("sync", env=env)
        assert result.exit_code == 0, result.stderr
        assert "moodle: 2 added, 0 updated, 0 no longer offered" in result.stdout
        assert "m-yoga: no skills" in result.stdout
        st.token = "rotated"
        failed = talentloop_lms("sync", env=env)
    assert failed.exit_code == 1
    assert "invalid_token" in failed.stderr and len(failed.stderr) < 400
