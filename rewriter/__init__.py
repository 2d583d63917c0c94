"""rewriter: turn a messy Python data-preparation script into DuckDB SQL views that ivm can maintain.

A model proposes the views (through any OpenAI-compatible endpoint, or a replay file); nothing it says is
trusted until checked: static checks with sqlglot, then differential execution of the original script and the
views on the real data and on generated variants of it, with a bounded repair loop in between. The user's own
functions stay Python and become vectorised DuckDB UDFs. ``ivm rewrite`` is the command line
(:mod:`rewriter.cli`); ``ivm`` itself never imports this package.
"""
from rewriter.compare import Table, diff
from rewriter.errors import Problem, RewriteError

__all__ = ["Problem", "RewriteError", "Table", "diff"]
