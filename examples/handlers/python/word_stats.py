#!/usr/bin/env python3
"""word-stats: a Taskmanager task handler in Python, standard library only.

The worker POSTs each attempt of a `word-stats` task here as a binary-mode CloudEvent
(`ce-type: taskmanager.task.execute`, `ce-subject` = the task id, `ce-attempt`, `ce-deadline`,
body = the payload). This handler counts the words, lines and characters of `payload.text`,
streaming one progress line per line of text (`application/x-ndjson`), then the output:

    {"progress": 50, "message": "line 1 of 2"}
    {"progress": 100, "message": "line 2 of 2"}
    {"output": {"words": 4, "lines": 2, "characters": 21}}

Answers the worker understands: 2xx = done (JSON, or NDJSON as above); 408, 429 and 5xx = try
again later; any other 4xx = this task cannot succeed (the body says why).

Run: PORT=8091 python3 examples/handlers/python/word_stats.py
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WordStats(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the worker pools its connections

    def do_GET(self):
        # A health check for compose, Kubernetes and Knative probes.
        if self.path == "/healthz":
            return self.answer(200, {"ok": True})
        return self.answer(404, {"error": "POST a taskmanager.task.execute CloudEvent to /"})

    def do_POST(self):
        if self.headers.get("ce-type") != "taskmanager.task.execute":
            return self.answer(400, {"error": "expected a taskmanager.task.execute CloudEvent"})
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return self.answer(400, {"error": "the body is not JSON"})
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str):
            # Permanent: another attempt would get the same payload.
            return self.answer(422, {"error": "payload.text must be a string"})
        pause = (payload.get("pause_ms") or 0) / 1000

        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        lines = text.splitlines() or [""]
        try:
            for number in range(1, len(lines) + 1):
                time.sleep(pause)  # stands in for real work per line
                self.write_line({"progress": round(number * 100 / len(lines)), "message": f"line {number} of {len(lines)}"})
            words = sum(len(line.split()) for line in lines)
            self.write_line({"output": {"words": words, "lines": len(lines), "characters": len(text)}})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            # The task was cancelled or timed out: the worker closed the connection. Stop working.
            print(f"task {self.headers.get('ce-subject')}: the worker went away, stopping", file=sys.stderr, flush=True)
            self.close_connection = True

    def write_line(self, value):
        data = (json.dumps(value) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def answer(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # one line per request on stderr is noise here
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8091"))), WordStats)
    print(f"word-stats handler listening on http://{server.server_address[0]}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
