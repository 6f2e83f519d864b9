//! HTTP/2 attacks on a worker (CONTINUATION, SETTINGS and PING floods, an HPACK bomb, empty DATA,
//! idle and stalled streams) are cut off or held back, quietly, while another client keeps being served.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::http2::python_h2;
use crate::support::{Master, Serve, eventually};

/// One attack, named by argv[2], on 127.0.0.1:argv[1] with Python's h2,
/// hyperframe and hpack over a raw socket (h2c with prior knowledge), while
/// a victim thread asks `GET /` over HTTP/1.1 on new connections. Floods
/// open connection after connection for FLOOD seconds; prints JSON: the most
/// frames one connection got in, bytes it read back ("received"), how the
/// connections ended ("goaway": a GOAWAY was read, "closed", "stalled": a
/// send blocked STALL seconds, "open": still taking frames at the end), the
/// slowest end in ms; and the victim's answers ok, failed and slowest in ms.
const ATTACK: &str = r#"
import json, socket, sys, threading, time
import h2.config, h2.connection, h2.events
from hpack.hpack import encode_integer
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, PingFrame, SettingsFrame

ADDR, ATTACK = ("127.0.0.1", int(sys.argv[1])), sys.argv[2]
# Seconds: the flood's length, a send blocked this long (the server stopped
# reading), the longest wait for a server to act on an idle connection.
FLOOD, STALL, WAIT = 2.5, 1.0, 6.0
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize()
# HPACK: :method GET, :scheme http, :path /, :authority a (not indexed).
GET = b"\x82\x86\x84\x01\x01a"
POST = b"\x83\x86\x04\x05/echo\x01\x01a"

def literal(name, value, first=b"\x00"):
    return first + encode_integer(len(name), 7) + name + encode_integer(len(value), 7) + value

victim = {"ok": 0, "failed": 0, "slowest_ms": 0}
done = threading.Event()

def ask():
    while not done.is_set():
        start, answer = time.monotonic(), b""
        try:
            with socket.create_connection(ADDR, timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                while chunk := s.recv(65536):
                    answer += chunk
        except OSError:
            pass
        victim["ok" if answer.startswith(b"HTTP/1.1 200") else "failed"] += 1
        ms = round((time.monotonic() - start) * 1000)
        victim["slowest_ms"] = max(victim["slowest_ms"], ms)

def recv(sock, patient):
    while True:
        try:
            return sock.recv(1 << 20)
        except socket.timeout:
            if not patient:
                raise

def frames(sock, patient=False):
    """(type, flags) of each frame the server sends, until it closes."""
    buf = b""
    while chunk := recv(sock, patient):
        buf, at = buf + chunk, 0
        while len(buf) - at >= 9 and len(buf) - at >= 9 + int.from_bytes(buf[at:at + 3], "big"):
            yield buf[at + 3], buf[at + 4]
            at += 9 + int.from_bytes(buf[at:at + 3], "big")
        buf = buf[at:]

class Attacker:
    """One attacking connection; with read, a thread reads what it is sent
    (looking for GOAWAY, or just draining it: "drain")."""
    def __init__(self, read, first=b""):
        self.frames, self.received, self.goaway = 0, 0, False
        self.started = time.monotonic()
        self.sock = socket.create_connection(ADDR, timeout=STALL)
        self.sock.sendall(PREFACE + first)
        if read:
            threading.Thread(target=self.read, args=(read,), daemon=True).start()

    def read(self, how):
        try:
            while how == "drain" and (chunk := recv(self.sock, True)):
                self.received += len(chunk)
            for kind, _ in frames(self.sock, patient=True):
                self.goaway |= kind == 7
        except OSError:
            pass

    def flood(self, batch, count):
        """Sends batch (count frames) until cut off or the flood is over."""
        while time.monotonic() < self.started + FLOOD and not self.goaway:
            try:
                self.sock.sendall(batch(self.frames) if callable(batch) else batch)
            except socket.timeout:
                return "stalled"
            except OSError:
                time.sleep(0.05)  # A GOAWAY read before the close counts.
                return "goaway" if self.goaway else "closed"
            self.frames += count
        return "goaway" if self.goaway else "open"

def bomb(sent):
    sid = 3 + 2 * sent
    return b"".join(HeadersFrame(sid + 2 * i, data=GET + b"\xbe" * 1000,
                                 flags=["END_HEADERS", "END_STREAM"]).serialize() for i in range(10))

def attack():
    """One attacking connection: frames it got in, how it ended."""
    open_stream = lambda block, flags: HeadersFrame(1, data=block, flags=flags).serialize()
    if ATTACK == "continuation":
        a = Attacker(True, open_stream(GET, ["END_STREAM"]))
        return a, a.flood(ContinuationFrame(1).serialize() * 100, 100)
    if ATTACK == "continuation-headers":
        a = Attacker(True, open_stream(GET, ["END_STREAM"]))
        batch = b"".join(ContinuationFrame(1, data=literal(b"x-%d" % i, b"v")).serialize()
                         for i in range(10))
        return a, a.flood(batch, 10)
    if ATTACK in ("settings", "settings-read"):
        a = Attacker(ATTACK.endswith("-read") and "drain")
        return a, a.flood(SettingsFrame(0).serialize() * 100, 100)
    if ATTACK in ("ping", "ping-read"):
        a = Attacker(ATTACK.endswith("-read") and "drain")
        return a, a.flood(PingFrame(0, opaque_data=b"12345678").serialize() * 100, 100)
    if ATTACK == "hpack-bomb":
        # Dynamic table entry 62: x-bomb, 4,000 bytes; then 1,000 references
        # to it (0xbe) in each header block.
        big = literal(b"x-bomb", b"b" * 4000, b"\x40")
        a = Attacker(True, open_stream(GET + big, ["END_HEADERS", "END_STREAM"]))
        return a, a.flood(bomb, 10)
    if ATTACK == "empty-data":
        a = Attacker(True, open_stream(POST, ["END_HEADERS"]))
        return a, a.flood(DataFrame(1).serialize() * 100, 100)
    raise SystemExit("unknown attack " + ATTACK)

def idle(first):
    """Preface and SETTINGS (and first), then nothing: how the server ends it."""
    sock = socket.create_connection(ADDR, timeout=WAIT)
    start, seen, end = time.monotonic(), [], "closed"
    sock.sendall(PREFACE + first)
    try:
        for kind, _ in frames(sock):
            seen.append(kind)
    except socket.timeout:
        end = "open"
    except OSError:
        pass
    return {"ends": [end], "goaway": 7 in seen, "end_ms": round((time.monotonic() - start) * 1000)}

def stalled_body():
    """POST /echo with content-length 10, 3 bytes of it, then nothing."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "POST"), (":path", "/echo"), (":scheme", "http"),
                          (":authority", "a"), ("content-length", "10")])
    conn.send_data(1, b"abc")
    sock = socket.create_connection(ADDR, timeout=WAIT)
    start, status = time.monotonic(), None
    sock.sendall(conn.data_to_send())
    try:
        while status is None and (chunk := sock.recv(65536)):
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"].decode()
            sock.sendall(conn.data_to_send())
    except OSError:
        pass
    return {"status": status, "end_ms": round((time.monotonic() - start) * 1000)}

asker = threading.Thread(target=ask)
asker.start()
deadline = time.monotonic() + FLOOD
if ATTACK == "idle":
    report = idle(b"")
elif ATTACK == "idle-headers":
    report = idle(HeadersFrame(1, data=GET, flags=["END_STREAM"]).serialize())
elif ATTACK == "stalled-body":
    report = stalled_body()
else:
    ends, most, got, slowest, connections = set(), 0, 0, 0, 0
    while time.monotonic() < deadline:
        connections += 1
        try:
            a, end = attack()
        except OSError:  # Refused, or cut before its flood began.
            ends.add("unstarted")
            continue
        ends.add(end)
        most, got = max(most, a.frames), max(got, a.received)
        slowest = max(slowest, round((time.monotonic() - a.started) * 1000))
        a.sock.close()
    report = {"connections": connections, "frames": most, "received": got, "ends": sorted(ends),
              "end_ms": slowest}
done.set()
asker.join()
report.update(victim)
print(json.dumps(report))
"#;

/// Runs `attack` of [`ATTACK`] against `master`: what the script printed.
fn attack(master: &Master, attack: &str) -> Value {
    let out = Command::new(python_h2())
        .args(["-c", ATTACK, &master.port().to_string(), attack])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(stdout.trim());
    report.unwrap_or_else(|e| panic!("{attack}: {e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

fn number(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {report}"))
}

fn ends(report: &Value) -> Vec<&str> {
    report["ends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect()
}

/// One worker, so attacker and victim share it.
fn one_worker(args: &[&str]) -> Master {
    Serve::fixture().args(["-w", "1"]).args(args).start()
}

/// The victim was answered every time and promptly during the attack.
fn assert_victim_served(report: &Value) {
    assert_eq!(number(report, "failed"), 0, "a victim request failed: {report}");
    assert!(
        number(report, "ok") >= 20,
        "the victim was hardly served: {report}"
    );
    assert!(number(report, "slowest_ms") < 2000, "the victim waited: {report}");
}

/// Every attacking connection was cut off soon after its flood began, at
/// least one with a GOAWAY first (the rest may have lost it to the reset).
fn assert_cut_off(report: &Value) {
    let ends = ends(report);
    assert!(
        ends.iter().all(|e| ["goaway", "closed"].contains(e)),
        "not cut off: {report}"
    );
    assert!(ends.contains(&"goaway"), "no GOAWAY before the close: {report}");
    assert!(number(report, "end_ms") < 1500, "cut off late: {report}");
}

/// One line per attacking connection would let an attacker fill the log.
fn assert_quiet(master: &Master) {
    let stderr = master.stderr();
    assert!(!stderr.contains("WARN") && !stderr.contains("ERROR"), "{stderr}");
}

#[test]
fn a_continuation_flood_is_cut_off_quietly_and_others_are_served() {
    // CVE-2024-27316: HEADERS without END_HEADERS, then CONTINUATION for ever,
    // empty or each adding a header (x-N: v).
    let master = one_worker(&[]);
    for flood in ["continuation", "continuation-headers"] {
        let report = attack(&master, flood);
        assert_cut_off(&report);
        assert_victim_served(&report);
    }
    assert_quiet(&master);
}

#[test]
fn an_hpack_bomb_is_cut_off_quietly_and_others_are_served() {
    let master = one_worker(&[]);
    let report = attack(&master, "hpack-bomb");
    assert_cut_off(&report);
    assert_victim_served(&report);
    assert_quiet(&master);
}

#[test]
fn an_empty_data_flood_is_cut_off_quietly_and_others_are_served() {
    // CVE-2019-9518: empty DATA frames on an open POST stream.
    let master = one_worker(&[]);
    let report = attack(&master, "empty-data");
    assert_cut_off(&report);
    assert_victim_served(&report);
    assert_quiet(&master);
}

/// A flood each frame of which the server must answer (SETTINGS: an ACK,
/// PING: a PONG): a client that reads no answer is held back by the socket
/// (the server stops reading it, no unbounded buffer), and one that reads
/// them all is answered without starving the others.
fn answered_flood(frame: &str) {
    let master = one_worker(&[]);
    let report = attack(&master, frame);
    assert!(
        !ends(&report).contains(&"open"),
        "still taking frames it cannot answer: {report}"
    );
    assert!(number(&report, "frames") >= 10_000, "no flood went in: {report}");
    assert_victim_served(&report);

    let report = attack(&master, &format!("{frame}-read"));
    assert!(number(&report, "frames") >= 10_000, "no flood went in: {report}");
    // At least 10,000 answers (an ACK is 9 bytes, a PONG 17).
    assert!(
        number(&report, "received") >= 90_000,
        "the flood was not answered: {report}"
    );
    assert_victim_served(&report);
    assert_quiet(&master);
}

#[test]
fn a_settings_flood_is_held_back_and_others_are_served() {
    answered_flood("settings");
}

#[test]
fn a_ping_flood_is_held_back_and_others_are_served() {
    answered_flood("ping");
}

#[test]
fn an_idle_http2_connection_is_closed_after_keepalive() {
    // The preface and SETTINGS, then nothing at all (not even an answer to
    // the server's PING); or a request head begun and never ended.
    let master = one_worker(&["--keepalive", "1"]);
    let report = attack(&master, "idle");
    assert_eq!(ends(&report), ["closed"], "left open: {report}");
    assert_eq!(
        report["goaway"].as_bool(),
        Some(true),
        "closed without a GOAWAY: {report}"
    );
    let took = number(&report, "end_ms");
    assert!(
        (500..5000).contains(&took),
        "closed after {took} ms, not keepalive: {report}"
    );

    let report = attack(&master, "idle-headers");
    assert_eq!(ends(&report), ["closed"], "left open: {report}");
    assert!(number(&report, "end_ms") < 5000, "closed late: {report}");
    assert_quiet(&master);
}

#[test]
fn a_stalled_http2_request_body_is_answered_408() {
    // content-length: 10, 3 bytes sent, then nothing.
    let master = one_worker(&["--body-read-timeout", "1"]);
    let report = attack(&master, "stalled-body");
    assert_eq!(report["status"], "408", "{report}");
    assert!(number(&report, "end_ms") < 5000, "answered late: {report}");
    assert!(
        eventually(Duration::from_secs(5), || master
            .stdout()
            .contains("\"POST /echo HTTP/2.0\" 408")),
        "{}",
        master.stdout()
    );
}
