"""Parse and check user SQL before anything touches the database.

Two kinds of input arrive from users: files of ``CREATE VIEW name AS SELECT ...`` statements and deletion
predicates (``--where``). Both are parsed with sqlglot and refused with an :class:`IvmError` when they are
not what they claim to be: a predicate that smuggles a second statement, a view that writes, a view whose
result would change on every run.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.tokens import TokenType

from ivm.errors import IvmError
from ivm.plan.order import order_dependence
from ivm.sql import DIALECT, INTERNAL_SCHEMA, RAW_SCHEMA

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its warnings are not messages for our users

# Functions whose result differs between runs: a view using them has no single "full recompute" to equal.
NONDETERMINISTIC = {
    "random", "rand", "setseed", "uuid", "gen_random_uuid", "uuidv4", "uuidv7", "now", "current_timestamp",
    "current_date", "current_time", "get_current_timestamp", "get_current_time", "today", "localtimestamp",
    "localtime", "current_localtime", "transaction_timestamp", "current_localtimestamp", "nextval", "currval", "setval",
    "txid_current", "current_transaction_id", "current_query", "current_query_id", "current_connection_id",
    "getvariable", "vector_type", "stats",
}
NONDETERMINISTIC_NODES = (exp.Rand, exp.Uuid, exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime)
# ... of which these are fixed for a whole transaction (DuckDB's clock reads the transaction's start), so a
# deletion predicate may use them: ``day < current_date - 30`` is one retention rule, evaluated once.
TRANSACTION_TIME = {
    "now", "current_timestamp", "current_date", "current_time", "get_current_timestamp", "get_current_time",
    "today", "localtimestamp", "localtime", "current_localtime", "transaction_timestamp", "current_localtimestamp",
}
TRANSACTION_TIME_NODES = (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime)

# Table functions and scalar functions that reach outside the database.
EXTERNAL_ACCESS = {
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_ndjson", "read_text", "read_blob", "glob", "sniff_csv", "getenv",
    "iceberg_scan", "delta_scan", "sqlite_scan", "postgres_scan", "mysql_scan", "read_xlsx",
}
# ... and the families they belong to (read_single_csv_file, read_duckdb, parquet_metadata, ...)
EXTERNAL_PREFIXES = ("read_", "parquet_", "iceberg_", "delta_", "sqlite_", "postgres_", "mysql_", "sniff_",
                     "arrow_scan", "python_arrow_scan", "pandas_scan")
# Functions that change DuckDB's state or write files (profiling and log output, checkpoints, the grammar).
SIDE_EFFECTS = {"write_log", "truncate_duckdb_logs", "checkpoint", "force_checkpoint", "add_grammar_extension",
                "remove_grammar_extension"}
SIDE_EFFECT_PREFIXES = ("enable_", "disable_")
# Functions that run SQL or name tables given as strings: what they read is known only when they run.
DYNAMIC_SQL = {"query", "query_table", "json_execute_serialized_sql"}

WRITING_NODES = (exp.Insert, exp.Update, exp.Delete, exp.Drop, exp.Create, exp.Alter, exp.Command,
                 exp.Merge, exp.Copy, exp.Attach, exp.Detach, exp.Use, exp.Pragma, exp.Set, exp.Transaction,
                 exp.TruncateTable, exp.LoadData)


@dataclass(frozen=True)
class ViewDefinition:
    """One ``CREATE VIEW`` statement: the view's name, its query, and the SQL text it came from."""

    name: str
    query: exp.Query
    sql: str
    replace: bool = False  # CREATE OR REPLACE VIEW: a deployed view of that name is redefined


def function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return ""


def check_read_only(tree: exp.Expression, what: str, *, clock: bool = False) -> None:
    """Refuse anything in ``tree`` that writes, reaches outside the database, or is non-deterministic
    (``clock``: except the transaction's time, see :data:`TRANSACTION_TIME`)."""
    for node in tree.walk():
        if isinstance(node, WRITING_NODES):
            raise IvmError(f"{what} may only read data; found a {node.key.upper()} statement")
        if clock and (isinstance(node, TRANSACTION_TIME_NODES) or function_name(node) in TRANSACTION_TIME):
            continue
        if isinstance(node, NONDETERMINISTIC_NODES) or function_name(node) in NONDETERMINISTIC:
            raise IvmError(f"{what} uses the non-deterministic function {node.sql(dialect=DIALECT)}; "
                           "ivm needs the same result on every run")
        if _reads_catalog(node):
            raise IvmError(f"{what} reads DuckDB's catalog or settings ({node.sql(dialect=DIALECT)[:60]}), which "
                           "change outside the source tables; ivm could not keep it equal to a recompute")
        if function_name(node) in DYNAMIC_SQL:
            raise IvmError(f"{what} calls {function_name(node)}(), which names its tables in a string that ivm "
                           "cannot follow; name them in FROM instead")
        if function_name(node) in SIDE_EFFECTS or function_name(node).startswith(SIDE_EFFECT_PREFIXES):
            raise IvmError(f"{what} calls {function_name(node)}(), which changes DuckDB's state or writes files; "
                           "it may only read data")
        if function_name(node) in EXTERNAL_ACCESS or function_name(node).startswith(EXTERNAL_PREFIXES):
            raise IvmError(f"{what} calls {function_name(node)}(), which reads outside the database; "
                           "load the data as a source table with `ivm load` instead")
        if isinstance(node, exp.TableSample) and node.args.get("seed") is None:
            raise IvmError(f"{what} samples rows without a seed ({node.sql(dialect=DIALECT).strip()}); "
                           "ivm needs the same result on every run: add a seed, e.g. USING SAMPLE 10% (bernoulli, 42)")
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Literal):
            raise IvmError(f"{what} reads the file {node.this.sql()}; load it with `ivm load` instead")


# Functions reading the database's catalog, its settings or the session: their result changes when a view is
# deployed, a setting changes or the file is copied, none of which is a deletion from a source.
CATALOG_FUNCTIONS = {
    "current_setting", "current_database", "current_catalog", "current_schema", "current_schemas",
    "current_user", "session_user", "user", "has_table_privilege", "has_schema_privilege",
    "col_description", "obj_description", "pg_get_viewdef", "pg_get_constraintdef", "pg_table_is_visible",
    "pg_has_role", "pg_size_pretty", "which_secret", "checkpoint", "force_checkpoint", "get_block_size",
    "in_search_path",
}
CATALOG_SCHEMAS = {"information_schema", "pg_catalog"}


def _reads_catalog(node: exp.Expression) -> bool:
    name = function_name(node)
    if name in CATALOG_FUNCTIONS or name.startswith(("duckdb_", "pragma_")):
        return True
    return isinstance(node, exp.Table) and (node.text("db").lower() in CATALOG_SCHEMAS
                                            or node.text("catalog").lower() == "system")


_OPERATORS = {"EQ": "=", "NEQ": "<>", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "Add": "+", "Sub": "-",
              "Mul": "*", "Div": "/", "And": "AND", "Or": "OR", "Not": "NOT", "Like": "LIKE", "ILike": "ILIKE"}


def typed_literals_parenthesised(text: str) -> str:
    """``DATE '2024-03-10'::VARCHAR`` as ``(DATE '2024-03-10')::VARCHAR``, which is how DuckDB reads it; sqlglot
    reads ``DATE ('2024-03-10'::VARCHAR)``, a DATE where DuckDB has a VARCHAR (the same for TIMESTAMP, TIME,
    INTEGER, BLOB, ... literals; INTERVAL it reads right). Found by tokens, so strings and comments are safe.

    Example:
        >>> typed_literals_parenthesised("SELECT DATE '2024-03-10'::VARCHAR, x::DATE, CAST(y AS DATE) FROM t")
        "SELECT (DATE '2024-03-10')::VARCHAR, x::DATE, CAST(y AS DATE) FROM t"
    """
    if "::" not in text:  # no cast to rewrite (most predicates): saves a tokenizer pass per deletion
        return text
    try:
        tokens = _DUCKDB.tokenize(text)
    except SqlglotError:
        return text  # the parser says what is wrong
    types = _DUCKDB.parser_class.TYPE_TOKENS - {TokenType.INTERVAL}
    edits = []
    for before, kind, literal, cast in zip([None, *tokens], tokens, tokens[1:], tokens[2:]):
        if kind.token_type in types and literal.token_type == TokenType.STRING and cast.token_type == TokenType.DCOLON \
                and (before is None or before.token_type not in (TokenType.DCOLON, TokenType.ALIAS)):
            edits += [(kind.start, "("), (literal.end + 1, ")")]
    for position, mark in sorted(edits, reverse=True):
        text = text[:position] + mark + text[position:]
    return text


_DUCKDB = sqlglot.Dialect.get_or_raise(DIALECT)


def parse_error_text(error: SqlglotError) -> str:
    """sqlglot's parse error in one line, in the user's terms (it names its own classes and token objects)."""
    first_line = str(error).splitlines()[0]
    missing = re.match(r"Required keyword: '(\w+)' missing for <class '[\w.]*\.(\w+)'>\.(.*)", first_line)
    if missing:  # "oid = ": say what the user left out
        operator = _OPERATORS.get(missing.group(2), missing.group(2).upper())
        first_line = f"an operand is missing after {operator}.{missing.group(3)}"
    keyword = re.match(r"Expected (table name|identifier) but got <Token token_type: [\w.]+, text: ([^,]+),"
                       r" line: (\d+), col: (\d+)", first_line)
    if keyword:  # CREATE VIEW glob AS ...: sqlglot prints its token object
        first_line = (f"{keyword.group(2)} is an SQL keyword where a name is expected (line {keyword.group(3)}, "
                      f"col {keyword.group(4)}); quote it (\"{keyword.group(2)}\") or choose another name")
    return first_line


def _parse(text: str, what: str) -> list[exp.Expression]:
    """Parse strictly: sqlglot's fallback of unknown syntax to an opaque command counts as an error."""
    text = typed_literals_parenthesised(text)
    try:
        statements = sqlglot.parse(text, read=DIALECT, error_level=ErrorLevel.RAISE)
    except SqlglotError as error:
        raise IvmError(f"cannot parse {what}: {parse_error_text(error)}") from None
    statements = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    for statement in statements:
        if isinstance(statement, exp.Command):
            text_start = statement.sql(dialect=DIALECT)[:60]
            raise IvmError(f"cannot parse {what}: unsupported syntax in {text_start!r}")
    return statements


def parse_views(text: str) -> list[ViewDefinition]:
    """Split a file of ``CREATE VIEW`` statements into checked view definitions.

    Example:
        >>> [v.name for v in parse_views("CREATE VIEW a AS SELECT 1 AS x; CREATE VIEW b AS SELECT x FROM a")]
        ['a', 'b']
    """
    if not isinstance(text, str):
        raise IvmError(f"the views must be SQL text (CREATE VIEW ...), not {type(text).__name__}")
    views = []
    text = _pivots_as_selects(typed_literals_parenthesised(text))
    statements = _parse(text, "the view file")
    texts = _query_texts(text)
    for position, statement in enumerate(statements):
        if not (isinstance(statement, exp.Create) and statement.kind == "VIEW"):
            raise IvmError("the view file may contain only CREATE VIEW name AS SELECT ... statements; found: "
                           + statement.sql(dialect=DIALECT)[:80])
        query = statement.expression
        if not isinstance(query, exp.Query):
            raise IvmError(f"view {statement.this.sql()} must be defined by a SELECT query")
        target = statement.this
        renamed = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else None
        table = target.this if renamed is not None else target
        name = table.name.lower()
        if table.args.get("catalog") or table.text("db").lower() not in ("", "main"):
            raise IvmError(f"view {table.sql(dialect=DIALECT)}: ivm keeps views in the main schema; "
                           f"name it {name} without a schema")
        if any(isinstance(p, exp.TemporaryProperty) for p in statement.find_all(exp.TemporaryProperty)):
            raise IvmError(f"view {name}: ivm materialises views in the database file, where a TEMP view would "
                           "not last; drop TEMP")
        check_read_only(query, f"view {name}")
        order_problem = order_dependence(query)
        if order_problem:  # no run, the first included, would be the recompute that verify compares with
            raise IvmError(f"view {name} depends on the order rows are read in, which changes from run to run: "
                           f"{order_problem}")
        reserved = reserved_name(query)
        if reserved:  # ivm's row id, lineage and bookkeeping columns: a stage would hold two of them
            raise IvmError(f"view {name} uses the name {reserved}, reserved for ivm (names starting with __ivm_); "
                           "choose another alias")
        internal = _internal_reference(query)
        if internal is not None:
            raise IvmError(f"view {name} reads ivm's internal table {internal.sql(dialect=DIALECT)}; "
                           f"read {internal.name} instead")
        # Keep the user's own text: DuckDB names unaliased columns after it (CAST(x AS VARCHAR), not TEXT).
        raw = texts[position] if len(texts) == len(statements) else None
        sql = raw if raw and _same_query(raw, query) else query.sql(dialect=DIALECT)
        if renamed is not None:  # CREATE VIEW v(a, b) AS ...: the first columns renamed, as DuckDB does
            query = _renamed(query, renamed)
            sql = _renamed(exp.Placeholder(this="__raw"), renamed).sql(dialect=DIALECT).replace(
                "($__raw)", f"({sql})")  # the user's text inside, so unaliased columns keep DuckDB's names
        views.append(ViewDefinition(name=name, query=query, sql=sql, replace=bool(statement.args.get("replace"))))
    if not views:
        raise IvmError("the view file contains no CREATE VIEW statement")
    names = [v.name for v in views]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise IvmError(f"the view file defines {', '.join(duplicates)} more than once")
    return views


def reserved_name(tree: exp.Expression) -> str | None:
    """A name in ``tree`` that starts with ``__ivm_``: ivm's row ids, lineage and bookkeeping columns."""
    return next((i.name for i in tree.find_all(exp.Identifier) if i.name.lower().startswith("__ivm_")), None)


def _internal_reference(tree: exp.Expression) -> exp.Expression | None:
    """A table (or a column qualified by one) in ivm's own schemas: the stored tables carry row ids and
    lineage and change under ivm's rules, so neither views nor predicates may read them."""
    for node in tree.find_all(exp.Table, exp.Column):
        schema = node.text("db") if isinstance(node, exp.Table) else node.text("db") or node.table
        if schema.lower() in (INTERNAL_SCHEMA, RAW_SCHEMA):
            return node
    return None


def _renamed(query: exp.Query, names: list[str]) -> exp.Query:
    """``query`` read through a derived table whose column list renames its first columns.

    Example:
        >>> import sqlglot
        >>> _renamed(sqlglot.parse_one("SELECT k, SUM(v) AS s FROM t GROUP BY k"), ["key"]).sql()
        'SELECT * FROM (SELECT k, SUM(v) AS s FROM t GROUP BY k) AS "view_columns"("key")'
    """
    alias = exp.TableAlias(this=exp.to_identifier("view_columns", quoted=True),
                           columns=[exp.to_identifier(n, quoted=True) for n in names])
    return exp.select("*").from_(exp.Subquery(this=query, alias=alias))


_STATEMENT_FORMS = {"PIVOT", "UNPIVOT", "PIVOT_WIDER", "PIVOT_LONGER", "VALUES"}
_SYNONYMS = {"PIVOT_WIDER": "PIVOT", "PIVOT_LONGER": "UNPIVOT"}  # DuckDB's; sqlglot reads only the first names
_OPERAND_ENDS = {TokenType.ORDER_BY, TokenType.LIMIT, TokenType.OFFSET, TokenType.FETCH, TokenType.UNION,
                 TokenType.EXCEPT, TokenType.INTERSECT, TokenType.SEMICOLON}


def _pivots_as_selects(text: str) -> str:
    """A view body in one of DuckDB's statement forms (``PIVOT ...``, ``UNPIVOT ...``, their synonyms
    ``PIVOT_WIDER``/``PIVOT_LONGER``, ``VALUES ...``), after a WITH clause or not, as ``SELECT * FROM (...)``:
    the same rows and column names, in a form sqlglot parses. A trailing ORDER BY, LIMIT or set operation
    stays outside the parentheses, where it applies to the same rows.

    Example:
        >>> _pivots_as_selects("CREATE VIEW u AS UNPIVOT t ON x, y INTO NAME c VALUE v; CREATE VIEW w AS SELECT 1")
        'CREATE VIEW u AS SELECT * FROM (UNPIVOT t ON x, y INTO NAME c VALUE v); CREATE VIEW w AS SELECT 1'
        >>> _pivots_as_selects("CREATE VIEW p AS WITH c AS (SELECT 1 AS k) PIVOT_WIDER c ON k IN (1) ORDER BY 1")
        'CREATE VIEW p AS WITH c AS (SELECT 1 AS k) SELECT * FROM (PIVOT c ON k IN (1)) ORDER BY 1'
        >>> _pivots_as_selects("CREATE VIEW v AS VALUES (1, 'a'), (2, 'b')")
        "CREATE VIEW v AS SELECT * FROM (VALUES (1, 'a'), (2, 'b'))"
    """
    try:
        tokens = sqlglot.tokenize(text, read=DIALECT)
    except SqlglotError:
        return text
    wraps, current = [], []
    for token in tokens + [None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            span = _statement_form(current)
            if span is not None:
                wraps.append(span)
            current = []
        else:
            current.append(token)
    for first, last in reversed(wraps):
        operand = text[first.start:last.end + 1]
        keyword = first.text.upper()
        operand = _SYNONYMS.get(keyword, keyword) + operand[len(first.text):]
        text = f"{text[:first.start]}SELECT * FROM ({operand}){text[last.end + 1:]}"
    return text


def _statement_form(tokens: list) -> tuple | None:
    """The first and last token of a CREATE statement's body operand when it is a statement form."""
    if not tokens or tokens[0].text.upper() != "CREATE":
        return None
    depth, body = 0, None
    for position, token in enumerate(tokens):
        depth += (token.token_type == TokenType.L_PAREN) - (token.token_type == TokenType.R_PAREN)
        if depth == 0 and token.token_type == TokenType.ALIAS:
            body = position + 1
            break
    if body is None or body >= len(tokens):
        return None
    start = body
    if tokens[body].token_type == TokenType.WITH:  # the main query follows the last CTE's closing parenthesis
        start, depth = None, 0
        for position in range(body + 1, len(tokens)):
            kind = tokens[position].token_type
            depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
            if kind == TokenType.R_PAREN and depth == 0 and position + 1 < len(tokens) \
                    and tokens[position + 1].token_type not in (TokenType.COMMA, TokenType.ALIAS):
                start = position + 1
                break
        if start is None:
            return None
    if tokens[start].text.upper() not in _STATEMENT_FORMS:
        return None
    depth, last = 0, tokens[-1]
    for position in range(start + 1, len(tokens)):
        kind = tokens[position].token_type
        depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
        if depth == 0 and kind in _OPERAND_ENDS:
            last = tokens[position - 1]
            break
    return tokens[start], last


def _query_texts(text: str) -> list[str]:
    """The text after the top-level ``AS`` of each statement, as the user wrote it."""
    try:
        tokens = sqlglot.tokenize(text, read=DIALECT)
    except SqlglotError:
        return []
    result, current = [], []
    for token in tokens + [None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if current:
                alias = next((i for i, t in enumerate(current) if t.token_type == TokenType.ALIAS), None)
                if alias is not None and alias + 1 < len(current):
                    result.append(text[current[alias + 1].start:current[-1].end + 1].strip())
                else:
                    result.append("")
            current = []
        else:
            current.append(token)
    return result


def _same_query(raw: str, query: exp.Query) -> bool:
    try:
        reparsed = sqlglot.parse_one(typed_literals_parenthesised(raw), read=DIALECT)
        return reparsed.sql(dialect=DIALECT) == query.sql(dialect=DIALECT)
    except SqlglotError:
        return False


# From this many constants on, ``x IN (1, 2, ...)`` is kept as the user's text (a Var) instead of a node per
# constant: sqlglot parsing, copying and rendering 20,000 ids took over a second per deletion.
LITERAL_LIST_MIN = 8
LITERAL_LIST = "ivm_literals"  # meta key of such a Var: how many constants it holds
_LIST_MARK = "__ivm_list_"
_ITEM = r"[ \t\r\n]*(?:-[ \t\r\n]*)?(?:\d+(?:\.\d+)?|'(?:[^'\\]|'')*')[ \t\r\n]*"
_ITEMS = re.compile(_ITEM)
_IN_PLAIN_LIST = re.compile(rf"\bin[ \t\r\n]*\(({_ITEM}(?:,{_ITEM})*)\)", re.IGNORECASE)


def _literal_lists_marked(text: str) -> tuple[str, dict[str, tuple[str, int]]]:
    """``text`` with each long list of plain constants after ``IN (`` swapped for a marker name, and the
    lists by marker (their exact text, their number of constants). A list qualifies when its whole text is
    plain numbers (``-12.5``) and plain quoted strings (``'O''Neil'``, no backslash) separated by commas
    and spaces: text that sqlglot and DuckDB read alike, and that can hold nothing else (no comment, no
    second statement). Found by a regular expression (sqlglot's tokenizer took 0.2 s for 20,000 ids), then
    checked by tokens: a marker that did not land as a name inside ``IN (...)`` (the list was in a string
    or a comment) leaves the text as it was.

    Example:
        >>> _literal_lists_marked("id IN (1, 2, 3, 4, 5, 6, 7, -8) AND s NOT IN ('a', 'b')")
        ("id IN (__ivm_list_0) AND s NOT IN ('a', 'b')", {'__ivm_list_0': ('1, 2, 3, 4, 5, 6, 7, -8', 8)})
    """
    if text.count(",") + 1 < LITERAL_LIST_MIN or _LIST_MARK in text:
        return text, {}
    pieces, lists, last = [], {}, 0
    for match in _IN_PLAIN_LIST.finditer(text):
        listed = match.group(1)
        count = listed.count(",") + 1 if "'" not in listed else len(_ITEMS.findall(listed))
        if count < LITERAL_LIST_MIN:
            continue
        mark = f"{_LIST_MARK}{len(lists)}"
        lists[mark] = (listed.strip(" \t\r\n"), count)
        pieces += [text[last:match.start(1)], mark]
        last = match.end(1)
    if not lists:
        return text, {}
    marked = "".join(pieces) + text[last:]
    try:
        tokens = _DUCKDB.tokenize(marked)
    except SqlglotError:
        return text, {}
    landed = {c.text for a, b, c, d in zip(tokens, tokens[1:], tokens[2:], tokens[3:])
              if (a.token_type, b.token_type, d.token_type) == (TokenType.IN, TokenType.L_PAREN, TokenType.R_PAREN)
              and c.text in lists}
    return (marked, lists) if landed == set(lists) else (text, {})


def _literal_lists_restored(predicate: exp.Expression, lists: dict[str, tuple[str, int]]) -> exp.Expression:
    for marker in list(predicate.find_all(exp.Column)):
        if marker.name in lists and not marker.table and isinstance(marker.parent, exp.In):
            listed, count = lists[marker.name]
            values = exp.Var(this=listed)
            values.meta[LITERAL_LIST] = count
            marker.replace(values)
    return predicate


def _parse_marked(text: str, marked: str) -> list[exp.Expression]:
    """Parse the predicate with its long lists marked; a syntax error is reported from the user's own text
    (its line and column)."""
    try:
        return _parse(marked, "the predicate")
    except IvmError:
        return _parse(text, "the predicate")


def parse_predicate(text: str) -> exp.Expression:
    """Parse a ``--where`` predicate: exactly one read-only boolean expression, nothing else.

    Example:
        >>> parse_predicate("country = 'UK' AND level <> 'premium'").sql()
        "country = 'UK' AND level <> 'premium'"
    """
    if not isinstance(text, str):
        raise IvmError(f"the predicate must be SQL text, not {type(text).__name__}")
    if not text or not text.strip():
        raise IvmError("the predicate is empty; to delete every row say so explicitly with --where 'true'")
    marked, lists = _literal_lists_marked(text)
    statements = _parse_marked(text, marked) if lists else _parse(text, "the predicate")
    if len(statements) != 1:
        raise IvmError("the predicate must be a single boolean expression, not several statements")
    predicate = statements[0]
    if lists:
        predicate = _literal_lists_restored(predicate, lists)
        if any(c.name.startswith(_LIST_MARK) for c in predicate.find_all(exp.Column)):  # read otherwise
            predicate = _parse(text, "the predicate")[0]
    scalar = isinstance(predicate, exp.Subquery) and isinstance(predicate.this, exp.Query) \
        and not predicate.args.get("alias")  # (SELECT max(x) > 1 FROM o): a scalar subquery, typed later
    if not scalar and isinstance(predicate, (exp.Query, *WRITING_NODES)) or not isinstance(predicate, exp.Expression):
        raise IvmError("the predicate must be a boolean expression such as \"id IN (1, 2)\", "
                       f"not a {predicate.key.upper()} statement")
    aggregate = _outside_subqueries(predicate, exp.AggFunc, exp.Window)
    if aggregate is not None:  # (before the star check: COUNT(*) holds a star)
        raise IvmError(f"the predicate uses {aggregate.sql(dialect=DIALECT)!r}, an aggregate or window function, "
                       "which a WHERE cannot; select the rows in a subquery instead, e.g. "
                       "id IN (SELECT id FROM t GROUP BY id HAVING count(*) > 1)")
    if _outside_subqueries(predicate, exp.Columns, exp.Star):
        # evaluated on the stored table, whose hidden row id a star would include (a wrong match)
        raise IvmError("the predicate uses COLUMNS(...) or *; name the columns it compares instead")
    alias = _outside_subqueries(predicate, exp.Alias)
    if alias is not None:  # "k = 1 x" and "b = 0b101" read as "k = 1 AS x", "b = 0 AS b101"
        raise IvmError(f"the predicate must be a boolean expression; it reads as {alias.sql(dialect=DIALECT)!r}, "
                       "a value with an alias (a missing operator? DuckDB has no 0b/0x number literals)")
    check_read_only(predicate, "the predicate", clock=True)
    internal = _internal_reference(predicate)
    if internal is not None:
        raise IvmError(f"the predicate reads ivm's internal schema ({internal.sql(dialect=DIALECT)}); "
                       "name the source tables and views instead")
    return predicate


def frozen_clock(predicate: exp.Expression, con) -> exp.Expression:
    """``predicate`` with each read of the transaction's clock (``now()``, ``current_date``, ...) replaced by
    its value now, as a typed literal: the same rows when the predicate runs again in another transaction
    (``ivm compare`` deletes them from two copies). ``con`` evaluates the clock, all reads in one statement.

    Example:
        >>> import duckdb
        >>> frozen = frozen_clock(parse_predicate("day < current_date - 30 OR k = 1"), duckdb.connect())
        >>> frozen.sql("duckdb").startswith("day < CAST('20") and "AS DATE) - 30 OR k = 1" in frozen.sql("duckdb")
        True
    """
    clocks = [node for node in predicate.walk()
              if isinstance(node, TRANSACTION_TIME_NODES) or function_name(node) in TRANSACTION_TIME]
    if not clocks:
        return predicate
    frozen = predicate.copy()
    clocks = [node for node in frozen.walk()
              if isinstance(node, TRANSACTION_TIME_NODES) or function_name(node) in TRANSACTION_TIME]
    reads = ", ".join(f"CAST({n.sql(dialect=DIALECT)} AS VARCHAR), typeof({n.sql(dialect=DIALECT)})" for n in clocks)
    values = con.execute(f"SELECT {reads}").fetchall()[0]
    for position, node in enumerate(clocks):
        text, kind = values[2 * position], values[2 * position + 1]
        node.replace(exp.cast(exp.Literal.string(text), sqlglot.exp.DataType.build(kind, dialect=DIALECT)))
    return frozen


def _outside_subqueries(predicate: exp.Expression, *kinds) -> exp.Expression | None:
    """The first node of ``kinds`` in ``predicate`` that no subquery holds (a subquery may alias and star)."""
    return next((node for node in predicate.find_all(*kinds) if node.find_ancestor(exp.Query) is None), None)
