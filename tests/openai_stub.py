"""A small OpenAI-compatible HTTP server for the rewriter tests: the real ``openai`` client talks to it.

It serves ``POST /v1/chat/completions`` from a list of scripted replies, in order:

* ``{"content": "..."}``: a normal chat completion whose message is that text;
* ``{"status": 429}`` / ``{"status": 500}`` (optional ``"message"``): an error response with an OpenAI error body;
* ``{"hang": seconds}``: wait that long before answering (the client's timeout fires first).

Every request body is kept in ``requests`` so tests can read the prompts the rewriter sent.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubServer:
    def __init__(self, replies: list[dict]):
        self.replies = list(replies)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                with stub.lock:
                    stub.requests.append(body)
                    reply = stub.replies.pop(0) if stub.replies else {"status": 500, "message": "stub: no reply left"}
                if "hang" in reply:
                    time.sleep(reply["hang"])
                    reply = {"content": reply.get("content", "{}")}
                if "status" in reply:
                    kind = "rate_limit_exceeded" if reply["status"] == 429 else "server_error"
                    return self._send(reply["status"], {"error": {"message": reply.get("message", kind),
                                                                  "type": kind, "code": kind}})
                self._send(200, {
                    "id": f"chatcmpl-stub-{len(stub.requests)}", "object": "chat.completion",
                    "created": int(time.time()), "model": body.get("model", "stub"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply["content"]}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "StubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def user_messages(self, index: int) -> list[str]:
        """The user messages of request ``index``."""
        return [m["content"] for m in self.requests[index]["messages"] if m["role"] == "user"]
