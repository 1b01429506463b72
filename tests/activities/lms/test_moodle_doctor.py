"""`talentloop doctor` on a Moodle site: the token works and every function the adapter calls is
granted (core_webservice_get_site_info lists them); the token is never printed."""

from __future__ import annotations

from pathlib import Path

from fake_moodle import MoodleState, fake_moodle

from activities.lms.moodle import FUNCTIONS, SITE_INFO
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings
from talentloop.service.doctor import check_lms, render_checks


def moodle_settings(tmp_path: Path, url: str, token: str) -> Settings:
    return private_settings(tmp_path, lms_adapter="moodle", moodle_url=url, moodle_token=token)


def test_a_site_granting_every_function_is_ready(tmp_path: Path) -> None:
    with fake_moodle() as (url, state):
        check = check_lms(moodle_settings(tmp_path, url, state.token))
    assert check.ok, check
    assert f"{len(FUNCTIONS)} functions granted" in check.detail


def test_a_function_not_granted_is_named_with_the_fix(tmp_path: Path) -> None:
    state = MoodleState()
    state.granted.discard("core_completion_get_course_completion_status")
    with fake_moodle(state) as (url, _):
        check = check_lms(moodle_settings(tmp_path, url, state.token))
    assert not check.ok
    missing = "core_completion_get_course_completion_status"
    assert check.detail.endswith(f"functions not granted: {missing}")
    assert "external service" in check.fix


def test_site_info_not_granted_says_to_grant_it(tmp_path: Path) -> None:
    state = MoodleState()
    state.granted.discard(SITE_INFO)
    with fake_moodle(state) as (url, _):
        check = check_lms(moodle_settings(tmp_path, url, state.token))
    assert not check.ok and SITE_INFO in check.fix


def test_a_wrong_token_fails_without_printing_it(tmp_path: Path) -> None:
    with fake_moodle() as (url, _):
        check = check_lms(moodle_settings(tmp_path, url, "wrong-token-123"))
    assert not check.ok
    assert "invalid_token" in check.detail
    assert "wrong-token-123" not in render_checks([check])
