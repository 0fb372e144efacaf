"""json_handler.py - the base of the scripts' small HTTP servers (standard library only).

A quiet HTTP/1.1 request handler whose answers are JSON with a Content-Length, so that
keep-alive clients (flink-monitor's reqwest, the bench's http.client) reuse connections.
"""
import json
from http.server import BaseHTTPRequestHandler


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, code, value):
        body = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
