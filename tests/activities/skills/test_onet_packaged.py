"""The O*NET 29.3 excerpt installed with the package: intact, self-sufficient, same as the release.

A user's clone has only the package: these tests read nothing outside it, except the one
comparison with the full release folder, which is skipped where that folder is absent.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
from support.cli import talentloop

from activities.skills.onet import (
    MANIFEST_NAME,
    ONET_ATTRIBUTION,
    ONET_FILES,
    ONET_RELEASE,
    PACKAGED_ONET_DIR,
    OnetDataMissing,
    find_onet_files,
    load_onet,
    verify_manifest,
)
from activities.store.engine import open_engine, session_factory
from talentloop.dev.onet_vendor import vendor
from talentloop.dev.seed import DEMO_OCCUPATIONS, seed
from talentloop.service.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]
# The full O*NET 29.3 release the excerpt was cut from (beside the repository in the dev and
# CI checkouts; absent from a user's clone).
FULL_RELEASE = next(
    (
        p
        for p in (REPO_ROOT.parent / "shared" / "data" / "onet", Path("/work/shared/data/onet"))
        if (p / "Skills.txt").is_file()
    ),
    None,
)
# Rows of each file in the O*NET 29.3 release (its README).
RELEASE_ROWS = {
    "Content Model Reference.txt.gz": 627,
    "Occupation Data.txt.gz": 1016,
    "Skills.txt.gz": 61530,
    "Level Scale Anchors.txt.gz": 483,
}


def _read(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with the state and database in it, no O*NET override."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TALENTLOOP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TALENTLOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.delenv("TALENTLOOP_ONET_DIR", raising=False)
    return tmp_path


# (a) The packaged files are what the manifest says.


def test_packaged_folder_holds_exactly_the_data_manifest_and_attribution():
    names = {p.name for p in PACKAGED_ONET_DIR.iterdir()}
    assert names == {f"{n}.gz" for n in ONET_FILES} | {MANIFEST_NAME, "ATTRIBUTION.md"}
    assert not (PACKAGED_ONET_DIR / "__init__.py").exists()
    total = sum(p.stat().st_size for p in PACKAGED_ONET_DIR.iterdir())
    assert total < 1_000_000


def test_manifest_checksums_and_row_counts_match_the_packaged_files():
    assert verify_manifest(PACKAGED_ONET_DIR) == []
    manifest = json.loads((PACKAGED_ONET_DIR / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["release"] == ONET_RELEASE == "29.3"
    assert manifest["attribution"] == ONET_ATTRIBUTION
    assert set(manifest["files"]) == set(RELEASE_ROWS)
    for name, entry in manifest["files"].items():
        rows = _read(PACKAGED_ONET_DIR / name)
        header, data = rows[0], rows[1:]
        assert tuple(header) == ONET_FILES[name.removesuffix(".gz")]
        assert all(len(r) == len(header) for r in data)
        assert entry["rows"] == len(data) == RELEASE_ROWS[name]
    attribution = (PACKAGED_ONET_DIR / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert ONET_ATTRIBUTION in attribution
    assert "creativecommons.org/licenses/by/4.0" in attribution


def test_verify_manifest_reports_a_changed_and_a_missing_file(tmp_path: Path):
    copy = tmp_path / "onet"
    shutil.copytree(PACKAGED_ONET_DIR, copy)
    skills = copy / "Skills.txt.gz"
    packed = bytearray(skills.read_bytes())
    packed[len(packed) // 2] ^= 0xFF
    skills.write_bytes(bytes(packed))
    (copy / "Level Scale Anchors.txt.gz").unlink()
    problems = verify_manifest(copy)
    assert len(problems) == 2
    assert any("Skills.txt.gz" in p and "sha256" in p for p in problems)
    assert any("Level Scale Anchors.txt.gz" in p and "missing" in p for p in problems)
    assert verify_manifest(tmp_path) == [f"{tmp_path / MANIFEST_NAME}: missing"]


# (b) Loading and seeding use nothing outside the installed package.


def test_settings_default_to_the_packaged_data(isolated: Path):
    assert Settings().onet_dir == PACKAGED_ONET_DIR
    assert find_onet_files(PACKAGED_ONET_DIR) == {
        n: PACKAGED_ONET_DIR / f"{n}.gz" for n in ONET_FILES
    }


def test_packaged_data_loads_every_rated_occupation_and_skill(isolated: Path):
    data = load_onet(PACKAGED_ONET_DIR)
    assert len(data.roles) == 879
    assert len(data.skills) == 35
    assert data.skipped_not_relevant == 3302
    assert data.attribution == ONET_ATTRIBUTION


def test_seeding_as_the_demo_does_works_from_an_empty_directory(isolated: Path):
    settings = Settings()
    sessions = session_factory(open_engine(settings.db_url))
    counts = seed(sessions, settings.onet_dir)
    assert counts.skills == 35
    assert counts.roles == len(DEMO_OCCUPATIONS)
    assert counts.employees == 50 and counts.courses > 0
    assert (isolated / "app.db").is_file()
    assert list((isolated / "work").iterdir()) == []


@pytest.mark.skipif(FULL_RELEASE is None, reason="the full O*NET 29.3 release is not here")
def test_packaged_data_loads_exactly_like_the_full_release():
    assert FULL_RELEASE is not None
    assert load_onet(PACKAGED_ONET_DIR) == load_onet(FULL_RELEASE)


@pytest.mark.skipif(FULL_RELEASE is None, reason="the full O*NET 29.3 release is not here")
def test_vendoring_the_release_again_gives_the_same_bytes(tmp_path: Path):
    assert FULL_RELEASE is not None
    vendor(FULL_RELEASE, tmp_path)
    for p in PACKAGED_ONET_DIR.iterdir():
        assert (tmp_path / p.name).read_bytes() == p.read_bytes(), p.name


def test_a_plain_file_wins_over_its_compressed_copy(tmp_path: Path):
    folder = tmp_path / "onet"
    shutil.copytree(PACKAGED_ONET_DIR, folder)
    rows = _read(folder / "Skills.txt.gz")
    ceo = [r for r in rows[1:] if r[0] == "11-1011.00"]
    (folder / "Skills.txt").write_text(
        "\n".join("\t".join(r) for r in [rows[0], *ceo]) + "\n", encoding="utf-8"
    )
    assert find_onet_files(folder)["Skills.txt"] == folder / "Skills.txt"
    data = load_onet(folder)
    assert [r.id for r in data.roles] == ["onet:11-1011.00"]
    assert data.roles[0].title == "Chief Executives"


def test_a_missing_file_raises_one_line_naming_folder_and_file(tmp_path: Path):
    folder = tmp_path / "onet"
    shutil.copytree(PACKAGED_ONET_DIR, folder)
    (folder / "Skills.txt.gz").unlink()
    with pytest.raises(OnetDataMissing) as caught:
        load_onet(folder)
    err = caught.value
    assert isinstance(err, FileNotFoundError)
    assert err.folder == folder and err.missing == "Skills.txt"
    message = str(err)
    assert message == (
        f"O*NET data incomplete: Skills.txt (or Skills.txt.gz) not found in folder {folder}"
    )
    assert pickle.loads(pickle.dumps(err)).missing == "Skills.txt"
    assert "Skills.txt" in message and str(folder) in message
    with pytest.raises(OnetDataMissing, match="does not exist"):
        load_onet(tmp_path / "nowhere")


# (c) The command line: a missing or incomplete folder is a one-line usage error.


@pytest.fixture
def cli_env(isolated: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TALENTLOOP_ONET_DIR", None)
    return env


def test_import_onet_dir_without_skills_exits_2_with_one_line(isolated: Path, cli_env):
    incomplete = isolated / "release"
    shutil.copytree(PACKAGED_ONET_DIR, incomplete)
    (incomplete / "Skills.txt.gz").unlink()
    done = talentloop("import", "onet", "--dir", str(incomplete), cwd=Path.cwd(), env=cli_env)
    assert done.exit_code == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "Skills.txt" in lines[0] and str(incomplete) in lines[0] and "--dir" in lines[0]


def test_seed_with_a_missing_onet_dir_exits_2_with_one_line(isolated: Path, cli_env):
    cli_env["TALENTLOOP_ONET_DIR"] = str(isolated / "nowhere")
    done = talentloop("seed", cwd=Path.cwd(), env=cli_env)
    assert done.exit_code == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "TALENTLOOP_ONET_DIR" in lines[0], done.stderr


def test_import_onet_dir_reads_a_plain_release_folder(isolated: Path, cli_env):
    release = isolated / "release"
    release.mkdir()
    for name in ONET_FILES:
        rows = _read(PACKAGED_ONET_DIR / f"{name}.gz")
        if name == "Skills.txt":
            rows = [rows[0], *(r for r in rows[1:] if r[0] == "15-1211.00")]
        (release / name).write_text("\n".join("\t".join(r) for r in rows) + "\n", encoding="utf-8")
    done = talentloop("import", "onet", "--dir", str(release), cwd=Path.cwd(), env=cli_env)
    assert done.exit_code == 0, done.stderr
    assert "imported 35 skills, 1 roles" in done.stdout
    assert ONET_ATTRIBUTION in done.stdout
