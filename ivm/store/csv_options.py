"""DuckDB ``read_csv`` options for loading sources (``ivm load --csv KEY=VALUE``, ``load(..., csv={...})``).

A pipeline that read its files with ``sep=';'``, decimal commas, ``NA`` markers or day-first dates must be
loaded the same way, or the views see other values than the code did. Options are passed to DuckDB's
``read_csv`` as named parameters (``delim``, ``decimal_separator``, ``nullstr``, ``dateformat``, ``types``,
...; DuckDB rejects names it does not know). Values are literals only: strings, numbers, booleans, NULL,
and lists or maps of them, rendered here, so an option cannot carry SQL into the load statement.
"""
from __future__ import annotations

import math
import numbers
import re
from typing import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ivm.errors import IvmError
from ivm.sql import DIALECT

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INTEGER = re.compile(r"-?\d+\Z")
# options whose value is a boolean or a number; the others take text ("nullstr=-999" is the text -999)
_TYPED = {"all_varchar", "allow_quoted_nulls", "auto_detect", "buffer_size", "filename", "header",
          "hive_partitioning", "hive_types_autocast", "ignore_errors", "max_line_size", "maximum_line_size",
          "normalize_names", "null_padding", "parallel", "rejects_limit", "sample_size", "skip", "store_rejects",
          "strict_mode", "union_by_name"}


def named_parameters(options: Mapping[str, object]) -> list[str]:
    """``key = literal`` for each option, in order."""
    if not isinstance(options, Mapping):
        raise IvmError(f"csv options are a mapping such as {{'delim': ';'}}, not {type(options).__name__} "
                       f"{str(options)[:40]!r}")
    return [f"{_key(key)} = {_value(value, key)}" for key, value in options.items()]


def parse_cli(spec: str) -> tuple[str, object]:
    """``KEY=VALUE`` from the command line. VALUE is text (``nullstr=-999`` is the text ``-999``) unless it is a
    quoted SQL string (``';'``) or a list/map literal (``['NA', '']``, ``{'amount': 'DOUBLE'}``), or the option
    takes a boolean or a number (``header=false``, ``skip=2``)."""
    key, separator, text = spec.partition("=")
    key = key.strip()
    if not separator or not key:
        raise IvmError(f"--csv expects KEY=VALUE (a DuckDB read_csv option such as delim=';'); got {spec!r}")
    _key(key)
    lowered = text.strip().lower()
    if key.lower() in _TYPED and lowered in ("true", "false"):
        return key, lowered == "true"
    if key.lower() in _TYPED and _INTEGER.match(lowered):
        return key, int(lowered)
    if text.strip()[:1] in ("'", "[", "{"):
        try:
            return key, _python(sqlglot.parse_one(text, read=DIALECT), key)
        except SqlglotError:
            raise IvmError(f"--csv {key}: cannot read {text!r} as a literal") from None
    return key, text


def _key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise IvmError(f"CSV option name {key!r} is not a plain name (letters, digits, underscores)")
    return key.lower()


def _value(value, key: str) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):  # numpy floats too; rendered from the float, not the object's repr
        if not math.isfinite(float(value)):
            raise IvmError(f"CSV option {key}: {value} is not a finite number")
        return repr(float(value))
    if isinstance(value, str):
        return exp.Literal.string(value).sql(dialect=DIALECT)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item, key) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_value(str(k), key)}: {_value(v, key)}" for k, v in value.items()) + "}"
    raise IvmError(f"CSV option {key}: a {type(value).__name__} value is not supported "
                   "(use a string, number, boolean, or a list or dict of them)")


def _python(node: exp.Expression, key: str):
    """The Python value of a literal expression; anything else (a function call, a subquery) is refused."""
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        return float(node.this) if any(c in node.this for c in ".eE") else int(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return -_python(node.this, key)
    if isinstance(node, exp.Array):
        return [_python(item, key) for item in node.expressions]
    if isinstance(node, exp.Struct) and all(isinstance(item, exp.PropertyEQ)
                                            and isinstance(item.this, (exp.Identifier, exp.Literal))
                                            for item in node.expressions):
        return {str(item.this.this): _python(item.expression, key) for item in node.expressions}
    raise IvmError(f"--csv {key}: only literals are allowed (strings, numbers, booleans, lists and maps); "
                   f"got {node.sql(dialect=DIALECT)!r}")
