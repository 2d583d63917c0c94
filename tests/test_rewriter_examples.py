"""The example pipelines in examples/pipelines/: each verifies end to end from its reference replay file, its
views deploy with ivm (Python UDFs included) and stay correct under deletions, and hand-written wrong rewrites
of at least ten kinds, plus every off-by-one flip of a comparison (a sqlglot transform), are rejected by the
differential check. Mutations must pass the static checks, so it is the data comparison that rejects them."""
from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

import ivm
from rewriter.answer import Answer
from rewriter.errors import Problem
from rewriter.sandbox import Sandbox, check_spec
from rewriter.script import load_script
from rewriter.sources import resolve
from rewriter.static import check
from rewriter.verify import Oracle, verify

sys.path.insert(0, str(Path(__file__).parent))
from rewriter_support import run_ivm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent / "examples" / "pipelines"
LABEL = "reference rewrite (hand-written, not model output)"
KINDS = {"join kind", "join key", "filter", "boundary", "case", "distinct", "aggregate", "case branch", "null",
         "label"}


@dataclass(frozen=True)
class Example:
    sources: dict
    result: tuple
    mutations: tuple  # (kind, old text in one view, new text)
    deletion: tuple   # (source, predicate) for the ivm check


EXAMPLES = {
    "loops_dict_join": Example(
        sources={"customers": "customers.csv", "orders": "orders.csv"},
        result=("--result-var", "result", "--columns", "customer_id,name,country,orders,total,products,tier"),
        deletion=("customers", "id = 1"),
        mutations=(
            ("join kind", "LEFT JOIN", "JOIN"),
            ("join key", "c.id = s.customer_id", "c.id = s.customer_id + 1"),
            ("filter", "lower(status) = 'shipped' AND ", ""),
            ("filter", "day >= DATE '2024-02-01'", "day >= DATE '2024-02-01' AND amount > 0"),
            ("boundary", "day >= DATE '2024-02-01'", "day > DATE '2024-02-01'"),
            ("boundary", "sum(s.amount) >= 100", "sum(s.amount) > 100"),
            ("case", "lower(status) = 'shipped'", "status = 'shipped'"),
            ("case", "coalesce(upper(country), '??')", "coalesce(country, '??')"),
            ("distinct", "SELECT DISTINCT id", "SELECT id"),
            ("distinct", "count(DISTINCT coalesce(s.product, ''))", "count(coalesce(s.product, ''))"),
            ("aggregate", "round(sum(s.amount), 2)", "round(avg(s.amount), 2)"),
            ("aggregate", "count(*) AS orders", "count(DISTINCT s.product) AS orders"),
            ("case branch", "WHEN count(*) > 1 THEN 'regular'", "WHEN count(*) >= 1 THEN 'regular'"),
            ("null", "coalesce(c.country, '??')", "c.country"),
            ("null", "CASE WHEN c.id IS NULL THEN 'unknown' ELSE c.name END", "coalesce(c.name, 'unknown')"),
            ("null", "count(DISTINCT coalesce(s.product, ''))", "count(DISTINCT s.product)"),
            ("label", "ELSE 'new'", "ELSE 'regular'"),
            ("label", "THEN 'gold' WHEN count(*) > 1 THEN 'regular'", "THEN 'regular' WHEN count(*) > 1 THEN 'gold'"),
        )),
    "pandas_merge_groupby": Example(
        sources={"employees": "employees.csv", "departments": "departments.csv"},
        result=("--result-var", "summary"),
        deletion=("employees", "emp_id <= 3"),
        mutations=(
            ("join kind", "LEFT JOIN", "JOIN"),
            ("join key", "ON d.dept_code = upper(trim(e.dept_code, ' ' || chr(9) || chr(10) || chr(13) || chr(160)))", "ON d.parent_code = upper(trim(e.dept_code, ' ' || chr(9) || chr(10) || chr(13) || chr(160)))"),
            ("filter", " AND e.salary > 0", ""),
            ("filter", "e.salary > 0", "e.salary > 0 AND e.salary < 100000"),
            ("boundary", "e.hired < DATE '2023-01-01'", "e.hired <= DATE '2023-01-01'"),
            ("boundary", "WHEN e.salary >= 80000 THEN 'senior'", "WHEN e.salary > 80000 THEN 'senior'"),
            ("case", "ON d.dept_code = upper(trim(e.dept_code, ' ' || chr(9) || chr(10) || chr(13) || chr(160)))", "ON d.dept_code = trim(e.dept_code, ' ' || chr(9) || chr(10) || chr(13) || chr(160))"),
            ("distinct", "count(DISTINCT dept_code)", "count(dept_code)"),
            ("distinct", "SELECT e.emp_id", "SELECT DISTINCT e.emp_id"),
            ("aggregate", "round_even(avg(salary), 1)", "round_even(median(salary), 1)"),
            ("aggregate", "sum(salary) AS payroll", "max(salary) AS payroll"),
            ("case branch", "WHEN e.salary >= 50000 THEN 'mid' ELSE 'junior'",
             "WHEN e.salary >= 50000 THEN 'junior' ELSE 'mid'"),
            ("null", "coalesce(d.region, 'unassigned')", "d.region"),
            ("label", "THEN 'senior'", "THEN 'mid'"),
        )),
    "multi_file_union": Example(
        sources={"products": "products.csv", "store_q1": "store_q1.csv", "store_q2": "store_q2.csv",
                 "web": "web.csv"},
        result=("--result-file", "report.csv"),
        deletion=("store_q1", "qty > 2"),
        mutations=(
            ("join kind", "JOIN active_products", "LEFT JOIN active_products"),
            ("join key", "SELECT DISTINCT upper(trim(sku, ' ' || chr(9) || chr(10) || chr(13) || chr(160))) AS sku", "SELECT DISTINCT upper(trim(legacy_code, ' ' || chr(9) || chr(10) || chr(13) || chr(160))) AS sku"),
            ("filter", "WHERE l.qty > 0\n", ""),
            ("filter", "WHERE l.qty > 0", "WHERE l.qty > 0 AND l.unit_price > 1.0"),
            ("boundary", "WHERE l.qty > 0", "WHERE l.qty >= 0"),
            ("case", "SELECT 'store' AS channel, upper(trim(sku, ' ' || chr(9) || chr(10) || chr(13) || chr(160))) AS sku", "SELECT 'store' AS channel, trim(sku, ' ' || chr(9) || chr(10) || chr(13) || chr(160)) AS sku"),
            ("distinct", "SELECT DISTINCT", "SELECT"),
            ("distinct", "FROM store_q1\nUNION ALL", "FROM store_q1\nUNION"),
            ("aggregate", "count(DISTINCT l.sku)", "count(l.sku)"),
            ("aggregate", "sum(l.qty) AS units", "max(l.qty) AS units"),
            ("case branch", "THEN 0.9 ELSE 1.0", "THEN 1.0 ELSE 0.9"),
            ("null", "WHERE NOT coalesce(discontinued, false)", "WHERE NOT discontinued"),
            ("null", "sold_on, NULL AS promo_code FROM store_q1", "sold_on, '' AS promo_code FROM store_q1"),
            ("label", "UNION ALL\nSELECT 'store' AS channel", "UNION ALL\nSELECT 'web' AS channel"),
            ("label", "SELECT 'web' AS channel", "SELECT 'store' AS channel"),
        )),
    "udf_sentiment": Example(
        sources={"products": "products.csv", "reviews": "reviews.csv"},
        result=("--result-var", "result"),
        deletion=("reviews", "stars = 5"),
        mutations=(
            ("join kind", "LEFT JOIN product_names", "JOIN product_names"),
            ("join key", "SELECT product_id, lower", "SELECT review_id AS product_id, lower"),
            ("filter", "\nWHERE posted >= DATE '2024-01-01'", ""),
            ("filter", "WHERE posted >= DATE '2024-01-01'", "WHERE posted >= DATE '2024-01-01' AND stars IS NOT NULL"),
            ("boundary", "WHERE posted >= DATE '2024-01-01'", "WHERE posted > DATE '2024-01-01'"),
            ("boundary", "stars >= 4", "stars > 4"),
            ("case", "lower(reviewer) AS reviewer", "reviewer"),
            ("distinct", "SELECT DISTINCT product_id, name", "SELECT product_id, name"),
            ("distinct", "count(DISTINCT coalesce(l.reviewer, ''))", "count(coalesce(l.reviewer, ''))"),
            ("aggregate", "round_even(sum(l.score) / count(*), 4)", "round_even(avg(l.score) / 2, 4)"),
            ("aggregate", "count(*) AS reviews", "count(l.reviewer) AS reviews"),
            ("case branch", "WHEN score < 0 OR stars <= 2 THEN 'detractor'",
             "WHEN score < 0 AND stars <= 2 THEN 'detractor'"),
            ("null", "(stars IS NULL OR stars >= 4)", "stars >= 4"),
            ("null", "CASE WHEN p.product_id IS NULL THEN 'unknown product' ELSE p.name END",
             "coalesce(p.name, 'unknown product')"),
            ("label", "ELSE 'neutral'", "ELSE 'detractor'"),
        )),
    "healthcare_labels": Example(
        sources={"patients": "data/patients.csv", "histories": "data/histories.csv"},
        result=("--result-var", "data"),
        deletion=("histories", "complications >= 4"),
        mutations=(
            ("join kind", "FROM joined AS j JOIN group_means", "FROM joined AS j LEFT JOIN group_means"),
            ("join key", "ON p.ssn = h.ssn", "ON p.ssn = h.ssn OR p.county = 'county2'"),
            ("filter", "WHERE j.county IN ('county2', 'county3')", "WHERE j.county IN ('county2')"),
            ("filter", "WHERE j.county IN ('county2', 'county3')", "WHERE j.county IN ('county2', 'county3') AND j.income > 0"),
            ("boundary", "j.complications > 1.2 * g.mean_complications", "j.complications >= 1.2 * g.mean_complications"),
            ("boundary", "WHERE h.complications >= 0", "WHERE h.complications > 0"),
            ("case", "WHERE j.county IN ('county2', 'county3')", "WHERE lower(j.county) IN ('county2', 'county3')"),
            ("distinct", "FROM patients AS p JOIN histories AS h", "FROM patients AS p JOIN (SELECT DISTINCT * FROM histories) AS h"),
            ("aggregate", "avg(complications) AS mean_complications", "median(complications) AS mean_complications"),
            ("case branch", "NULLIF(h.smoker, '?') AS smoker", "CASE WHEN h.smoker = '?' THEN 'no' ELSE h.smoker END AS smoker"),
            ("null", "NULLIF(h.smoker, '?') AS smoker", "h.smoker AS smoker"),
            ("null", "TRY_CAST(NULLIF(p.income, '?') AS DOUBLE) AS income", "coalesce(TRY_CAST(NULLIF(p.income, '?') AS DOUBLE), 0) AS income"),
            ("label", "j.complications > 1.2 * g.mean_complications", "j.complications > g.mean_complications"),
        )),
    "titanic_features": Example(
        sources={"train": "train.csv"},
        result=("--result-var", "df"),
        deletion=("train", "Pclass = 1"),
        mutations=(
            ("join kind", "LEFT JOIN class_fares", "JOIN class_fares"),
            ("join key", "ON c.Pclass = t.Pclass", "ON c.Pclass = t.Survived + 1"),
            ("filter", "WHERE Embarked IS NOT NULL GROUP BY Embarked", "WHERE Embarked <> 'S' GROUP BY Embarked"),
            ("filter", "FROM titled AS t LEFT JOIN", "FROM (SELECT * FROM titled WHERE Fare IS NOT NULL OR Pclass = 3) AS t LEFT JOIN"),
            ("boundary", "t.filled_age <= 12 THEN 'child'", "t.filled_age < 12 THEN 'child'"),
            ("boundary", "t.filled_age <= 60 THEN 'adult'", "t.filled_age < 60 THEN 'adult'"),
            ("case", "CASE t.Sex WHEN 'male' THEN 0 WHEN 'female' THEN 1 END", "CASE lower(t.Sex) WHEN 'male' THEN 0 WHEN 'female' THEN 1 END"),
            ("distinct", "SELECT DISTINCT * FROM train", "SELECT * FROM train"),
            ("aggregate", "median(Age) AS age_median", "avg(Age) AS age_median"),
            ("aggregate", "ORDER BY count(*) DESC, Embarked LIMIT 1", "ORDER BY count(*), Embarked LIMIT 1"),
            ("case branch", "WHEN t.raw_title IN ('Mlle', 'Ms') THEN 'Miss' WHEN t.raw_title = 'Mme' THEN 'Mrs'", "WHEN t.raw_title IN ('Mlle', 'Ms') THEN 'Mrs' WHEN t.raw_title = 'Mme' THEN 'Miss'"),
            ("null", "coalesce(t.Embarked, t.embarked_mode)", "t.Embarked"),
            ("null", "coalesce(p.Age, f.age_median) AS filled_age", "p.Age AS filled_age"),
            ("label", "THEN 'teen'", "THEN 'child'"),
        )),
}


def reference(name: str) -> dict:
    lines = (ROOT / name / "reference.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert records and all(r["label"] == LABEL for r in records)
    return records[-1]["answer"]


def cli_args(name: str, out: Path) -> list[str]:
    example = EXAMPLES[name]
    folder = ROOT / name
    sources = [a for n, f in example.sources.items() for a in ("--source", f"{n}={folder / f}")]
    return ["rewrite", str(folder / "pipeline.py"), *sources, *example.result, "--out", str(out),
            "--replay", str(folder / "reference.jsonl")]


# -- end to end -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_reference_rewrite_verifies_and_deploys_with_ivm(name, tmp_path):
    out = tmp_path / "out"
    run = run_ivm(cli_args(name, out))
    assert run.code == 0, run.out + run.err
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "verified" and report["rounds"] == 1
    assert len(report["checks"]) >= 6 and all(c["ok"] for c in report["checks"])
    views_sql = (out / "views.sql").read_text()
    example = EXAMPLES[name]
    with ivm.connect(":memory:") as db:
        for source, file in example.sources.items():
            db.load(source, str(ROOT / name / file))
        if (out / "udfs.py").exists():  # views that call Python UDFs need them registered on db.con first
            spec = importlib.util.spec_from_file_location(f"udfs_{name}", out / "udfs.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.register_udfs(db.con)
        deployed = db.deploy(views_sql)
        assert deployed == report["views"]
        before = db.con.execute(f"SELECT COUNT(*) FROM {report['result_view']}").fetchone()[0]
        assert before == report["result"]["rows"]
        source, predicate = example.deletion
        assert db.delete(source, predicate)["deleted_rows"] > 0
        assert db.verify()["ok"]


def test_udf_example_keeps_the_users_function_verbatim(tmp_path):
    out = tmp_path / "out"
    assert run_ivm(cli_args("udf_sentiment", out)).code == 0
    udfs = (out / "udfs.py").read_text()
    script = (ROOT / "udf_sentiment" / "pipeline.py").read_text()
    function = script[script.index("def sentiment"):script.index("\n\n\nproducts")]
    assert function in udfs and 'POSITIVE = {"great"' in udfs and "import re" in udfs
    assert "csv.DictReader" not in udfs  # only what the function needs
    assert "IVM_UDF_SIGNATURES = {'sentiment': (['VARCHAR'], 'DOUBLE')}" in udfs
    assert 'type="arrow"' in udfs


# -- mutations --------------------------------------------------------------------------------------------------
class Harness:
    """One example's original results on every data set, computed once, and the reference answer."""

    def __init__(self, name: str):
        example = EXAMPLES[name]
        folder = ROOT / name
        self.script = load_script(folder / "pipeline.py")
        self.sources = resolve([f"{n}={folder / f}" for n, f in example.sources.items()], self.script)
        result = dict(zip(example.result[::2], example.result[1::2]))
        spec = check_spec(result.get("--result-var"), result.get("--result-file"), result.get("--columns"))
        self.oracle = Oracle.build(Sandbox(self.script, tuple(self.sources), spec))
        self.reference = reference(name)
        self.verdicts: dict = {}

    def verdict(self, views: tuple[str, ...]) -> Problem | None:
        """None when the views are verified; else the problem. Static checks must pass."""
        if views not in self.verdicts:
            answer = Answer(views, self.reference["result_view"], tuple(self.reference["udfs"]), "")
            candidate = check(answer, self.script, self.sources)  # raises if the mutation broke the SQL
            try:
                verify(candidate, self.oracle)
                self.verdicts[views] = None
            except Problem as problem:
                self.verdicts[views] = problem
        return self.verdicts[views]

    def mutated(self, old: str, new: str) -> tuple[str, ...]:
        views = list(self.reference["views"])
        hits = [i for i, view in enumerate(views) if old in view]
        assert hits, f"{old!r} is not in the reference views"
        views[hits[0]] = views[hits[0]].replace(old, new, 1)
        return tuple(views)


@pytest.fixture(scope="module")
def harness():
    built: dict[str, Harness] = {}

    def get(name: str) -> Harness:
        if name not in built:
            built[name] = Harness(name)
        return built[name]

    yield get
    for item in built.values():
        item.oracle.close()


MUTATIONS = [(name, kind, old, new) for name, example in EXAMPLES.items() for kind, old, new in example.mutations]


@pytest.mark.parametrize("name, kind, old, new", MUTATIONS,
                         ids=[f"{m[0]}:{m[1]}:{i}" for i, m in enumerate(MUTATIONS)])
def test_wrong_rewrite_is_rejected(harness, name, kind, old, new):
    subject = harness(name)
    assert subject.verdict(tuple(subject.reference["views"])) is None  # the reference itself passes
    problem = subject.verdict(subject.mutated(old, new))
    assert problem is not None, f"{kind} mutation {old!r} -> {new!r} was not caught"
    assert problem.kind == "diff", problem.message


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_has_every_kind_of_mutation_and_variants_matter(harness, name):
    example = EXAMPLES[name]
    assert {kind for kind, _, _ in example.mutations} >= KINDS and len(example.mutations) >= 10
    subject = harness(name)
    caught_by_variant = [(kind, problem.dataset) for kind, old, new in example.mutations
                         if (problem := subject.verdict(subject.mutated(old, new))) and problem.dataset != "real data"]
    assert caught_by_variant, "every mutation is caught on the real data already; the variants add nothing here"


def _boundary_flips(views: list[str]) -> list[tuple[str, ...]]:
    """Every comparison with a constant, made strict or non-strict (``>=`` <-> ``>``, ``<=`` <-> ``<``)."""
    flip = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT}
    mutants = []
    for index, view in enumerate(views):
        tree = sqlglot.parse_one(view, read="duckdb")
        targets = [n for n in tree.find_all(*flip) if isinstance(n.expression, (exp.Literal, exp.Cast))]
        for position in range(len(targets)):
            copy = tree.copy()
            node = [n for n in copy.find_all(*flip) if isinstance(n.expression, (exp.Literal, exp.Cast))][position]
            node.replace(flip[type(node)](this=node.this.copy(), expression=node.expression.copy()))
            changed = list(views)
            changed[index] = copy.sql(dialect="duckdb")
            mutants.append(tuple(changed))
    return mutants


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_off_by_one_comparison_is_rejected(harness, name):
    subject = harness(name)
    mutants = _boundary_flips(subject.reference["views"])
    assert mutants
    missed = [m for m in mutants if subject.verdict(m) is None]
    assert not missed, f"not caught: {missed}"
