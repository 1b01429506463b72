"""Rendering notification emails from the jinja2 templates (HTML and plain text)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True)
class RenderedMail:
    """A rendered email: subject, plain text and HTML bodies."""

    subject: str
    text: str
    html: str


class MailRenderer:
    """Renders `<name>.subject.j2`, `<name>.txt.j2` and `<name>.html.j2` templates."""

    def __init__(self, templates_dir: Path = DEFAULT_TEMPLATES) -> None:
        """Load templates from `templates_dir`."""
        loader = FileSystemLoader(str(templates_dir))
        self._html = Environment(
            loader=loader, autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined
        )
        self._text = Environment(loader=loader, autoescape=False, undefined=StrictUndefined)

    def render(self, template: str, context: dict[str, Any]) -> RenderedMail:
        """Render the three parts of `template` with `context`."""
        subject = self._text.get_template(f"{template}.subject.j2").render(context)
        return RenderedMail(
            subject=" ".join(subject.split()),
            text=self._text.get_template(f"{template}.txt.j2").render(context),
            html=self._html.get_template(f"{template}.html.j2").render(context),
        )
