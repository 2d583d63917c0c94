"""Run a user's pipeline script and write its result as tagged JSON (executed as a separate process).

Usage: python _runner.py SCRIPT (var NAME | file PATH) OUT.json
       python _runner.py --serve MODULE,MODULE,...   (fork server, see :func:`serve`)

This file is run by path in a child process, never imported by the rewriter, and imports nothing from it:
the script runs with its own folder first on ``sys.path`` and its working directory set by the caller.
Exit codes: 0 result written, 1 the script raised, 3 the result variable is missing or has no tabular shape.
"""
import builtins
import datetime
import decimal
import json
import math
import os
import sys
import traceback
import types


def encode(value):
    """A JSON value for one cell; non-JSON types become {"$": tag, "v": text}."""
    module = type(value).__module__
    if value is None:
        return None
    if module == "numpy":
        if type(value).__name__ == "datetime64":
            if value != value:
                return None
            value = value.astype("datetime64[us]").item()
        elif type(value).__name__ == "timedelta64":
            if value != value:
                return None
            value = value.astype("timedelta64[us]").item()
        elif hasattr(value, "item"):
            value = value.item()
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$": "float", "v": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$": "time", "v": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"$": "timedelta", "v": value.total_seconds()}
    if isinstance(value, decimal.Decimal):
        return {"$": "decimal", "v": str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"$": "bytes", "v": bytes(value).hex()}
    if isinstance(value, (list, tuple)):
        return {"$": "list", "v": [encode(v) for v in value]}
    if module == "numpy" or type(value).__name__ == "ndarray":
        return {"$": "list", "v": [encode(v) for v in value.tolist()]}
    return {"$": "repr", "v": str(value)}


def _frame(frame):
    """A DataFrame's columns and rows, with the index levels that carry data as leading columns: named levels
    (groupby without reset_index) unless a column of that name holds them already (set_index(..., drop=False)),
    and an unnamed index of text or dates (``pd.Series(totals_by_customer)``: the keys, named ``key`` by us).
    Unnamed levels of a MultiIndex (row positions, as groupby().apply() leaves them) and an unnamed integer index
    (positions, or a filtered frame's) are dropped."""
    named = [n for n in frame.index.names if n is not None]
    moved = [n for n in named if not _held_by_column(frame, n)]
    known = True
    if moved:
        clashing = [str(n) in {str(c) for c in frame.columns} for n in moved]
        frame = frame.reset_index(level=moved, allow_duplicates=True)
        if any(clashing):  # a key named like a measure: the SQL may name it otherwise
            known = [not c for c in clashing] + [True] * (len(frame.columns) - len(moved))
    elif not named and frame.index.nlevels == 1 and frame.index.dtype.kind in "OUSMm":
        taken, name = {str(c) for c in frame.columns}, "key"
        while name in taken:
            name = "_" + name
        frame = frame.reset_index(names=name)
        known = [False] + [True] * (len(frame.columns) - 1)  # the keys' name is ours, not the script's
    columns = ["_".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    return columns, [list(r) for r in frame.itertuples(index=False, name=None)], known


def _held_by_column(frame, level) -> bool:
    """Whether a column of the level's name holds the level's values (set_index(k, drop=False)); a column that
    only shares the name (``groupby(pd.cut(df.amount, ..))["amount"].sum()``) does not."""
    if list(frame.columns).count(level) != 1:
        return False
    values = list(frame.index.get_level_values(level))
    return all(a == b or (a != a and b != b) for a, b in zip(values, frame[level].tolist()))


def tabulate(value):
    """(columns, rows, names_known) for a DataFrame, Series, array, list of rows or dict; ``names_known`` is
    one bool for all columns, or one per column where only some names are the script's own (a dict's keys,
    an unnamed Series' values)."""
    kind = type(value).__module__.split(".")[0] + "." + type(value).__name__
    if kind == "pandas.DataFrame":
        return _frame(value)
    if kind == "pandas.Series":
        if value.name is not None:
            return _frame(value.to_frame())
        columns, rows, known = _frame(value.to_frame(name="value"))
        known = list(known) if isinstance(known, list) else [known] * len(columns)
        return columns, rows, known[:-1] + [False]  # "value" is our name, not the script's
    if kind == "polars.DataFrame":
        return list(value.columns), [list(r) for r in value.rows()], True
    if kind == "numpy.ndarray":
        if value.dtype.names:
            return list(value.dtype.names), [list(r) for r in value.tolist()], True
        if value.ndim == 1:
            return ["c1"], [[v] for v in value.tolist()], False
        if value.ndim == 2:
            return [f"c{i + 1}" for i in range(value.shape[1])], value.tolist(), False
        raise TypeError(f"a {value.ndim}-dimensional array is not a table")
    if isinstance(value, dict):
        if value and all(isinstance(item, dict) for item in value.values()):
            # a dict of dicts: the inner keys of all items (in order of first appearance), looked up by key,
            # as for a list of dicts: inner dicts may list their keys in other orders or lack some
            inner = list(dict.fromkeys(k for item in value.values() for k in item))
            return (["key", *map(str, inner)], [[key, *(item.get(k) for k in inner)] for key, item in value.items()],
                    [False] + [True] * len(inner))  # the keys' column has no name in the script
        rows, names_known, columns = [], False, None
        lengths = {len(item) for item in value.values() if isinstance(item, list)}
        if len(lengths) > 1 and all(isinstance(item, list) for item in value.values()):
            # lists of different lengths (a defaultdict(list) of members): each key's list is one value
            return ["c1", "c2"], [[key, item] for key, item in value.items()], False
        for key, item in value.items():
            if isinstance(item, dict):
                columns = columns or ["key", *map(str, item)]
                names_known = [False] + [True] * len(item)  # the keys' column has no name in the script
                rows.append([key, *item.values()])
            elif isinstance(item, (list, tuple)):
                rows.append([key, *item])
            else:
                rows.append([key, item])
        width = max((len(r) for r in rows), default=2)
        return columns or [f"c{i + 1}" for i in range(width)], rows, names_known
    if isinstance(value, (list, tuple, set, frozenset)) or hasattr(value, "__next__"):
        items = list(value)
        if items and all(isinstance(i, dict) for i in items):
            columns = list(dict.fromkeys(str(k) for i in items for k in i))
            return columns, [[i.get(c) for c in columns] for i in items], True
        rows = [list(i) if isinstance(i, (list, tuple)) else [i] for i in items]
        if items and all(hasattr(i, "_fields") for i in items):
            return list(items[0]._fields), rows, True
        width = max((len(r) for r in rows), default=1)
        return [f"c{i + 1}" for i in range(width)], rows, False
    return _scalar(value)


def _scalar(value):
    """A single value (a total, a count) as a one-row table; None and objects that are no value at all (a
    figure, a file handle) are refused: ``result = df.to_csv(...)`` holds None, and reading it as the row
    [None] would let ``SELECT NULL`` pass as its rewrite."""
    if value is None:
        raise TypeError("a call such as df.to_csv(...) returns None, not the data it writes")
    encoded = encode(value)
    if isinstance(encoded, dict) and encoded.get("$") == "repr":
        raise TypeError("no table, list, dict or single value")
    return ["c1"], [[value]], False


def column_reading(value):
    """A dict of equal-length sequences keyed by names (``{"cid": [...], "total": [...]}``, what
    ``pd.DataFrame(d)`` reads) read column by column: (columns, rows), or None. ``tabulate`` reads such a dict
    row by row (``{cid: [count, total]}`` accumulators are as common); the comparison takes this reading
    when the SQL result's columns are the dict's keys."""
    if not isinstance(value, dict) or not value or not all(isinstance(k, str) for k in value):
        return None
    columns = []
    for item in value.values():
        kind = type(item).__module__.split(".")[0] + "." + type(item).__name__
        if isinstance(item, (list, tuple)):
            columns.append(list(item))
        elif kind in ("numpy.ndarray", "pandas.Series") and getattr(item, "ndim", 1) == 1:
            columns.append(item.tolist())
        else:
            return None
    if len({len(c) for c in columns}) != 1:
        return None
    return list(value), [list(row) for row in zip(*columns)]


def _script_error(script):
    kind, error, tb = sys.exc_info()
    line = None
    for frame in traceback.extract_tb(tb):
        if os.path.abspath(frame.filename) == os.path.abspath(script):
            line = frame.lineno
    text = f"{kind.__name__}: {error}".strip().splitlines()[0] if str(error) else kind.__name__
    return {"error": text[:300], "line": line}


def _write(out, payload):
    with open(out, "w") as handle:
        json.dump(payload, handle)


def execute(script, mode, target, out):
    """Run the script and write its result (or why there is none) to ``out``; returns the exit code."""
    sys.argv = [script]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    if not hasattr(builtins, "display"):  # Jupyter's, which notebooks (and scripts exported from them) call
        builtins.display = lambda *values, **options: print(*values)
    module = types.ModuleType("__main__")
    module.__file__, module.__builtins__ = script, builtins
    saved, sys.modules["__main__"] = sys.modules.get("__main__"), module
    try:
        with open(script, "rb") as handle:
            exec(compile(handle.read(), script, "exec"), module.__dict__)
    except SystemExit as error:  # exit(0) at the end of a script: its variables are still there
        if error.code not in (None, 0):
            _write(out, {"error": f"the script called exit({error.code!r})", "line": None})
            return 1
    except BaseException:
        _write(out, _script_error(script))
        return 1
    finally:
        sys.modules["__main__"] = saved
    namespace = module.__dict__
    if mode != "var":
        _write(out, {"ok": True})
        return 0
    if target not in namespace:
        names = sorted(k for k, v in namespace.items() if not k.startswith("_") and not callable(v)
                       and type(v).__name__ != "module")
        _write(out, {"missing": target, "variables": names[:30]})
        return 3
    try:
        columns, rows, names_known = tabulate(namespace[target])
        payload = {"columns": columns, "names_known": names_known, "kind": type(namespace[target]).__name__,
                   "rows": [[encode(v) for v in row] for row in rows]}
        by_columns = column_reading(namespace[target])
        if by_columns is not None:
            payload["by_columns"] = {"columns": by_columns[0],
                                     "rows": [[encode(v) for v in row] for row in by_columns[1]]}
    except Exception as error:  # the value has no tabular shape
        _write(out, {"shape": f"{type(namespace[target]).__name__}: {error}"})
        return 3
    _write(out, payload)
    return 0


def serve(modules):
    """Fork server: import the script's libraries once, then fork a fresh child per run request.

    Requests arrive as JSON lines on stdin ({"cwd", "script", "mode", "target", "out", "log"}); for each, one
    line {"pid": N} is written when the child starts and one line {"status": CODE} when it has ended (a child
    killed by a signal reports -SIGNAL). The child leads its own process group, so the caller can kill it and
    everything it started.
    """
    import importlib

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # nothing the libraries print may reach the protocol channel
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException:  # the script will meet the same error itself, in its own run
            pass
    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                os.setsid()
                os.chdir(request["cwd"])
                log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(log, 1)
                os.dup2(log, 2)
                sys.stdin = open(os.devnull)
                code = execute(request["script"], request["mode"], request["target"], request["out"])
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        protocol.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        protocol.write(json.dumps({"status": code}) + "\n")


def main():
    if sys.argv[1] == "--serve":
        serve([m for m in sys.argv[2].split(",") if m])
        return
    script, mode, target, out = sys.argv[1:5]
    sys.exit(execute(script, mode, target, out))


if __name__ == "__main__":
    main()
