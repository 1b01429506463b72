"""The published contract: checked-in files up to date, complete, and its examples valid."""

import json

import jsonschema
import pytest
import yaml

from schemas.events import EVENT_TYPES
from talentloop.dev import contract
from talentloop.service.config import Settings

SCHEMAS = contract.SCHEMAS_DIR


def test_checked_in_contract_is_not_stale(tmp_path):
    stale = contract.stale(SCHEMAS)
    assert stale == [], f"stale contract files {stale}: run `python -m talentloop.dev.contract`"
    written = contract.generate(tmp_path)
    for path in written:
        rel = path.relative_to(tmp_path)
        assert path.read_bytes() == (SCHEMAS / rel).read_bytes(), rel
    assert sorted(p.name for p in (SCHEMAS / "json").iterdir()) == sorted(
        f"{t}.json" for t in EVENT_TYPES
    )


def test_check_names_stale_files_and_writes_nothing(tmp_path, capsys):
    contract.generate(tmp_path)
    assert contract.main(["--check", "--out", str(tmp_path)]) == 0
    review = tmp_path / "json" / "review.completed.v1.json"
    review.write_text(review.read_text().replace('"maxLength": 64', '"maxLength": 65'))
    gone = tmp_path / "json" / "review.completed.v0.json"
    gone.write_text("{}")
    (tmp_path / "asyncapi.yaml").unlink()
    assert contract.stale(tmp_path) == [review, tmp_path / "asyncapi.yaml", gone]
    assert contract.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert str(review) in err and str(gone) in err
    assert not (tmp_path / "asyncapi.yaml").exists()
    contract.main(["--out", str(tmp_path)])
    assert contract.stale(tmp_path) == [] and not gone.exists()


def test_generation_ignores_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TALENTLOOP_TOPIC_REVIEWS", "somewhere.else")
    contract.generate(tmp_path)
    assert contract.stale(SCHEMAS) == []
    assert "somewhere.else" not in (tmp_path / "asyncapi.yaml").read_text()


@pytest.fixture(scope="module")
def asyncapi():
    return yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())


def test_asyncapi_has_every_topic_as_a_channel_and_every_type_as_a_message(asyncapi):
    settings = Settings.model_construct()  # field defaults only
    assert asyncapi["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in asyncapi["channels"].values()}
    assert addresses == {*settings.inbound_topics, settings.topic_outbound, settings.topic_dlq}
    messages = asyncapi["components"]["messages"]
    names = {m["name"] for m in messages.values()}
    assert set(EVENT_TYPES) <= names
    for spec in EVENT_TYPES.values():
        [(cid, channel)] = [
            (cid, c)
            for cid, c in asyncapi["channels"].items()
            if c["address"] == spec.topic(settings)
        ]
        [mid] = [mid for mid, m in messages.items() if m["name"] == spec.type]
        assert channel["messages"][mid] == {"$ref": f"#/components/messages/{mid}"}
        message = messages[mid]
        assert message["payload"] == {"$ref": f"./json/{spec.type}.json"}
        assert f"data.{spec.key_field}" in message["bindings"]["kafka"]["key"]["description"]
        ops = [
            o
            for o in asyncapi["operations"].values()
            if o["channel"]["$ref"] == f"#/channels/{cid}"
        ]
        assert [o["action"] for o in ops] == ["receive" if spec.direction == "inbound" else "send"]
        assert {"$ref": f"#/channels/{cid}/messages/{mid}"} in ops[0]["messages"]


def _resolve(doc, ref):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_asyncapi_references_resolve(asyncapi):
    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    for ref in refs(asyncapi):
        if ref.startswith("#/"):
            assert _resolve(asyncapi, ref) is not None
        else:
            assert (SCHEMAS / ref).is_file(), ref


def load_schema(event_type):
    return json.loads((SCHEMAS / "json" / f"{event_type}.json").read_text())


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_example_validates_against_its_json_schema(event_type, asyncapi):
    schema = load_schema(event_type)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    spec = EVENT_TYPES[event_type]
    assert schema["$id"] == spec.schema_uri
    examples = list(schema["examples"])
    examples += [
        e["payload"]
        for m in asyncapi["components"]["messages"].values()
        if m.get("name") == event_type
        for e in m["examples"]
    ]
    assert len(examples) == 2
    for example in examples:
        validator.validate(example)
        spec.envelope.model_validate_json(json.dumps(example))


def review_doc(**data_over):
    doc = EVENT_TYPES["review.completed.v1"].example_event()
    doc["data"] = {**doc["data"], **data_over}
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        review_doc(unexpected=1),
        review_doc(employee_id=42),
        review_doc(ratings=[]),
        review_doc(scale="1-5", ratings=[{"skill_id": "s", "rating": 6}]),
        review_doc(scale="onet-lv", ratings=[{"skill_id": "s", "rating": 7.5}]),
        {**review_doc(), "type": "course.completed.v1"},
        {**review_doc(), "specversion": "0.3"},
        {**review_doc(), "Extension": "x"},
    ],
)
def test_the_json_schema_refuses_what_the_models_refuse(doc):
    """A producer validating with the published schema alone is refused like the bridge would."""
    validator = jsonschema.Draft202012Validator(load_schema("review.completed.v1"))
    assert not validator.is_valid(doc)
    with pytest.raises(ValueError):
        EVENT_TYPES["review.completed.v1"].envelope.model_validate_json(json.dumps(doc))


def test_employee_update_rules_are_in_the_json_schema():
    validator = jsonschema.Draft202012Validator(load_schema("employee.updated.v1"))
    doc = EVENT_TYPES["employee.updated.v1"].example_event()
    assert validator.is_valid(doc)
    assert not validator.is_valid({**doc, "data": {"employee_id": "E1", "change": "joined"}})
    assert not validator.is_valid({**doc, "data": {"employee_id": "E1", "change": "moved"}})
    assert validator.is_valid({**doc, "data": {"employee_id": "E1", "change": "left"}})


def test_json_schemas_are_self_contained():
    """Producers may take one file alone: every `$ref` points inside the same document."""
    for path in (SCHEMAS / "json").iterdir():
        schema = json.loads(path.read_text())
        text = path.read_text()
        for ref in (
            line.split('"$ref": ')[1].strip().strip('",')
            for line in text.splitlines()
            if '"$ref": ' in line
        ):
            assert ref.startswith("#/"), (path.name, ref)
            assert _resolve(schema, ref) is not None
