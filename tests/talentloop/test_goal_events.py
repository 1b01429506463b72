"""goal.changed.v1: strict on hr.goals; the bridge refuses unknown employees and skills."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from support.events import cloudevent, example_data

from schemas.events import GOAL_CHANGED, InboundEvent
from talentloop.service.bridge import skills_check
from talentloop.service.bridge.directory import check_employee, check_skills
from talentloop.service.bridge.stats import BridgeStats
from talentloop.service.cloudevents import InvalidEvent, decode, inbound_topics
from talentloop.service.config import Settings

RECORD_TIME = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def goal_record(**over: Any) -> bytes:
    data = example_data(GOAL_CHANGED, **over)
    return json.dumps(cloudevent(GOAL_CHANGED, "ev-g-1", data)).encode()


def run(value: bytes, topic: str = "hr.goals") -> Any:
    return decode(
        value,
        [],
        topic=topic,
        partition=0,
        offset=3,
        max_bytes=100_000,
        record_time=RECORD_TIME,
        expected_topics=inbound_topics(Settings()),
    )


def refused(value: bytes, topic: str = "hr.goals") -> InvalidEvent:
    with pytest.raises(InvalidEvent) as err:
        run(value, topic)
    return err.value


def test_a_valid_goal_event_decodes_for_the_employee_workflow() -> None:
    event = run(goal_record())
    assert isinstance(event, InboundEvent) and event.goal is not None
    assert event.employee_id == "E00017" and event.type == GOAL_CHANGED
    assert event.goal.aligned_to[0].objective_id == "Q1-cloud"
    assert event.goal.planning_priority == pytest.approx(2.6)  # weight 40 %
    assert "Security" not in repr(event)  # the title is personal data
    # Events without a goal serialize as before (histories of earlier releases).
    plain = event.model_copy(update={"goal": None})
    assert "goal" not in json.loads(plain.model_dump_json())


def test_hr_goals_is_an_inbound_topic_and_goals_belong_on_it() -> None:
    settings = Settings()
    assert "hr.goals" in settings.inbound_topics
    assert inbound_topics(settings)[GOAL_CHANGED] == "hr.goals"
    err = refused(goal_record(), topic="hr.reviews")
    assert err.reason == "wrong-topic"


@pytest.mark.parametrize(
    ("over", "detail"),
    [
        ({"due": "0001-01-01"}, "data.due: outside the accepted window"),
        ({"change": "archived"}, "data.change"),
        ({"priority": 9}, "data.priority"),
        ({"weight": 101}, "data.weight"),
        ({"unexpected": 1}, "data.unexpected"),
        ({"title": ""}, "data.title"),
        (
            {"skills": [{"skill_id": "onet:1", "target_level": 2}] * 2},
            "skills name a skill twice",
        ),
        (
            {"aligned_to": [{"objective_set_id": "s", "objective_id": "o"}] * 2},
            "aligned_to names an objective twice",
        ),
        ({"skills": [{"skill_id": "onet:1", "target_level": 9}]}, "data.skills.0.target_level"),
    ],
)
def test_bad_goal_events_are_refused_with_the_field(over: dict[str, Any], detail: str) -> None:
    err = refused(goal_record(**over))
    assert err.reason == "schema-invalid"
    assert detail in err.detail
    assert "Security architecture" not in err.detail  # never the title


async def test_the_bridge_refuses_goals_of_unknown_employees_and_unknown_skills() -> None:
    event = run(goal_record())
    assert isinstance(event, InboundEvent)
    stats = BridgeStats()

    async def nobody(employee_id: str) -> bool:
        return False

    with pytest.raises(InvalidEvent) as err:
        await check_employee(event, nobody, stats)
    assert err.value.reason == "unknown-employee"

    framework = {"onet:2.A.1.a"}
    asked: list[list[str]] = []

    def known(ids: list[str]) -> set[str]:
        asked.append(ids)
        return framework & set(ids)

    check = skills_check(known)
    with pytest.raises(InvalidEvent) as err:
        await check_skills(event, check, stats)
    assert err.value.reason == "unknown-skill"
    assert err.value.detail == "data.skills: not in the skills framework: onet:2.B.3.e"
    framework.add("onet:2.B.3.e")  # imported since
    await check_skills(event, check, stats)
    await check_skills(event, check, stats)  # found once: trusted for good
    assert asked == [["onet:2.B.3.e"], ["onet:2.B.3.e"]]
