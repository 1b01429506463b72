"""Proficiency scales and conversion between them (e.g. a 1-5 review rating to O*NET LV 0-7).

Every scale is calibrated onto O*NET's LV 0-7, the reference; converting from scale A to B
maps A's value onto LV with A's calibration, then LV onto B with the inverse of B's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from schemas.skills import ONET_LV_ID, ProficiencyScale

REFERENCE_MIN = 0.0
REFERENCE_MAX = 7.0

ONET_LV = ProficiencyScale(
    id=ONET_LV_ID,
    name="O*NET level (LV)",
    minimum=0,
    maximum=7,
    labels={0: "not needed", 2: "basic", 4: "intermediate", 6: "advanced", 7: "expert"},
)
"""O*NET's level scale 0-7: the default framework scale."""

FIVE_POINT = ProficiencyScale(
    id="1-5",
    name="Five-point rating",
    minimum=1,
    maximum=5,
    labels={1: "novice", 2: "advanced beginner", 3: "competent", 4: "proficient", 5: "expert"},
)
"""The common 1-5 review rating; linear: 1 -> LV 0, 3 -> 3.5, 5 -> 7."""

PERCENT = ProficiencyScale(id="0-100", name="Percent", minimum=0, maximum=100)
"""A 0-100 score (e.g. an assessment test); linear onto LV."""

BUILTIN_SCALES: dict[str, ProficiencyScale] = {s.id: s for s in (ONET_LV, FIVE_POINT, PERCENT)}
"""Scales known by id without configuration."""


class UnknownScaleError(KeyError):
    """A scale id that is neither built in nor configured."""


class ScaleRegistry:
    """The scales a deployment knows, by id: the built-ins plus configured ones."""

    def __init__(self, scales: Iterable[ProficiencyScale] = ()) -> None:
        """Create a registry of the built-in scales plus ``scales`` (which override by id)."""
        self._scales = dict(BUILTIN_SCALES)
        for s in scales:
            self._scales[s.id] = s

    def get(self, scale_id: str) -> ProficiencyScale:
        """Return the scale with id ``scale_id``.

        Raises:
            UnknownScaleError: When no such scale is known.

        """
        try:
            return self._scales[scale_id]
        except KeyError:
            raise UnknownScaleError(scale_id) from None

    def convert(self, value: float, from_id: str, to_id: str) -> float:
        """Convert ``value`` from scale ``from_id`` to scale ``to_id``."""
        return convert(value, self.get(from_id), self.get(to_id))


def _points(scale: ProficiencyScale) -> Sequence[tuple[float, float]]:
    if scale.calibration:
        return scale.calibration
    return ((scale.minimum, REFERENCE_MIN), (scale.maximum, REFERENCE_MAX))


def _interpolate(x: float, pts: Sequence[tuple[float, float]]) -> float:
    """Piecewise-linear interpolation through increasing ``pts``, clamped at the ends."""
    if x <= pts[0][0]:
        return pts[0][1]
    if x >= pts[-1][0]:
        return pts[-1][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x <= x1:
            return y0 + (x - x0) * (y1 - y0) / (x1 - x0)
    return pts[-1][1]  # pragma: no cover - unreachable, x < last x


def to_reference(value: float, scale: ProficiencyScale) -> float:
    """Map ``value`` on ``scale`` onto O*NET LV 0-7 (clamped to the scale's range first)."""
    return _interpolate(scale.clamp(value), _points(scale))


def from_reference(level: float, scale: ProficiencyScale) -> float:
    """Map an O*NET LV ``level`` onto ``scale`` (the inverse of :func:`to_reference`)."""
    inverse = [(y, x) for x, y in _points(scale)]
    return scale.clamp(_interpolate(level, inverse))


def convert(value: float, source: ProficiencyScale, target: ProficiencyScale) -> float:
    """Convert ``value`` from scale ``source`` to scale ``target``.

    Example:
        ``convert(4, FIVE_POINT, ONET_LV) == 5.25``.

    """
    if source.id == target.id:
        return target.clamp(value)
    return from_reference(to_reference(value, source), target)
