"""Rendering notification emails from the jinja2 templates (HTML and plain text).

Templates live in ``templates/<locale>/<name>.{subject,txt,html}.j2`` and extend the shared
layouts ``templates/layout.{txt,html}.j2``. A locale such as ``de-CH`` falls back to ``de``,
then to English.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

import templates

DEFAULT_TEMPLATES = Path(templates.__file__).resolve().parent
FALLBACK_LOCALE = "en"


@dataclass(frozen=True)
class RenderedMail:
    """A rendered email: subject, plain text and HTML bodies, and the locale used."""

    subject: str
    text: str
    html: str
    locale: str


class UnknownTemplate(LookupError):
    """No template of that name exists, in any locale."""


def _candidates(locale: str) -> list[str]:
    parts = locale.replace("_", "-").split("-")
    out = ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]
    return [*dict.fromkeys([*out, FALLBACK_LOCALE])]


class MailRenderer:
    """Renders the subject, text and HTML parts of a template in the best available locale."""

    def __init__(self, templates_dir: Path = DEFAULT_TEMPLATES) -> None:
        """Load templates from `templates_dir`."""
        loader = FileSystemLoader(str(templates_dir))
        self._html = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
        self._text = Environment(loader=loader, autoescape=False, undefined=StrictUndefined)
        self._dir = templates_dir

    def templates(self) -> list[str]:
        """The template names available in the fallback locale."""
        return sorted(
            p.name.removesuffix(".subject.j2")
            for p in (self._dir / FALLBACK_LOCALE).glob("*.subject.j2")
        )

    def _locale_for(self, template: str, locale: str) -> str:
        for candidate in _candidates(locale):
            if (self._dir / candidate / f"{template}.subject.j2").is_file():
                return candidate
        raise UnknownTemplate(f"no template {template!r} (known: {', '.join(self.templates())})")

    def render(self, template: str, context: dict[str, Any], locale: str = "en") -> RenderedMail:
        """Render the three parts of `template` with `context` in `locale` (or a fallback)."""
        chosen = self._locale_for(template, locale)
        ctx = {**context, "locale": chosen}
        try:
            subject = self._text.get_template(f"{chosen}/{template}.subject.j2").render(ctx)
            text = self._text.get_template(f"{chosen}/{template}.txt.j2").render(ctx)
            html = self._html.get_template(f"{chosen}/{template}.html.j2").render(ctx)
        except TemplateNotFound as err:
            raise UnknownTemplate(f"template part missing: {err.name}") from err
        return RenderedMail(subject=" ".join(subject.split()), text=text, html=html, locale=chosen)
