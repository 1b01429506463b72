"""Import of skills, level anchors and role requirements from the O*NET database text files.

This is the skills engine's only I/O. Data: O*NET 29.3 Database by the U.S. Department of
Labor, Employment and Training Administration (USDOL/ETA), used under the CC BY 4.0 license.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from activities.skills.scales import ONET_LV
from schemas.skills import ProficiencyScale, Role, RoleRequirement, Skill

ONET_ATTRIBUTION = (
    "This product includes information from the O*NET 29.3 Database by the U.S. Department of "
    "Labor, Employment and Training Administration (USDOL/ETA), used under the CC BY 4.0 license."
)
"""The credit O*NET's license requires wherever the data is shipped or displayed."""


def skill_id(element_id: str) -> str:
    """Framework skill id of an O*NET element id: "2.B.3.e" -> "onet:2.B.3.e"."""
    return f"onet:{element_id}"


def role_id(soc_code: str) -> str:
    """Framework role id of an O*NET-SOC code: "15-1252.00" -> "onet:15-1252.00"."""
    return f"onet:{soc_code}"


@dataclass(frozen=True)
class OnetData:
    """Skills, roles and the level scale imported from O*NET.

    Attributes:
        skills: The 35 O*NET skills with names, descriptions and level anchors.
        roles: Occupations with their skill requirements (LV level, IM importance).
        scale: O*NET's LV scale 0-7.
        attribution: The credit line required by the data's license.

    """

    skills: list[Skill]
    roles: list[Role]
    scale: ProficiencyScale = ONET_LV
    attribution: str = ONET_ATTRIBUTION
    skipped_not_relevant: int = 0
    suppressed: int = 0
    _skills_by_id: dict[str, Skill] = field(default_factory=dict, repr=False, compare=False)
    _roles_by_id: dict[str, Role] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._skills_by_id.update((s.id, s) for s in self.skills)
        self._roles_by_id.update((r.id, r) for r in self.roles)

    @property
    def skills_by_id(self) -> dict[str, Skill]:
        """Skills keyed by id."""
        return self._skills_by_id

    @property
    def roles_by_id(self) -> dict[str, Role]:
        """Roles keyed by id."""
        return self._roles_by_id


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)


def _value(text: str) -> float | None:
    text = text.strip()
    if not text or text.lower() == "n/a":
        return None
    return float(text)


def load_onet(onet_dir: Path, occupations: Iterable[str] | None = None) -> OnetData:
    """Read O*NET's Skills.txt and companions into skills and role requirements.

    For each occupation and skill, LV (0-7) becomes the required level and IM (1-5) the
    importance. Pairs whose LV row says "Not Relevant" are skipped; pairs with "Recommend
    Suppress" on either row are kept and flagged ``suppressed``.

    Args:
        onet_dir: Folder with the O*NET text files.
        occupations: O*NET-SOC codes ("15-1252.00") or role ids ("onet:15-1252.00") to
            import; None imports every occupation with skill ratings.

    Returns:
        The skills, roles and scale.

    """
    wanted: set[str] | None = None
    if occupations is not None:
        wanted = {o.removeprefix("onet:") for o in occupations}

    elements = {r["Element ID"]: r for r in _rows(onet_dir / "Content Model Reference.txt")}
    titles = {r["O*NET-SOC Code"]: r for r in _rows(onet_dir / "Occupation Data.txt")}

    # (soc, element) -> [importance, level, suppressed, not_relevant]
    pairs: dict[tuple[str, str], list[float | bool | None]] = {}
    order: list[str] = []
    element_order: dict[str, str] = {}
    with (onet_dir / "Skills.txt").open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        col = {name: i for i, name in enumerate(header)}
        i_soc, i_el, i_name = col["O*NET-SOC Code"], col["Element ID"], col["Element Name"]
        i_scale, i_val = col["Scale ID"], col["Data Value"]
        i_sup, i_nr = col["Recommend Suppress"], col["Not Relevant"]
        for row in reader:
            if not row:
                continue
            element = row[i_el]
            element_order.setdefault(element, row[i_name])
            soc = row[i_soc]
            if wanted is not None and soc not in wanted:
                continue
            key = (soc, element)
            entry = pairs.get(key)
            if entry is None:
                if not order or order[-1] != soc:
                    order.append(soc)
                entry = pairs[key] = [None, None, False, False]
            if row[i_scale] == "IM":
                entry[0] = _value(row[i_val])
            elif row[i_scale] == "LV":
                entry[1] = _value(row[i_val])
                entry[3] = row[i_nr].strip().upper() == "Y"
            if row[i_sup].strip().upper() == "Y":
                entry[2] = True

    anchors: dict[str, dict[int, str]] = {}
    for r in _rows(onet_dir / "Level Scale Anchors.txt"):
        if r["Element ID"] in element_order and r["Scale ID"] == "LV":
            anchors.setdefault(r["Element ID"], {})[int(float(r["Anchor Value"]))] = r[
                "Anchor Description"
            ]

    skills = [
        Skill(
            id=skill_id(el),
            name=elements.get(el, {}).get("Element Name", name),
            description=elements.get(el, {}).get("Description", ""),
            onet_element_id=el,
            anchors=anchors.get(el, {}),
        )
        for el, name in element_order.items()
    ]

    requirements: dict[str, list[RoleRequirement]] = {soc: [] for soc in order}
    skipped = suppressed = 0
    for (soc, el), (importance, level, sup, not_relevant) in pairs.items():
        if not_relevant or level is None:
            skipped += 1
            continue
        if sup:
            suppressed += 1
        requirements[soc].append(
            RoleRequirement.model_construct(
                skill_id=skill_id(el),
                level=float(level),
                importance=float(importance) if importance is not None else 3.0,
                suppressed=bool(sup),
            )
        )

    roles = [
        Role(
            id=role_id(soc),
            title=titles.get(soc, {}).get("Title", soc),
            description=titles.get(soc, {}).get("Description", ""),
            requirements=tuple(requirements[soc]),
        )
        for soc in order
    ]
    return OnetData(skills=skills, roles=roles, skipped_not_relevant=skipped, suppressed=suppressed)
