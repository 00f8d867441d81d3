#!/usr/bin/env python3
"""A Rizler webhook receiver in Python, standard library only.

It verifies each delivery's Standard Webhooks signature (webhook-id, webhook-timestamp,
webhook-signature) and timestamp, skips deliveries it has already seen (delivery is
at-least-once: dedupe on webhook-id), answers 204 at once and does the work afterwards.

    python3 examples/python_receiver.py --port 3000 --secret whsec_...
    rizler-webhooks listen --forward-to http://localhost:3000/webhooks   # prints a secret to use
"""
import argparse
import base64
import binascii
import hashlib
import hmac
import json
import queue
import re
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300  # how far webhook-timestamp may be from now, either way
MAX_BODY_BYTES = 1024 * 1024  # events are at most 256 KiB
BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class VerificationError(Exception):
    pass


def signing_key(secret):
    """The HMAC key: the bytes after whsec_ when they are valid base64 of 24 to 64 bytes
    (every secret Rizler generates is), otherwise the secret's UTF-8 bytes."""
    if secret.startswith("whsec_"):
        encoded = secret[len("whsec_"):]
        if len(encoded) % 4 == 0 and BASE64.fullmatch(encoded):
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                key = b""
            if 24 <= len(key) <= 64:
                return key
    return secret.encode("utf-8")


def verify_webhook(body, headers, secret, now=None):
    """Checks webhook-signature and webhook-timestamp against the raw body; returns the event."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not timestamp.isdigit():
        raise VerificationError("webhook-timestamp is not Unix seconds")
    age = int(now if now is not None else time.time()) - int(timestamp)
    if abs(age) > TOLERANCE_SECONDS:
        raise VerificationError(f"webhook-timestamp is {age} s off, beyond {TOLERANCE_SECONDS} s")
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest())
    # Several space-separated signatures during a secret rotation; any one may match.
    matched = False
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            matched = True
    if not matched:
        raise VerificationError("no webhook-signature matches the body and secret")
    event = json.loads(body)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise VerificationError("the body is not a Rizler event")
    return event


class RecentIds:
    """The last ids seen. In production: a unique key in the database the work writes to."""

    def __init__(self, size=10000):
        self.ids = OrderedDict()
        self.size = size
        self.lock = threading.Lock()

    def add(self, msg_id):
        """True the first time an id is offered."""
        with self.lock:
            if msg_id in self.ids:
                return False
            self.ids[msg_id] = True
            if len(self.ids) > self.size:
                self.ids.popitem(last=False)
            return True


def process(event):
    """The slow work an event triggers: a CRM update, an email, a call summary."""
    print(f"processed {event['event']} {event['id']}", flush=True)


def make_handler(secret, path, seen, work):
    class WebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != path:
                return self.answer(404)
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                return self.answer(413)
            body = self.rfile.read(length)  # the raw bytes: the signature covers exactly these
            try:
                event = verify_webhook(body, self.headers, secret)
            except (VerificationError, ValueError) as err:
                print(f"rejected: {err}", flush=True)
                return self.answer(400, {"error": {"code": "invalid_webhook", "message": str(err)}})
            # webhook-id is the event id, the same on every retry: acknowledge a repeat, skip it.
            if not seen.add(event["id"]):
                print(f"duplicate {event['id']}", flush=True)
                return self.answer(204)
            # Answer first, work afterwards: a receiver slower than the delivery timeout (10 s)
            # gets the same event again. This in-memory queue loses the work if the process
            # dies; a real app stores the event durably before answering.
            self.answer(204)
            work.put(event)

        def answer(self, status, body=None):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            pass  # one line per event is printed above; no access log

    return WebhookHandler


def worker(work):
    while True:
        event = work.get()
        try:
            process(event)
        except Exception as err:  # one failing event must not stop the others
            print(f"processing {event.get('id')} failed: {err}", flush=True)


def main():
    parser = argparse.ArgumentParser(description="Receive Rizler webhooks")
    parser.add_argument("--port", type=int, default=3000, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--path", default="/webhooks")
    parser.add_argument("--secret", required=True, help="the endpoint's secret, whsec_...")
    args = parser.parse_args()

    work = queue.Queue()
    threading.Thread(target=worker, args=(work,), daemon=True).start()
    handler = make_handler(args.secret, args.path, RecentIds(), work)
    server = ThreadingHTTPServer((args.host, args.port), handler)
    port = server.server_address[1]
    print(f"listening on http://{args.host}:{port}{args.path}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
