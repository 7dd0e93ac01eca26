"""Turn pydantic validation errors into messages that name the file, the record and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError


def _record_name(raw: Any, loc: tuple) -> tuple[str, tuple]:
    """Split a pydantic location into a human record name and the field path inside it."""
    if len(loc) >= 2 and loc[0] in ("arms", "contrasts") and isinstance(loc[1], int):
        items = raw.get(loc[0]) if isinstance(raw, dict) else None
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        if loc[0] == "arms":
            name = item.get("id") if isinstance(item, dict) else None
            label = f"arm '{name}'" if name else f"arm #{loc[1] + 1}"
        else:
            label = f"contrast #{loc[1] + 1}"
            if isinstance(item, dict):
                label += (f" ({item.get('endpoint')}: {item.get('experimental')} vs "
                          f"{item.get('reference')})")
        return label, loc[2:]
    if len(loc) >= 2 and loc[0] == "regimens":
        return f"regimen '{loc[1]}'", loc[2:]
    return "trial", loc


def format_validation_error(path: Path, exc: ValidationError, raw: Any) -> str:
    """One line per problem: ``file: record: field: message (got value)``."""
    trial = raw.get("trial") if isinstance(raw, dict) else None
    lines = []
    for err in exc.errors():
        record, field_loc = _record_name(raw, tuple(err["loc"]))
        field = ".".join(str(p) for p in field_loc) or "(record)"
        where = f"{path}: {trial + ': ' if trial else ''}{record}: field '{field}'"
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {value!r})"
        lines.append(f"{where}: {message}{shown}")
    return "\n".join(lines)


def citation_text(c) -> str:
    """'Authors. Title. Journal Year.' leaving out the parts a record does not have."""
    parts = [c.authors, c.title, " ".join(str(x) for x in (c.journal, c.year) if x)]
    return " ".join(f"{p.rstrip('.')}." for p in parts if p)
