"""The model's answer: the JSON object the prompts ask for, parsed and shape-checked.

``{"views": ["CREATE VIEW ... AS SELECT ...", ...], "result_view": "name", "udfs": [...], "notes": "..."}``

``udfs`` entries are either a function name of the user's script or ``{"name", "params", "returns"}`` with
DuckDB types. Anything else is a :class:`~rewriter.errors.Problem` of kind ``answer``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from rewriter.errors import Problem

FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n\s*```\s*$", re.S)


@dataclass(frozen=True)
class Answer:
    views: tuple[str, ...]
    result_view: str
    udfs: tuple
    notes: str


def parse_answer(content: str | None) -> Answer:
    """Parse one response's content.

    Example:
        >>> a = parse_answer('```json\\n{"views": ["CREATE VIEW r AS SELECT 1 AS x"], "result_view": "R"}\\n```')
        >>> a.result_view, a.udfs, a.views[0]
        ('r', (), 'CREATE VIEW r AS SELECT 1 AS x')
    """
    if not content or not content.strip():
        raise Problem("answer", "the answer was empty; reply with the JSON object only")
    text = content.strip()
    fenced = FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[start:end + 1]) if 0 <= start < end else None
        except ValueError:
            data = None
        if data is None:
            raise Problem("answer", "the answer is not a JSON object; reply with the JSON object only, "
                                    'shaped {"views": [...], "result_view": "...", "udfs": [...], "notes": "..."}') from None
    if not isinstance(data, dict):
        raise Problem("answer", "the answer must be a JSON object, not a " + type(data).__name__)
    views = data.get("views")
    if isinstance(views, str):
        views = [views]
    if not isinstance(views, list) or not views or not all(isinstance(v, str) and v.strip() for v in views):
        raise Problem("answer", '"views" must be a non-empty list of CREATE VIEW statements (strings)')
    result_view = data.get("result_view")
    if not isinstance(result_view, str) or not result_view.strip():
        raise Problem("answer", '"result_view" must name the view that holds the final result')
    udfs = data.get("udfs") or []
    if not isinstance(udfs, list) or not all(isinstance(u, (str, dict)) for u in udfs):
        raise Problem("answer", '"udfs" must be a list of function names (or {"name", "params", "returns"} objects)')
    notes = data.get("notes") or ""
    return Answer(views=tuple(v.strip().rstrip(";").strip() for v in views),
                  result_view=result_view.strip().strip('"').lower(), udfs=tuple(udfs),
                  notes=notes if isinstance(notes, str) else json.dumps(notes))
