"""Conversion between proficiency scales."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activities.skills.scales import (
    FIVE_POINT,
    ONET_LV,
    PERCENT,
    ScaleRegistry,
    UnknownScaleError,
    convert,
)
from schemas.skills import ProficiencyScale


def test_five_point_rating_maps_linearly_onto_onet_levels():
    assert convert(1, FIVE_POINT, ONET_LV) == 0
    assert convert(3, FIVE_POINT, ONET_LV) == pytest.approx(3.5)
    assert convert(5, FIVE_POINT, ONET_LV) == 7
    assert convert(7, ONET_LV, FIVE_POINT) == 5
    assert convert(50, PERCENT, FIVE_POINT) == pytest.approx(3)


def test_out_of_range_values_are_clamped():
    assert convert(9, FIVE_POINT, ONET_LV) == 7
    assert convert(-2, ONET_LV, FIVE_POINT) == 1


def test_calibrated_scale_uses_its_points():
    # A company's 1-4 ladder where "3 = senior" means O*NET 5.
    ladder = ProficiencyScale(
        id="ladder",
        name="Ladder",
        minimum=1,
        maximum=4,
        calibration=((1, 1), (2, 3), (3, 5), (4, 7)),
    )
    reg = ScaleRegistry([ladder])
    assert reg.convert(3, "ladder", "onet-lv") == pytest.approx(5)
    assert reg.convert(2.5, "ladder", "onet-lv") == pytest.approx(4)
    assert reg.convert(5, "onet-lv", "ladder") == pytest.approx(3)
    with pytest.raises(UnknownScaleError):
        reg.get("nope")


def test_bad_calibration_is_rejected():
    with pytest.raises(ValueError):
        ProficiencyScale(id="x", name="x", minimum=1, maximum=4, calibration=((1, 2), (2, 1)))


@given(st.floats(min_value=1, max_value=5))
def test_round_trip_and_monotone(v):
    lv = convert(v, FIVE_POINT, ONET_LV)
    assert 0 <= lv <= 7
    assert convert(lv, ONET_LV, FIVE_POINT) == pytest.approx(v)
    assert convert(min(5, v + 0.5), FIVE_POINT, ONET_LV) >= lv
