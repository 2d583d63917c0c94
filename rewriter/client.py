"""Where answers come from: a live OpenAI-compatible endpoint, or a replay file; and the transcript.

* :class:`LiveEndpoint` calls chat completions through the ``openai`` client (``OPENAI_API_KEY``,
  ``OPENAI_BASE_URL``), temperature 0 and a fixed seed, JSON output, a timeout per request, and retries
  rate limits (429), server errors (5xx), timeouts and refused connections with exponential backoff.
  When the retries are used up it raises a one-line :class:`~rewriter.errors.RewriteError`.
* :class:`ReplayEndpoint` answers from a JSON Lines file of responses, in order (format in the README).
* :class:`Recorder` wraps a live endpoint and appends every response to such a file.
* :class:`Transcript` appends every request, response, retry and check to ``transcript.jsonl``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from rewriter.errors import RewriteError, first_line

REPLAY_LABEL = "reference rewrite (hand-written, not model output)"


class ReplayExhausted(Exception):
    """The replay file has no response left for this request."""


class Transcript:
    """JSON Lines log of one run; every record has a ``type`` and a ``time``."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def write(self, record: dict) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"type": record.pop("type"), "time": round(time.time(), 3), **record},
                                    default=str) + "\n")


class Endpoint(Protocol):
    description: str

    def complete(self, messages: list[dict], round: int) -> str: ...


@dataclass
class Settings:
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    base_url: str | None = None
    timeout: float = 120.0
    retries: int = 3
    backoff: float = 1.0
    seed: int = 0
    temperature: float = 0.0
    max_backoff: float = 60.0

    def request_params(self) -> dict:
        return {"model": self.model, "temperature": self.temperature, "seed": self.seed,
                "response_format": {"type": "json_object"}}


@dataclass
class LiveEndpoint:
    settings: Settings
    transcript: Transcript
    sleep: Callable[[float], None] = time.sleep
    client: object = field(default=None, repr=False)

    def __post_init__(self):
        import openai

        self.client = openai.OpenAI(api_key=self.settings.api_key, base_url=self.settings.base_url or None,
                                    timeout=self.settings.timeout, max_retries=0)
        self.description = f"{self.settings.model} at {self.url}"

    @property
    def url(self) -> str:
        return self.settings.base_url or "https://api.openai.com/v1"

    def complete(self, messages: list[dict], round: int) -> str:
        import openai

        params = self.settings.request_params()
        attempts = self.settings.retries + 1
        last = ""
        for attempt in range(1, attempts + 1):
            self.transcript.write({"type": "request", "round": round, "attempt": attempt, "url": self.url,
                                   "params": params, "messages": messages})
            try:
                response = self.client.chat.completions.create(messages=messages, **params)
            except openai.APITimeoutError:
                last = f"the model endpoint at {self.url} did not answer within {self.settings.timeout:g} s"
                retry_after = None
            except openai.APIConnectionError as error:
                cause = first_line(error.__cause__ or error)
                last = f"cannot reach the model endpoint at {self.url} ({cause})"
                retry_after = None
            except openai.APIStatusError as error:
                status = error.status_code
                detail = _error_detail(error)
                if status == 429 or status >= 500:
                    reason = "rate limited" if status == 429 else "server error"
                    last = f"the model endpoint at {self.url} answered HTTP {status} ({reason}: {detail})"
                    retry_after = _retry_after(error)
                else:
                    self.transcript.write({"type": "error", "round": round, "attempt": attempt,
                                           "status": status, "error": detail})
                    hint = {401: "; check OPENAI_API_KEY", 403: "; check OPENAI_API_KEY",
                            404: "; check --model and OPENAI_BASE_URL"}.get(status, "")
                    raise RewriteError(f"the model endpoint at {self.url} refused the request with HTTP "
                                       f"{status}: {detail}{hint}") from None
            else:
                content = response.choices[0].message.content if response.choices else None
                self.transcript.write({"type": "response", "round": round, "attempt": attempt,
                                       "id": getattr(response, "id", None), "model": getattr(response, "model", None),
                                       "content": content,
                                       "usage": response.usage.model_dump() if getattr(response, "usage", None) else None})
                return content or ""
            self.transcript.write({"type": "error", "round": round, "attempt": attempt, "error": last})
            if attempt < attempts:
                delay = min(self.settings.backoff * 2 ** (attempt - 1), self.settings.max_backoff)
                if retry_after is not None:
                    delay = min(max(delay, retry_after), self.settings.max_backoff)
                self.sleep(delay)
        raise RewriteError(f"{last}; gave up after {attempts} attempts (--retries {self.settings.retries})")


def _error_detail(error) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return first_line(inner["message"])[:200]
        if isinstance(inner, str):
            return first_line(inner)[:200]
    return first_line(getattr(error, "message", "") or error)[:200]


def _retry_after(error) -> float | None:
    try:
        value = error.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None


@dataclass
class ReplayEndpoint:
    """Answers from a JSON Lines file: one record per response, used in order."""

    path: Path
    transcript: Transcript
    records: list = field(default_factory=list)

    def __post_init__(self):
        self.records = read_replay(self.path)
        self.description = f"replay of {self.path} ({len(self.records)} responses)"
        self.position = 0

    def complete(self, messages: list[dict], round: int) -> str:
        self.transcript.write({"type": "request", "round": round, "attempt": 1, "url": f"replay:{self.path}",
                               "messages": messages})
        if self.position >= len(self.records):
            self.transcript.write({"type": "error", "round": round, "error": "replay file exhausted"})
            raise ReplayExhausted(f"the replay file {self.path} has no response left for round {round}")
        record = self.records[self.position]
        self.position += 1
        content = record_content(record)
        self.transcript.write({"type": "response", "round": round, "attempt": 1, "replay_line": record["_line"],
                               "label": record.get("label"), "content": content})
        return content


def record_content(record: dict) -> str:
    """The response text of a replay record: ``content`` as is, or ``answer`` serialised as JSON."""
    if "content" in record:
        return record["content"]
    return json.dumps(record["answer"], indent=1)


def read_replay(path: Path) -> list[dict]:
    if not path.is_file():
        raise RewriteError(f"replay file {path} does not exist")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise RewriteError(f"replay file {path} line {number} is not JSON: {first_line(error)}") from None
        if not isinstance(record, dict) or not (isinstance(record.get("content"), str)
                                                or isinstance(record.get("answer"), dict)):
            raise RewriteError(f"replay file {path} line {number} needs \"content\" (a string) or \"answer\" "
                               "(an object)")
        record["_line"] = number
        records.append(record)
    if not records:
        raise RewriteError(f"replay file {path} holds no responses")
    return records


@dataclass
class Recorder:
    """Wrap an endpoint and append each response to a replay file (``--record``)."""

    inner: Endpoint
    path: Path

    def __post_init__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self.description = self.inner.description + f", recorded to {self.path}"

    def complete(self, messages: list[dict], round: int) -> str:
        content = self.inner.complete(messages, round)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"label": f"recorded from {self.inner.description}", "round": round,
                                     "content": content}) + "\n")
        return content


def endpoint(*, replay: str | None, record: str | None, settings: Settings, transcript: Transcript) -> Endpoint:
    """The endpoint the options ask for; explains the choices when there is none."""
    if replay and record:
        raise RewriteError("--replay and --record exclude each other: replay answers from a file, record writes one")
    if replay:
        return ReplayEndpoint(Path(replay), transcript)
    if not settings.api_key:
        raise RewriteError("no model to ask: set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
                           "OpenAI-compatible server), or pass --replay FILE to answer from recorded responses")
    live = LiveEndpoint(settings, transcript)
    return Recorder(live, Path(record)) if record else live


def settings_from_env(model: str, timeout: float, retries: int, backoff: float, seed: int) -> Settings:
    return Settings(model=model, api_key=os.environ.get("OPENAI_API_KEY") or None,
                    base_url=os.environ.get("OPENAI_BASE_URL") or None, timeout=timeout, retries=retries,
                    backoff=backoff, seed=seed)
