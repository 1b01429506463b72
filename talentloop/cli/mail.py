"""`talentloop mail preview`: render a notification for an employee."""

from __future__ import annotations

from typing import Annotated

import typer

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem

mail = typer.Typer(help="Notification emails.")
app.add_typer(mail, name="mail")


@mail.command("preview")
def mail_preview(
    template: Annotated[str, typer.Argument(help="Template name, e.g. reminder.")],
    employee: Annotated[str, typer.Option(help="Employee id to render it for.")],
    html: Annotated[bool, typer.Option(help="Print the HTML part instead of the text.")] = False,
) -> None:
    """Render one template for an employee (sample courses from the catalog), in their locale."""
    from activities.directory import DirectoryActivities
    from activities.mail.render import MailRenderer, UnknownTemplate
    from activities.store.engine import open_engine, session_factory
    from talentloop.dev.preview import preview_context

    sessions = session_factory(open_engine(load_settings().db_url))
    person = DirectoryActivities(sessions).lookup(employee)
    if person is None:
        raise UsageProblem(f"no employee {employee} in the directory")
    try:
        rendered = MailRenderer().render(template, preview_context(sessions, person), person.locale)
    except UnknownTemplate as err:
        raise UsageProblem(str(err)) from err
    typer.echo(f"Subject: {rendered.subject}\nContent-Language: {rendered.locale}\n")
    typer.echo(rendered.html if html else rendered.text)
