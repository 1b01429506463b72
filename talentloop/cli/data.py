"""`talentloop seed` and `talentloop import onet`: reference and generated data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem

importer = typer.Typer(help="Import reference data.")
app.add_typer(importer, name="import")


@app.command()
def seed(
    employees: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    random_seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """Load O*NET roles and skills; generate a course catalog and employees (marked generated)."""
    from activities.skills.onet import OnetDataMissing, find_onet_files
    from activities.store.engine import open_engine, session_factory
    from talentloop.dev.seed import seed as run_seed

    settings = load_settings()
    try:
        find_onet_files(settings.onet_dir)
    except OnetDataMissing as err:
        raise UsageProblem(f"{err} (TALENTLOOP_ONET_DIR)") from err
    counts = run_seed(
        session_factory(open_engine(settings.db_url)),
        settings.onet_dir,
        employees=employees,
        random_seed=random_seed,
    )
    typer.echo(
        f"seeded {counts.skills} skills and {counts.roles} roles from O*NET; generated "
        f"{counts.courses} courses and {counts.employees} employees"
    )


@importer.command("onet")
def import_onet(
    occupations: Annotated[
        list[str] | None,
        typer.Option("--occupations", help="O*NET-SOC codes (repeatable); default: all."),
    ] = None,
    onet_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="An O*NET release folder (e.g. a newer one from onetcenter.org); "
            "default: TALENTLOOP_ONET_DIR, else the O*NET 29.3 data installed with talentloop.",
        ),
    ] = None,
) -> None:
    """Import O*NET skills and role requirements (LV level, IM importance) into the database."""
    from activities.skills.onet import OnetDataMissing, load_onet
    from activities.store.engine import open_engine, session_factory
    from activities.store.onet_import import sync_onet

    settings = load_settings()
    source = onet_dir if onet_dir is not None else settings.onet_dir
    try:
        data = load_onet(source, occupations or None)
    except OnetDataMissing as err:
        hint = "--dir" if onet_dir is not None else "TALENTLOOP_ONET_DIR"
        raise UsageProblem(f"{err} ({hint})") from err
    if occupations and not data.roles:
        raise UsageProblem(f"none of {', '.join(occupations)} has skill ratings in O*NET")
    report = sync_onet(session_factory(open_engine(settings.db_url)), data, occupations or None)
    requirements = sum(len(r.requirements) for r in data.roles)
    typer.echo(
        f"imported {len(data.skills)} skills, {len(data.roles)} roles and {requirements} "
        f"requirements ({data.skipped_not_relevant} not-relevant rows skipped, "
        f"{data.suppressed} flagged low-precision)"
    )
    typer.echo(f"changes: {report.summary()}")
    for retired in report.roles_retired:
        typer.echo(f"retired (not in this release, held by employees; kept): {retired}")
    typer.echo(data.attribution)
