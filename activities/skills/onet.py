"""Import of skills, level anchors and role requirements from the O*NET database text files.

This is the skills engine's only I/O. Data: O*NET 29.3 Database by the U.S. Department of
Labor, Employment and Training Administration (USDOL/ETA), used under the CC BY 4.0 license.

The four files the import reads ship inside the package, gzip-compressed and cut to the columns
read, in ``onet_data`` beside this module (:data:`PACKAGED_ONET_DIR`; made by
``python -m talentloop.dev.onet_vendor``). A full release folder from O*NET works unchanged: a
plain ``NAME.txt`` is read in preference to ``NAME.txt.gz``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from activities.skills.scales import ONET_LV
from schemas.skills import ProficiencyScale, Role, RoleRequirement, Skill

ONET_ATTRIBUTION = (
    "This product includes information from the O*NET 29.3 Database by the U.S. Department of "
    "Labor, Employment and Training Administration (USDOL/ETA), used under the CC BY 4.0 license."
)
"""The credit O*NET's license requires wherever the data is shipped or displayed."""

ONET_RELEASE = "29.3"
"""The O*NET database release the packaged data is cut from."""

PACKAGED_ONET_DIR = Path(__file__).resolve().parent / "onet_data"
"""The O*NET data installed with the package: the files of :data:`ONET_FILES`, gzip-compressed."""

ONET_FILES: dict[str, tuple[str, ...]] = {
    "Content Model Reference.txt": ("Element ID", "Element Name", "Description"),
    "Occupation Data.txt": ("O*NET-SOC Code", "Title", "Description"),
    "Skills.txt": (
        "O*NET-SOC Code",
        "Element ID",
        "Element Name",
        "Scale ID",
        "Data Value",
        "Recommend Suppress",
        "Not Relevant",
    ),
    "Level Scale Anchors.txt": ("Element ID", "Scale ID", "Anchor Value", "Anchor Description"),
}
"""The O*NET text files :func:`load_onet` reads, and the columns it reads from each."""

MANIFEST_NAME = "MANIFEST.json"
"""The file in a packaged data folder listing each data file's sha256 and row count."""


class OnetDataMissing(FileNotFoundError):
    """An O*NET file the import needs is in neither plain nor gzip form in the data folder.

    Attributes:
        folder: The data folder searched.
        missing: The missing file's plain name, e.g. "Skills.txt".

    """

    def __init__(self, folder: Path, missing: str) -> None:
        where = "folder" if folder.is_dir() else "folder (which does not exist)"
        super().__init__(
            f"O*NET data incomplete: {missing} (or {missing}.gz) not found in {where} {folder}"
        )
        self.folder = folder
        self.missing = missing

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[type[OnetDataMissing], tuple[Path, str]]:
        return (type(self), (self.folder, self.missing))


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


def find_onet_files(onet_dir: Path) -> dict[str, Path]:
    """The path of each file the import reads: ``NAME.txt`` if present, else ``NAME.txt.gz``.

    Args:
        onet_dir: An O*NET release folder, or a folder made by ``talentloop.dev.onet_vendor``.

    Returns:
        Each name of :data:`ONET_FILES` mapped to the file to read.

    Raises:
        OnetDataMissing: A file is in neither form.

    """
    found: dict[str, Path] = {}
    for name in ONET_FILES:
        plain, packed = onet_dir / name, onet_dir / f"{name}.gz"
        if plain.is_file():
            found[name] = plain
        elif packed.is_file():
            found[name] = packed
        else:
            raise OnetDataMissing(onet_dir, name)
    return found


@contextmanager
def open_onet_text(path: Path) -> Iterator[IO[str]]:
    """Open an O*NET text file, plain or gzip-compressed (by its ``.gz`` suffix), for csv."""
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            yield f
    else:
        with path.open(encoding="utf-8", newline="") as f:
            yield f


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with open_onet_text(path) as f:
        yield from csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)


def verify_manifest(onet_dir: Path) -> list[str]:
    """Check a packaged O*NET folder against its MANIFEST.json.

    Args:
        onet_dir: A folder made by ``talentloop.dev.onet_vendor``.

    Returns:
        One line per problem (manifest missing or unreadable, a listed file missing, a
        checksum mismatch); empty when every listed file is present and intact.

    """
    manifest_path = onet_dir / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files: dict[str, dict[str, object]] = manifest["files"]
    except FileNotFoundError:
        return [f"{manifest_path}: missing"]
    except (ValueError, KeyError, TypeError) as err:
        return [f"{manifest_path}: unreadable ({type(err).__name__}: {err})"]
    if not files:
        return [f"{manifest_path}: lists no files"]
    problems: list[str] = []
    for name, entry in sorted(files.items()):
        path = onet_dir / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != entry.get("sha256"):
            problems.append(f"{path}: sha256 {digest} does not match the manifest's")
    return problems


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
        onet_dir: Folder with the O*NET text files (``NAME.txt`` or ``NAME.txt.gz``), e.g.
            :data:`PACKAGED_ONET_DIR` or a full O*NET release folder.
        occupations: O*NET-SOC codes ("15-1252.00") or role ids ("onet:15-1252.00") to
            import; None imports every occupation with skill ratings.

    Returns:
        The skills, roles and scale.

    Raises:
        OnetDataMissing: A file of :data:`ONET_FILES` is not in ``onet_dir``.

    """
    wanted: set[str] | None = None
    if occupations is not None:
        wanted = {o.removeprefix("onet:") for o in occupations}

    files = find_onet_files(onet_dir)
    elements = {r["Element ID"]: r for r in _rows(files["Content Model Reference.txt"])}
    titles = {r["O*NET-SOC Code"]: r for r in _rows(files["Occupation Data.txt"])}

    # (soc, element) -> [importance, level, suppressed, not_relevant]
    pairs: dict[tuple[str, str], list[float | bool | None]] = {}
    order: list[str] = []
    element_order: dict[str, str] = {}
    with open_onet_text(files["Skills.txt"]) as f:
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
    for r in _rows(files["Level Scale Anchors.txt"]):
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
