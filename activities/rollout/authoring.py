"""Objective-set files: YAML or JSON in the shape of ``ObjectiveSet``, checked by the contract.

A file holds one version of an objective set (``id``, ``version``, ``effective_from``,
``objectives``; see ``docs/objectives.md``). It is read as what ``rollout submit`` will publish:
its fields must satisfy the ``objectives.changed.v1`` contract (``ObjectivesChanged``: levels
0-7, priorities 1-5, unique objective ids, no skill twice in one objective, a title per
objective), and the objective set previewed and recorded is the one that event carries. Every
problem is reported as one line naming the file, the line of the offending field and the field.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.events import ObjectivesChanged
from schemas.skills import ObjectiveSet

__all__ = [
    "AuthoredSet",
    "ObjectiveSetFileError",
    "check_references",
    "parse_objective_set",
    "read_objective_set",
    "to_event_data",
]

Loc = tuple[str | int, ...]
"""A field's path in the file, e.g. ("objectives", 1, "requirements", 0, "target")."""

_FILE_TO_EVENT = {"id": "objective_set_id", "target": "target_level"}
_EVENT_TO_FILE = {v: k for k, v in _FILE_TO_EVENT.items()}
_MAX_BYTES = 4 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, dates kept as text: the model checks them, with their line."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


class ObjectiveSetFileError(ValueError):
    """A bad objective-set file: ``FILE:LINE: field: problem`` (the line when it is known)."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        """Keep where and what, for one line of output."""
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


def dotted(loc: Sequence[str | int]) -> str:
    """A path as people write it: ``objectives[1].requirements[0].target``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


@dataclass(frozen=True)
class AuthoredSet:
    """An objective set read from a file, with the line of each of its fields.

    Attributes:
        objective_set: The set, as the ``objectives.changed.v1`` event will carry it.
        source: The file's name, for messages.
        lines: The 1-based line of each field's key (or item) in the file.

    """

    objective_set: ObjectiveSet
    source: str
    lines: Mapping[Loc, int]

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of ``loc``, or of its nearest enclosing field the file locates."""
        return _line_of(self.lines, loc)

    def error(self, loc: Sequence[str | int], problem: str) -> ObjectiveSetFileError:
        """An error about the field at ``loc``."""
        return ObjectiveSetFileError(self.source, self.line_of(loc), f"{dotted(loc)}: {problem}")


def _line_of(lines: Mapping[Loc, int], loc: Sequence[str | int]) -> int | None:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), None)


def _locate(node: yaml.Node, loc: Loc, lines: dict[Loc, int], source: str) -> None:
    """Record the line of every field under ``node``; refuse a key given twice."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            line = key.start_mark.line + 1
            if name in seen:
                raise ObjectiveSetFileError(
                    source, line, f"{dotted((*loc, name))}: key given twice"
                )
            seen.add(name)
            lines[(*loc, name)] = line
            _locate(value, (*loc, name), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _locate(item, (*loc, i), lines, source)


def _jsonable(value: Any) -> Any:
    """YAML's dates as ISO strings, as the event's JSON will carry them."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} given twice")
        out[key] = value
    return out


def _load(text: str, source: str, as_json: bool) -> tuple[Any, dict[Loc, int]]:
    lines: dict[Loc, int] = {}
    if as_json:
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as err:
            raise ObjectiveSetFileError(source, err.lineno, f"not valid JSON: {err.msg}") from err
        except ValueError as err:
            # A duplicate key: the YAML pass below names its line.
            data, problem = None, str(err)
        else:
            problem = ""
        try:
            node = yaml.compose(text, Loader=_Loader)
        except yaml.YAMLError:
            node = None  # valid JSON that YAML 1.1 does not read: no lines, still checked
        if node is not None:
            _locate(node, (), lines, source)
        if problem:
            raise ObjectiveSetFileError(source, None, problem)
        return data, lines
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is not None:
            _locate(node, (), lines, source)
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader: builds no objects
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = err.problem or err.context or "unreadable"
        raise ObjectiveSetFileError(source, line, f"not valid YAML: {problem}") from err
    except yaml.YAMLError as err:
        raise ObjectiveSetFileError(source, None, f"not valid YAML: {err}") from err
    return data, lines


def _first_error(err: ValidationError, rename: Mapping[str, str]) -> tuple[Loc, str]:
    first = err.errors()[0]
    loc = tuple(rename.get(p, p) if isinstance(p, str) else p for p in first["loc"])
    msg = str(first["msg"])
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    return loc, msg


def _duplicates(data: Mapping[str, Any]) -> tuple[Loc, str] | None:
    """The first repeated objective id, or skill within one objective (the contract's rules)."""
    objectives = data.get("objectives")
    if not isinstance(objectives, list):
        return None
    ids: set[str] = set()
    for i, obj in enumerate(objectives):
        if not isinstance(obj, dict):
            continue
        oid = obj.get("id")
        if isinstance(oid, str):
            if oid in ids:
                return (("objectives", i, "id"), f"objective id {oid!r} repeats an earlier one")
            ids.add(oid)
        skills: set[str] = set()
        reqs = obj.get("requirements")
        for j, req in enumerate(reqs if isinstance(reqs, list) else []):
            sid = req.get("skill_id") if isinstance(req, dict) else None
            if isinstance(sid, str):
                if sid in skills:
                    loc: Loc = ("objectives", i, "requirements", j, "skill_id")
                    return loc, f"skill {sid!r} is required twice by this objective"
                skills.add(sid)
    return None


def to_event_data(objective_set: ObjectiveSet) -> ObjectivesChanged:
    """The ``objectives.changed.v1`` data that publishes ``objective_set``."""
    body = objective_set.model_dump(mode="json")
    for obj in body["objectives"]:
        if float(obj["priority"]).is_integer():  # the contract's priorities are whole numbers
            obj["priority"] = int(obj["priority"])
    return ObjectivesChanged.model_validate_json(json.dumps(_rename(body, _FILE_TO_EVENT)))


def _rename(value: Any, names: Mapping[str, str], top: bool = True, req: bool = False) -> Any:
    """File field names to the event's: ``id`` of the set and ``target`` of a requirement."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = k
            if (top and k in ("id", "objective_set_id")) or (
                req and k in ("target", "target_level")
            ):
                key = names.get(k, k)
            out[key] = _rename(v, names, top=False, req=k == "requirements")
        return out
    if isinstance(value, list):
        return [_rename(v, names, top=False, req=req) for v in value]
    return value


def parse_objective_set(text: str, source: str, *, as_json: bool = False) -> AuthoredSet:
    """Read an objective set from a file's text.

    Args:
        text: The file's content.
        source: The file's name, for messages.
        as_json: Read the text as JSON (else YAML; a JSON document is YAML too).

    Returns:
        The set as the ``objectives.changed.v1`` event will carry it, with each field's line.

    Raises:
        ObjectiveSetFileError: The first problem, with its line.

    """
    data, lines = _load(text, source, as_json)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ObjectiveSetFileError(
            source,
            1,
            f"an objective set is a mapping with id, version, effective_from and objectives; "
            f"the file is {kind}",
        )
    data = _jsonable(data)
    # The file's own shape first (its field names), then the contract's rules.
    try:
        ObjectiveSet.model_validate_json(json.dumps(data))
    except ValidationError as err:
        loc, msg = _first_error(err, {})
        raise ObjectiveSetFileError(source, _line_of(lines, loc), f"{dotted(loc)}: {msg}") from err
    repeated = _duplicates(data)
    if repeated is not None:
        loc, msg = repeated
        raise ObjectiveSetFileError(source, _line_of(lines, loc), f"{dotted(loc)}: {msg}")
    try:
        event = ObjectivesChanged.model_validate_json(json.dumps(_rename(data, _FILE_TO_EVENT)))
    except ValidationError as err:
        loc, msg = _first_error(err, _EVENT_TO_FILE)
        raise ObjectiveSetFileError(source, _line_of(lines, loc), f"{dotted(loc)}: {msg}") from err
    return AuthoredSet(objective_set=event.to_objective_set(), source=source, lines=lines)


def read_objective_set(path: Path) -> AuthoredSet:
    """Read an objective-set file: ``.json`` as JSON, anything else as YAML.

    Raises:
        ObjectiveSetFileError: The file cannot be read, or the first problem in it.

    """
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ObjectiveSetFileError(source, None, f"cannot read: {err.strerror}") from err
    if len(raw) > _MAX_BYTES:
        raise ObjectiveSetFileError(source, None, f"larger than {_MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ObjectiveSetFileError(source, None, "not UTF-8 text") from err
    return parse_objective_set(text, source, as_json=path.suffix.lower() == ".json")


def check_references(
    authored: AuthoredSet, skills: Collection[str], roles: Collection[str]
) -> None:
    """Refuse a set naming a skill or a role the directory does not hold.

    Args:
        authored: The set read from its file.
        skills: The skill ids of the framework.
        roles: The role ids of the directory.

    Raises:
        ObjectiveSetFileError: The first unknown skill or role, with its line.

    """
    for i, obj in enumerate(authored.objective_set.objectives):
        for k, role in enumerate(obj.roles):
            if role not in roles:
                raise authored.error(
                    ("objectives", i, "roles", k), f"role {role!r} is not in the directory"
                )
        for j, req in enumerate(obj.requirements):
            if req.skill_id not in skills:
                raise authored.error(
                    ("objectives", i, "requirements", j, "skill_id"),
                    f"skill {req.skill_id!r} is not in the skills framework",
                )
