"""Import of the real O*NET 29.3 data (the whole Skills file), as installed with the package."""

import time
from pathlib import Path

import pytest

from activities.skills.onet import ONET_ATTRIBUTION, PACKAGED_ONET_DIR, load_onet

ONET_DIR = PACKAGED_ONET_DIR


@pytest.fixture(scope="module")
def onet():
    started = time.perf_counter()
    data = load_onet(ONET_DIR)
    data_elapsed = time.perf_counter() - started
    return data, data_elapsed


def test_whole_file_imports_every_occupation_and_skill_quickly(onet):
    data, elapsed = onet
    assert len(data.roles) == 879
    assert len(data.skills) == 35
    assert elapsed < 3.0
    assert data.scale.minimum == 0 and data.scale.maximum == 7
    assert data.attribution == ONET_ATTRIBUTION
    assert "CC BY 4.0" in ONET_ATTRIBUTION


def test_not_relevant_rows_are_skipped_and_suppressed_rows_flagged(onet):
    data, _ = onet
    assert data.skipped_not_relevant == 3302
    total = sum(len(r.requirements) for r in data.roles)
    assert total == 879 * 35 - 3302
    flagged = [q for r in data.roles for q in r.requirements if q.suppressed]
    assert len(flagged) == data.suppressed > 0


def test_role_requirements_carry_level_and_importance(onet):
    data, _ = onet
    ceo = data.roles_by_id["onet:11-1011.00"]
    assert ceo.title == "Chief Executives"
    reading = next(q for q in ceo.requirements if q.skill_id == "onet:2.A.1.a")
    assert reading.level == pytest.approx(4.62)
    assert reading.importance == pytest.approx(4.12)
    assert all(
        0 <= q.level <= 7 and 1 <= q.importance <= 5 for r in data.roles for q in r.requirements
    )
    assert all(r.id.startswith("onet:") and r.requirements for r in data.roles)


def test_skills_have_names_descriptions_and_level_anchors(onet):
    data, _ = onet
    prog = data.skills_by_id["onet:2.B.3.e"]
    assert prog.name == "Programming"
    assert prog.onet_element_id == "2.B.3.e"
    assert prog.description
    assert set(prog.anchors) == {2, 4, 6}
    assert "statistical analysis program" in prog.anchors[4]
    assert prog.anchor_for(4.5) == prog.anchors[4]
    assert prog.anchor_for(1) is None
    assert sum(1 for s in data.skills if s.anchors) == 35


def test_selected_occupations_only(tmp_path: Path):
    data = load_onet(ONET_DIR, occupations=["onet:15-1211.00", "11-1011.00"])
    assert sorted(r.id for r in data.roles) == ["onet:11-1011.00", "onet:15-1211.00"]
    assert len(data.skills) == 35
