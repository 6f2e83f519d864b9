#!/usr/bin/env python3
"""Differential test of HTTP/1.1 message boundaries: rg serve against h11.

Generated and mutated requests (pipelined, every framing header, chunked
with extensions and trailers, obs-fold, odd whitespace, bare CR and LF) go
to a running `rg serve` of the test fixture, whose `/mirror` route answers
with the request as the application received it. The same bytes go to h11,
an independent strict parser. Where rg's application sees a request, h11
must have read the same request (method, target, fields, body, trailers) at
the same place in the stream; where they differ, rg must have refused.

    differential.py --port PORT [--cases N] [--seed S]

Prints one JSON summary line; exits 1 on any disagreement. Needs h11 (PyPI).
"""

import argparse
import json
import random
import socket
import sys

import h11

METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"]
TOKEN = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
PATH = b"abcxyzABC0123456789-._~!$&'()*+,;=:@/%"
VALUE = b"abc xyz\t0123456789,;=\"()/:?[]{}<>!#$%&'*+-.^_`|~\x80\xa0\xe9\xff"


def pick(rng, alphabet, low, high):
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def chunked_body(rng, data):
    """`data` in chunks, sizes in any case with leading zeros, extensions
    and trailers now and then."""
    out = b""
    i = 0
    while i < len(data):
        n = rng.randint(1, max(1, len(data) - i))
        size = format(n, rng.choice(["x", "X"])).encode()
        if rng.random() < 0.2:
            size = b"0" * rng.randint(1, 3) + size
        ext = b""
        if rng.random() < 0.2:
            ext = rng.choice([b";a=b", b";x", b';q="v w"', b" ;a=b", b";a=b\t"])
        out += size + ext + b"\r\n" + data[i : i + n] + b"\r\n"
        i += n
    out += b"0" + (b";last" if rng.random() < 0.1 else b"") + b"\r\n"
    if rng.random() < 0.3:
        out += b"X-Checksum: " + pick(rng, TOKEN, 1, 8) + b"\r\n"
    if rng.random() < 0.1:
        out += rng.choice([b"Content-Length: 3\r\n", b"Host: other\r\n", b"Transfer-Encoding: chunked\r\n"])
    return out + b"\r\n"


def request(rng):
    """One request as a client might write it, framing chosen at random."""
    method = rng.choice(METHODS)
    target = b"/mirror/" + pick(rng, PATH, 0, 12)
    if rng.random() < 0.3:
        target += b"?" + pick(rng, PATH + b"?", 0, 10)
    if rng.random() < 0.03:
        target = rng.choice([b"*", b"http://a/mirror/x", b"mirror", b"/mirror/\x7f", b"/mirror/a b"])
    version = b"HTTP/1.1" if rng.random() < 0.95 else rng.choice([b"HTTP/1.0", b"HTTP/1.2", b"HTTP/2.0", b"http/1.1"])
    fields = []
    if rng.random() < 0.97:
        fields.append((b"Host", rng.choice([b"example.com", b"a:8000", b"[::1]", b"", b"a b"])))
    for _ in range(rng.randint(0, 4)):
        fields.append((b"X-" + pick(rng, TOKEN, 1, 6), pick(rng, VALUE, 0, 12)))
    data = pick(rng, VALUE, 0, 40)
    framing = rng.choice(["none", "length", "length", "chunked", "chunked", "both", "odd"])
    body = b""
    if framing == "length":
        fields.append((b"Content-Length", str(len(data)).encode()))
        body = data
    elif framing == "chunked":
        fields.append((b"Transfer-Encoding", b"chunked"))
        body = chunked_body(rng, data)
    elif framing == "both":
        fields.append((b"Content-Length", str(len(data)).encode()))
        fields.append((b"Transfer-Encoding", b"chunked"))
        body = chunked_body(rng, data)
    elif framing == "odd":
        n = str(len(data)).encode()
        name, value, body = rng.choice(
            [
                (b"Content-Length", n + b", " + n, data),
                (b"Content-Length", b"+" + n, data),
                (b"Content-Length", b"0" + n, data),
                (b"Content-Length", n + b" " + n, data),
                (b"Content-Length", b"0x" + format(len(data), "x").encode(), data),
                (b"Transfer-Encoding", b"gzip, chunked", chunked_body(rng, data)),
                (b"Transfer-Encoding", b"chunked, gzip", chunked_body(rng, data)),
                (b"Transfer-Encoding", b"Chunked", chunked_body(rng, data)),
                (b"Transfer-Encoding", b"chunked , chunked", chunked_body(rng, data)),
                (b"Transfer-Encoding", b"identity", data),
                (b"Transfer-Encoding ", b"chunked", chunked_body(rng, data)),
                (b"Content-Length ", n, data),
                (b" Content-Length", n, data),
                (b"Transfer_Encoding", b"chunked", chunked_body(rng, data)),
            ]
        )
        fields.append((name, value))
        if rng.random() < 0.3:
            fields.append((b"Content-Length", n))
    if rng.random() < 0.1:
        fields.append((b"Connection", rng.choice([b"close", b"keep-alive", b"upgrade"])))
    if rng.random() < 0.05:
        fields.append((b"Expect", b"100-continue"))
    rng.shuffle(fields)
    head = method + b" " + target + b" " + version + b"\r\n"
    for name, value in fields:
        sep = rng.choice([b": ", b": ", b":", b":\t", b":  "])
        tail = rng.choice([b"", b"", b"", b" ", b"\t"])
        head += name + sep + value + tail + b"\r\n"
    return head + b"\r\n" + body


def mutate(rng, raw):
    """A few byte-level changes of the kinds that split parsers."""
    raw = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        if not raw:
            break
        i = rng.randrange(len(raw))
        kind = rng.randrange(7)
        if kind == 0 and b"\r\n" in raw:
            at = raw.find(b"\r\n", i)
            at = raw.find(b"\r\n") if at < 0 else at
            raw[at : at + 2] = rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r", b"\r\n "])
        elif kind == 1:
            raw[i:i] = rng.choice([b" ", b"\t", b"\r", b"\n", b"\x00", b"\x0b", b"\x7f"])
        elif kind == 2:
            del raw[i]
        elif kind == 3:
            raw[i:i] = raw[i : i + rng.randint(1, 8)]
        elif kind == 4:
            raw[i] = rng.randrange(256)
        elif kind == 5:
            at = raw.find(b"\r\n", i)
            if at > 0:
                raw[at:at] = b"\r\n " + pick(rng, TOKEN, 1, 4)
        else:
            raw[i] = ord(chr(raw[i]).swapcase()) if raw[i] < 128 else raw[i]
    return bytes(raw)


def case(rng):
    raw = b"".join(request(rng) for _ in range(rng.choice([1, 1, 2, 2, 3])))
    if rng.random() < 0.5:
        raw = mutate(rng, raw)
    return raw


def fields_of(headers):
    out = {}
    for name, value in headers:
        out.setdefault(bytes(name).lower(), []).append(bytes(value))
    return out


def h11_reads(raw):
    """What h11 reads in `raw`: the requests it saw whole, and how it stopped
    (`clean`, `incomplete`, or the error)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    conn.receive_data(b"")
    requests, current = [], None
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as e:
            return requests, f"error: {e}"
        if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            return requests, "clean" if current is None else "incomplete"
        if event is h11.PAUSED:
            return requests, "clean"
        if isinstance(event, h11.Request):
            current = {
                "method": bytes(event.method),
                "target": bytes(event.target),
                "fields": fields_of(event.headers),
                "body": b"",
                "trailers": {},
            }
        elif isinstance(event, h11.Data):
            current["body"] += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            current["trailers"] = fields_of(event.headers)
            requests.append(current)
            current = None
            conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
            conn.send(h11.EndOfMessage())
            if conn.our_state is h11.MUST_CLOSE:
                return requests, "clean"
            conn.start_next_cycle()


def rg_reads(port, raw):
    """What rg answered to `raw`: the mirrored requests, then the status that
    ended it (None when the connection simply closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        received = b""
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # rg answered and closed before all was sent; read its answer
        try:
            while chunk := s.recv(65536):
                received += chunk
        except ConnectionResetError:
            received += b"<reset>"
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(received)
    client.receive_data(b"")
    seen, status, body = [], None, b""
    while True:
        try:
            event = client.next_event()
        except h11.RemoteProtocolError as e:
            # rg closed where this client, always one request ahead, waited.
            if "ConnectionClosed" not in str(e):
                raise
            return seen, None, b""
        if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            return seen, None, b""
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            status, body = event.status_code, b""
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            # 404 is the fixture's answer off `/mirror`, mirrored all the same.
            if status not in (200, 404) or not body.startswith(b"method "):
                return seen, status, body
            seen.append(mirrored(body))
            if client.their_state is h11.MUST_CLOSE or client.our_state is h11.MUST_CLOSE:
                return seen, None, b""
            client.start_next_cycle()
            client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
            client.send(h11.EndOfMessage())


def mirrored(body):
    """The request `/mirror` described, as `h11_reads` gives one. h11 lowercases
    Transfer-Encoding's value; so is rg's here, to compare."""
    request = {"fields": {}, "trailers": {}}
    for line in body.decode().splitlines():
        kind, *values = line.split(" ")
        values = [bytes.fromhex(v) for v in values]
        if kind in ("method", "target", "body"):
            request[kind] = values[0]
        elif kind == "header":
            request["fields"].setdefault(values[0], []).append(values[1])
        elif kind == "trailer":
            request["trailers"].setdefault(values[0], []).append(values[1])
    if b"transfer-encoding" in request["fields"]:
        request["fields"][b"transfer-encoding"] = [v.lower() for v in request["fields"][b"transfer-encoding"]]
    return request


def compare(port, raw):
    """None when rg and h11 agree (or rg refused where they part), else why not."""
    theirs, ending = h11_reads(raw)
    ours, status, reason = rg_reads(port, raw)
    for i, request in enumerate(ours):
        if i >= len(theirs):
            return f"rg's application got request {i + 1}, h11 read {len(theirs)} ({ending})", None
        if request != theirs[i]:
            return f"request {i + 1} read differently:\n  rg:  {request}\n  h11: {theirs[i]}", None
    if len(ours) < len(theirs) and status is None:
        return f"rg answered {len(ours)} of the {len(theirs)} requests h11 read, and refused none", None
    if status is not None and status < 400:
        return f"rg ended with status {status}", None
    refused = None if status is None else f"{status} {reason.decode(errors='replace').strip()}"
    return None, (len(ours), refused, ending)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    agreed = refused = both_refused = requests = 0
    reasons, disagreements = {}, []
    for n in range(args.cases):
        raw = case(rng)
        wrong, outcome = compare(args.port, raw)
        if wrong:
            disagreements.append({"case": n, "bytes": raw.decode("latin-1"), "why": wrong})
            continue
        seen, refusal, ending = outcome
        requests += seen
        if refusal is None:
            agreed += 1
        elif ending.startswith("error") or ending == "incomplete":
            both_refused += 1
        else:
            refused += 1
            reasons[refusal[:70]] = reasons.get(refusal[:70], 0) + 1
    summary = {
        "cases": args.cases,
        "seed": args.seed,
        "requests_compared": requests,
        "agreed": agreed,
        "refused_by_both": both_refused,
        "refused_only_by_rg": refused,
        "rg_refusal_reasons": reasons,
        "disagreements": len(disagreements),
        "first_disagreements": disagreements[:5],
    }
    print(json.dumps(summary))
    sys.exit(1 if disagreements else 0)


if __name__ == "__main__":
    main()
