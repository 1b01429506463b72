"""The application shell's one error hierarchy: what the CLI prints as one line, no traceback.

``TalentloopError`` is an expected failure of a command (a server that does not answer, a
deployment step that failed); ``UsageProblem`` is bad input from the user. Anything else that
reaches the CLI is a bug and keeps its traceback.
"""

from __future__ import annotations


class TalentloopError(Exception):
    """An expected failure: printed as ``talentloop: <message>``, exit code 1."""


class UsageProblem(TalentloopError):
    """Bad input from the user (an argument, a file, a setting): exit code 2."""


class SetupError(TalentloopError):
    """A step of ``talentloop setup`` failed (topics, search attributes, Schedules, migrations)."""
