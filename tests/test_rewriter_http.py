"""``ivm rewrite`` against a live OpenAI-compatible HTTP endpoint (a local stub server), through the real
``openai`` client: verification, the repair loop, retries, timeouts, recording and replay, and the errors a
user sees when the endpoint cannot be used."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from openai_stub import StubServer  # noqa: E402
from rewriter_support import (CORRECT, INNER_JOIN, answer, run_ivm, tiny_args,  # noqa: E402
                              transcript, write_tiny)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    write_tiny(tmp_path / "project")
    return tmp_path


def serve(monkeypatch, replies):
    server = StubServer(replies)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    return server


def rewrite(tiny, *extra, out="out"):
    return run_ivm(tiny_args(tiny / "project", tiny / out, "--backoff", "0.01", *extra))


def test_correct_first_answer_is_verified(tiny, monkeypatch):
    with serve(monkeypatch, [{"content": CORRECT}]) as server:
        run = rewrite(tiny, "--model", "test-model", "--seed", "7")
    assert run.code == 0, run.err
    out = tiny / "out"
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "transcript.jsonl", "views.sql"]
    assert "verified in 1 round(s)" in run.out
    request = server.requests[0]
    assert request["model"] == "test-model" and request["temperature"] == 0 and request["seed"] == 7
    assert request["response_format"] == {"type": "json_object"}
    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
    assert "CREATE VIEW" in system and '"result_view"' in system
    assert 'names.get(row["customer_id"], "?")' in user            # the code
    assert "columns: order_id BIGINT, customer_id BIGINT, amount DOUBLE" in user  # the schema
    assert "(10, 1, 5.0)" in user and "10,1,5" in user              # sample rows, parsed and raw
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "verified" and report["rounds"] == 1
    assert all(check["ok"] for check in report["checks"]) and len(report["checks"]) >= 6
    assert report["ivm"]["big_orders"].startswith("incremental")  # LEFT JOIN: a per-row stage, named
    kinds = [record["type"] for record in transcript(out)]
    assert kinds == ["request", "response", "check"]


def test_inner_join_is_caught_and_the_repair_prompt_carries_the_diff(tiny, monkeypatch):
    with serve(monkeypatch, [{"content": INNER_JOIN}, {"content": CORRECT}]) as server:
        run = rewrite(tiny)
    assert run.code == 0, run.err
    assert "round 1: rejected" in run.out and "round 2: verified" in run.out
    second = server.requests[1]["messages"]
    assert second[2] == {"role": "assistant", "content": INNER_JOIN}  # the previous answer goes back
    repair = second[3]["content"]
    assert "differs from the original script's on the real data" in repair
    assert "original 4 rows, SQL 3 rows" in repair
    assert "rows only in the original: (12, '?', 30)" in repair
    report = json.loads((tiny / "out" / "report.json").read_text())
    assert [h["ok"] for h in report["history"]] == [False, True] and report["history"][0]["kind"] == "diff"


@pytest.mark.parametrize("bad, mention", [
    ("Sure! Here are the views: CREATE VIEW ...", "not a JSON object"),
    (answer(["CREATE VIEW big_orders AS SELEC order_id FROM orders"]), "cannot parse"),
    (answer(["CREATE VIEW big_orders AS SELECT order_id, fancy_name(customer_id) AS name FROM orders"]),
     "fancy_name(), which is neither a DuckDB function nor a declared udf"),
], ids=["prose", "bad-sql", "unknown-function"])  # every static check: tests/test_rewriter_units.py
def test_rejected_answers_are_repaired(tiny, monkeypatch, bad, mention):
    with serve(monkeypatch, [{"content": bad}, {"content": CORRECT}]) as server:
        run = rewrite(tiny)
    assert run.code == 0, run.err
    assert len(server.requests) == 2
    assert mention in server.user_messages(1)[-1]


def test_rate_limits_and_server_errors_are_retried(tiny, monkeypatch):
    with serve(monkeypatch, [{"status": 429}, {"status": 500}, {"content": CORRECT}]) as server:
        run = rewrite(tiny, "--retries", "3")
    assert run.code == 0, run.err
    assert len(server.requests) == 3
    errors = [r for r in transcript(tiny / "out") if r["type"] == "error"]
    assert ["HTTP 429" in errors[0]["error"], "HTTP 500" in errors[1]["error"]] == [True, True]


@pytest.mark.parametrize("reply, mention", [
    ({"status": 429}, "answered HTTP 429 (rate limited"),
    ({"status": 500, "message": "model overloaded"}, "answered HTTP 500 (server error: model overloaded)"),
    ({"hang": 2}, "did not answer within 0.3 s"),
], ids=["429", "500", "timeout"])
def test_exhausted_retries_are_reported_in_one_line(tiny, monkeypatch, reply, mention):
    with serve(monkeypatch, [reply, reply, reply]) as server:
        run = rewrite(tiny, "--retries", "1", "--timeout", "0.3")
    assert run.code == 2
    assert len(run.error_lines) == 1 and run.error_lines[0].startswith("error: ")
    assert mention in run.err and "gave up after 2 attempts (--retries 1)" in run.err
    assert len(server.requests) == 2
    assert not (tiny / "out" / "views.sql").exists() and not (tiny / "out" / "report.json").exists()


def test_a_timeout_then_an_answer_is_verified(tiny, monkeypatch):
    with serve(monkeypatch, [{"hang": 2}, {"content": CORRECT}]):
        run = rewrite(tiny, "--timeout", "0.3")
    assert run.code == 0, run.err


def test_refused_key_is_not_retried(tiny, monkeypatch):
    with serve(monkeypatch, [{"status": 401, "message": "Incorrect API key"}]) as server:
        run = rewrite(tiny)
    assert run.code == 2 and len(server.requests) == 1
    assert "HTTP 401: Incorrect API key; check OPENAI_API_KEY" in run.err and len(run.error_lines) == 1


def test_unreachable_endpoint(tiny, monkeypatch):
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    run = rewrite(tiny, "--retries", "1")
    assert run.code == 2 and len(run.error_lines) == 1
    assert f"cannot reach the model endpoint at http://127.0.0.1:{port}/v1" in run.err
    assert not (tiny / "out" / "views.sql").exists()


def test_no_key_and_no_replay_explains_the_options(tiny, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    run = rewrite(tiny)
    assert run.code == 2 and len(run.error_lines) == 1
    assert "OPENAI_API_KEY" in run.err and "OPENAI_BASE_URL" in run.err and "--replay FILE" in run.err
    assert not (tiny / "out").exists()


def test_the_installed_command_and_lazy_import(tiny):
    """A real subprocess: `ivm rewrite` is wired into the ivm CLI, and `import ivm.cli` does not load rewriter."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OPENAI_")}
    lazy = subprocess.run([sys.executable, "-c", "import sys, ivm, ivm.cli; print('rewriter' in sys.modules)"],
                          capture_output=True, text=True, env=env)
    assert lazy.stdout.strip() == "False", lazy.stderr
    run = subprocess.run([sys.executable, "-m", "ivm.cli", *tiny_args(tiny / "project", tiny / "out")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "--replay FILE" in run.stderr
    helped = subprocess.run([sys.executable, "-m", "ivm.cli", "rewrite", "--help"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert helped.returncode == 0 and "--result-var" in helped.stdout and "--max-rounds" in helped.stdout
    listing = subprocess.run([sys.executable, "-m", "ivm.cli", "--help"], capture_output=True, text=True, env=env)
    assert "rewrite" in listing.stdout


def test_unverified_after_max_rounds_writes_nothing_as_a_result(tiny, monkeypatch):
    out = tiny / "out"
    out.mkdir()
    (out / "views.sql").write_text("-- stale result of an earlier run\n")
    with serve(monkeypatch, [{"content": INNER_JOIN}, {"content": INNER_JOIN}]):
        run = rewrite(tiny, "--max-rounds", "2")
    assert run.code == 1
    assert not (out / "views.sql").exists() and not (out / "report.json").exists()
    assert "unverified after 2 round(s)" in run.err and "rows only in the original: (12, '?', 30)" in run.err
    report = json.loads((out / "unverified" / "report.json").read_text())
    assert report["status"] == "unverified" and report["problem"]["kind"] == "diff"
    assert "LEFT JOIN" not in (out / "unverified" / "views.sql").read_text()


def test_record_then_replay(tiny, monkeypatch):
    record = tiny / "recorded.jsonl"
    with serve(monkeypatch, [{"content": INNER_JOIN}, {"content": CORRECT}]):
        live = rewrite(tiny, "--record", str(record))
    assert live.code == 0, live.err
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["content"] for line in lines] == [INNER_JOIN, CORRECT]
    monkeypatch.delenv("OPENAI_API_KEY")
    replayed = rewrite(tiny, "--replay", str(record), out="again")
    assert replayed.code == 0, replayed.err
    assert (tiny / "again" / "views.sql").read_text() == (tiny / "out" / "views.sql").read_text()
    short = tiny / "short.jsonl"
    short.write_text(record.read_text().splitlines()[0] + "\n")
    exhausted = rewrite(tiny, "--replay", str(short), out="short")
    assert exhausted.code == 1 and "has no response left for round 2" in exhausted.out
