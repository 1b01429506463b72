"""Event models: strict, bounded, convertible; outbound envelopes with deterministic ids."""

import json
from datetime import UTC, date, datetime
from functools import partial

import pytest
from pydantic import ValidationError
from support.events import example_data
from temporalio.contrib.pydantic import pydantic_data_converter

from schemas.envelope import CONTRACT_CONTEXT, json_media_type_problem, schema_uri
from schemas.events import (
    COURSE_COMPLETED,
    EMPLOYEE_EVENT_MODELS,
    EMPLOYEE_UPDATED,
    EVENT_TYPES,
    GOAL_CHANGED,
    OBJECTIVES_CHANGED,
    REVIEW_COMPLETED,
    EmployeeUpdated,
    InboundEvent,
    ObjectivesChanged,
    ReviewCompleted,
)
from schemas.outbound import (
    ENROLLMENT_CREATED,
    GAP_CLOSED,
    ROLLOUT_COMPLETED,
    EnrollmentCreated,
    GapClosed,
    PublishRequest,
    RolloutCompleted,
    outbound_event,
)
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet
from talentloop.service.config import Settings

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


# The registry's example data; keyword arguments replace fields.
review = partial(example_data, REVIEW_COMPLETED)
objectives = partial(example_data, OBJECTIVES_CHANGED)


def parse(model, data, context=None):
    return model.model_validate_json(json.dumps(data), context=context)


def test_every_example_is_valid_in_its_envelope():
    for spec in EVENT_TYPES.values():
        event = spec.envelope.model_validate_json(json.dumps(spec.example_event()))
        assert event.type == spec.type
        assert spec.key(event.data) == event.subject


def test_registry_covers_inbound_and_outbound_types_with_their_topics():
    settings = Settings()
    inbound = {t for t, s in EVENT_TYPES.items() if s.direction == "inbound"}
    assert inbound == {
        REVIEW_COMPLETED,
        OBJECTIVES_CHANGED,
        COURSE_COMPLETED,
        EMPLOYEE_UPDATED,
        GOAL_CHANGED,
    }
    assert set(EMPLOYEE_EVENT_MODELS) <= inbound
    assert {s.topic(settings) for t, s in EVENT_TYPES.items() if t in inbound} == set(
        settings.inbound_topics
    )
    outbound = [s for s in EVENT_TYPES.values() if s.direction == "outbound"]
    assert len(outbound) == 6
    assert {s.topic(settings) for s in outbound} == {settings.topic_outbound}
    assert EVENT_TYPES[OBJECTIVES_CHANGED].key_field == "objective_set_id"
    assert EVENT_TYPES[ROLLOUT_COMPLETED].key_field == "objective_set_id"
    assert all(s.type.endswith(f".v{s.version}") for s in EVENT_TYPES.values())


@pytest.mark.parametrize(
    "bad",
    [
        {"unexpected": 1},
        {"employee_id": 42},
        {"ratings": [{"skill_id": "s", "rating": "3"}]},
        {"ratings": [{"skill_id": "s", "rating": 3, "note": "x"}]},
        {"ratings": []},
        {"ratings": [{"skill_id": f"s{i}", "rating": 1} for i in range(201)]},
        {"cycle": "x" * 65},
        {"employee_id": "has spaces"},
        {"completed_at": "2026-11-01T10:00:00"},
        {"reviewer_kind": "boss"},
        {"comments": "x" * 10_001},
    ],
)
def test_review_rejects_unknown_fields_coercion_and_out_of_bounds(bad):
    with pytest.raises(ValidationError):
        parse(ReviewCompleted, review(**bad))


def test_ratings_must_lie_on_the_declared_scale():
    assert parse(ReviewCompleted, review(scale="1-5", ratings=[{"skill_id": "s", "rating": 5}]))
    assert parse(ReviewCompleted, review(scale="0-100", ratings=[{"skill_id": "s", "rating": 80}]))
    default = review(ratings=[{"skill_id": "s", "rating": 6.5}])
    del default["scale"]
    assert parse(ReviewCompleted, default).scale == "onet-lv"
    for scale, rating in [("1-5", 0), ("1-5", 6), ("onet-lv", 7.5), ("0-100", 101)]:
        with pytest.raises(ValidationError, match=r"outside|less than or equal"):
            parse(
                ReviewCompleted, review(scale=scale, ratings=[{"skill_id": "s", "rating": rating}])
            )
    with pytest.raises(ValidationError, match=r"Input should be"):
        parse(ReviewCompleted, review(scale="1-10"))


def test_a_skill_is_rated_once_per_review():
    twice = [{"skill_id": "s", "rating": 2}, {"skill_id": "s", "rating": 3}]
    with pytest.raises(ValidationError, match="already rated"):
        parse(ReviewCompleted, review(ratings=twice))


def test_review_comments_and_employee_email_stay_out_of_repr():
    rev = parse(ReviewCompleted, review(comments="Very private remark"))
    upd = parse(EmployeeUpdated, EVENT_TYPES[EMPLOYEE_UPDATED].example)
    assert "Very private remark" not in repr(rev)
    assert upd.email is not None and upd.email not in repr(upd)


JOINED = {
    "employee_id": "E1",
    "change": "joined",
    "role_id": "onet:15-1252.00",
    "name": "Ada Example",
    "email": "e1@example.com",
}


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        (JOINED, True),
        ({**JOINED, "role_id": None}, False),
        ({k: v for k, v in JOINED.items() if k != "name"}, False),
        ({k: v for k, v in JOINED.items() if k != "email"}, False),
        ({**JOINED, "name": ""}, False),
        ({**JOINED, "name": "x" * 257}, False),
        ({**JOINED, "manager_id": "E1"}, False),
        ({**JOINED, "manager_id": "E2"}, True),
        ({"employee_id": "E1", "change": "moved", "department": "Ops"}, True),
        ({"employee_id": "E1", "change": "moved", "manager_id": "E1"}, False),
        ({"employee_id": "E1", "change": "moved", "name": "Ada Married-Name"}, False),
        ({"employee_id": "E1", "change": "moved"}, False),
        ({"employee_id": "E1", "change": "left"}, True),
        ({"employee_id": "E1", "change": "left", "email": "not-an-email"}, False),
        ({"employee_id": "E1", "change": "left", "locale": "english please"}, False),
        ({"employee_id": "E1", "change": "fired"}, False),
    ],
)
def test_employee_updated_rules(data, ok):
    data = {k: v for k, v in data.items() if v is not None}
    if ok:
        assert parse(EmployeeUpdated, data, CONTRACT_CONTEXT).change == data["change"]
    else:
        with pytest.raises(ValidationError):
            parse(EmployeeUpdated, data, CONTRACT_CONTEXT)


def test_rules_added_later_do_not_apply_to_events_read_back_from_histories():
    """A joiner without a name (before `name` existed) or naming themselves as manager was
    accepted then and sits in histories and continue-as-new inputs: it must still decode."""
    old = {"employee_id": "E1", "change": "joined", "role_id": "onet:15-1252.00"}
    for data in (old, {**old, "manager_id": "E1"}):
        assert parse(EmployeeUpdated, data).name is None
        event = InboundEvent(
            event_id="ev-old",
            type=EMPLOYEE_UPDATED,
            source="hris",
            employee_update=parse(EmployeeUpdated, data),
        )
        payload = pydantic_data_converter.payload_converter.to_payload(event)
        assert (
            pydantic_data_converter.payload_converter.from_payload(payload, InboundEvent) == event
        )


def test_inbound_events_recorded_before_traceparent_existed_still_decode():
    before = {
        "event_id": "ev-1",
        "type": REVIEW_COMPLETED,
        "source": "tests",
        "time": None,
        "topic": "hr.reviews",
        "partition": 0,
        "offset": 7,
        "review": review(),
        "completion": None,
        "employee_update": None,
        "objectives": None,
    }
    event = InboundEvent.model_validate_json(json.dumps(before))
    assert event.traceparent is None
    # Without a traceparent the payload is what it was (a worker of the previous release
    # reads it).
    assert json.loads(event.model_dump_json()) == json.loads(json.dumps(before))
    with_trace = event.model_copy(update={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    assert InboundEvent.model_validate_json(with_trace.model_dump_json()) == with_trace


def test_the_name_is_personal_data_kept_out_of_repr():
    upd = parse(EmployeeUpdated, JOINED, CONTRACT_CONTEXT)
    assert upd.name is not None and upd.name not in repr(upd)


def test_the_json_schema_requires_a_joiners_name_and_email():
    rules = EmployeeUpdated.model_json_schema()["allOf"]
    joined = [r["then"] for r in rules if r["if"]["properties"]["change"]["const"] == "joined"]
    assert joined == [{"required": ["role_id", "name", "email"]}]


def test_inbound_envelopes_accept_extensions_and_json_media_types_outbound_ones_do_not():
    inbound = EVENT_TYPES[REVIEW_COMPLETED]
    doc = {**inbound.example_event(), "traceparent": "t", "datacontenttype": "application/JSON"}
    event = inbound.envelope.model_validate_json(json.dumps(doc))
    assert event.extensions == {"traceparent": "t"}  # type: ignore[attr-defined]
    outbound = EVENT_TYPES[ENROLLMENT_CREATED]
    with pytest.raises(ValidationError):
        outbound.envelope.model_validate_json(
            json.dumps({**outbound.example_event(), "traceparent": "t"})
        )


@pytest.mark.parametrize(
    ("media_type", "ok"),
    [
        ("application/json", True),
        (" application/json ; charset=UTF-8", True),
        ("APPLICATION/JSON;charset=utf8", True),
        ("application/json; charset=iso-8859-1", False),
        ("application/json\n", False),
        ("application/cloudevents+json", False),
        ("", False),
    ],
)
def test_json_media_types(media_type, ok):
    assert (json_media_type_problem(media_type) is None) is ok


def test_objectives_changed_converts_to_the_engines_objective_set():
    event = parse(ObjectivesChanged, objectives())
    assert event.to_objective_set() == ObjectiveSet(
        id="strategy-2027",
        version=2,
        effective_from=date(2027, 1, 1),
        objectives=(
            Objective(
                id="Q1-cloud",
                title="Move the product line to the cloud",
                priority=5.0,
                due=date(2027, 3, 31),
                roles=("onet:15-1252.00",),
                departments=("Platform",),
                requirements=(
                    ObjectiveRequirement(skill_id="onet:2.B.3.e", target=4.5, importance=4.0),
                    ObjectiveRequirement(skill_id="onet:2.B.4.g", target=4.0, importance=None),
                ),
            ),
        ),
    )


def test_objectives_changed_bounds_and_uniqueness():
    obj = objectives()["objectives"][0]

    def with_objective(**over):
        return objectives(objectives=[{**obj, **over}])

    bad = [
        objectives(version=0),
        objectives(version="2"),
        objectives(effective_from="2027-13-01"),
        objectives(objectives=[obj, obj]),
        objectives(objectives=[{**obj, "id": f"o{i}"} for i in range(501)]),
        with_objective(priority=6),
        with_objective(priority=2.5),
        with_objective(requirements=[]),
        with_objective(requirements=[{"skill_id": "s", "target_level": 7.5}]),
        with_objective(requirements=[{"skill_id": "s", "target_level": 4, "importance": 0}]),
        with_objective(requirements=[{"skill_id": "s", "target_level": 4}] * 2),
        with_objective(roles=["r"] * 501),
        with_objective(active_from="2027-02-01", active_until="2027-01-01"),
        with_objective(owner="ceo"),
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            parse(ObjectivesChanged, data)
    assert parse(ObjectivesChanged, objectives(objectives=[])).to_objective_set().objectives == ()


def test_inbound_dataschema_is_optional_but_must_name_the_type():
    spec = EVENT_TYPES[REVIEW_COMPLETED]
    doc = spec.example_event()
    del doc["dataschema"]
    assert spec.envelope.model_validate_json(json.dumps(doc)).dataschema is None
    doc["dataschema"] = schema_uri(COURSE_COMPLETED)
    with pytest.raises(ValidationError):
        spec.envelope.model_validate_json(json.dumps(doc))
    doc["dataschema"] = spec.schema_uri
    doc["type"] = COURSE_COMPLETED
    with pytest.raises(ValidationError):
        spec.envelope.model_validate_json(json.dumps(doc))


def enrollment(**over):
    values = {
        "enrollment_id": "enr-1",
        "employee_id": "E00017",
        "course_id": "C-1",
        "due": date(2026, 12, 2),
        "reason": "Programming 2→4",
        "source_event_id": "ev-review-1",
    }
    values.update(over)
    return EnrollmentCreated(**values)


def test_outbound_ids_are_derived_from_the_cause_and_stable():
    a = outbound_event(ENROLLMENT_CREATED, enrollment(), cause_id="ev-review-1", time=NOW)
    later = datetime(2026, 11, 3, tzinfo=UTC)
    b = outbound_event(ENROLLMENT_CREATED, enrollment(), cause_id="ev-review-1", time=later)
    other_course = outbound_event(
        ENROLLMENT_CREATED,
        enrollment(enrollment_id="enr-2", course_id="C-2"),
        cause_id="ev-review-1",
        time=NOW,
    )
    other_cause = outbound_event(ENROLLMENT_CREATED, enrollment(), cause_id="ev-review-2", time=NOW)
    assert a.id == b.id
    assert len({a.id, other_course.id, other_cause.id}) == 3
    assert a.subject == "E00017"
    assert a.dataschema == schema_uri(ENROLLMENT_CREATED)
    assert a.source == "urn:talentloop" and a.datacontenttype == "application/json"


def test_outbound_envelope_round_trips_through_json_and_the_publish_request():
    event = outbound_event(ENROLLMENT_CREATED, enrollment(), cause_id="ev-1", time=NOW)
    req = PublishRequest.of(event)
    assert req.event.id == event.id and req.event.data["employee_id"] == "E00017"
    again = PublishRequest.model_validate_json(req.model_dump_json())
    spec = EVENT_TYPES[ENROLLMENT_CREATED]
    assert spec.envelope.model_validate_json(again.event.model_dump_json()) == event


def test_outbound_builder_refuses_mismatched_data_and_inbound_types():
    with pytest.raises(ValueError, match="needs EnrollmentCreated"):
        outbound_event(
            ENROLLMENT_CREATED,
            RolloutCompleted(
                objective_set_id="s",
                version=1,
                employees_affected=0,
                enrollments=0,
                started_at=NOW,
                finished_at=NOW,
            ),
            cause_id="c",
            time=NOW,
        )
    with pytest.raises(ValueError, match="not an outbound"):
        outbound_event(REVIEW_COMPLETED, enrollment(), cause_id="c", time=NOW)
    with pytest.raises(ValidationError):
        outbound_event(ENROLLMENT_CREATED, enrollment(), cause_id="c", time=datetime(2026, 1, 1))


def test_outbound_models_check_their_facts():
    gap = {
        "employee_id": "E1",
        "skill_id": "s",
        "from_level": 2.0,
        "to_level": 4.0,
        "target_level": 4.0,
        "closed_by": "course",
        "closed_by_ref": "C-1",
    }
    assert GapClosed(**gap).to_level == 4.0
    for over in (
        {"to_level": 1.0},
        {"target_level": 5.0},
        {"to_level": 8.0, "target_level": 4.0},
        {"objective_set_id": "set"},
        {"closed_by": "magic"},
    ):
        with pytest.raises(ValidationError):
            GapClosed(**{**gap, **over})
    with pytest.raises(ValidationError):
        RolloutCompleted(
            objective_set_id="s",
            version=1,
            employees_affected=1,
            enrollments=1,
            started_at=NOW,
            finished_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    rollout = outbound_event(
        ROLLOUT_COMPLETED,
        RolloutCompleted(
            objective_set_id="strategy-2027",
            version=2,
            employees_affected=1,
            enrollments=1,
            started_at=NOW,
            finished_at=NOW,
        ),
        cause_id="strategy-2027@v2",
        time=NOW,
    )
    assert rollout.subject == "strategy-2027"
    assert GAP_CLOSED in EVENT_TYPES
