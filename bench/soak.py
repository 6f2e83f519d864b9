"""The soak behind `bench/run --soak`: rg serve under a mixed load for
minutes (keep-alive and new connections, slow clients, request bodies,
WebSockets) with a HUP, a TTIN and a TTOU every minute and workers recycled
by max_requests along the way. It counts every request that failed and was
not cut by design (a WebSocket closed with its close frame at a reload), and
samples the master's and the workers' memory and open descriptors: the last
minute must stay within 5% of the second.
"""

import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target" / "bench"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build():
    """rg, and a project whose application is the e2e tests' fixture (it has
    a WebSocket echo and a body echo), both in release mode."""
    env = {**os.environ, "CARGO_TARGET_DIR": str(TARGET)}
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "rg-cli"], cwd=ROOT, env=env, check=True)
    rg = TARGET / "release" / "rg"
    projects = TARGET / "projects"
    projects.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(projects / "benchsoak", ignore_errors=True)
    subprocess.run([rg, "new", "--runtime-path", ROOT / "runtime", "benchsoak"], cwd=projects, check=True,
                   stdout=subprocess.DEVNULL)
    shutil.copy(ROOT / "Cargo.lock", projects / "benchsoak" / "Cargo.lock")
    for name in ("main.rs", "application.rs"):
        shutil.copy(ROOT / "tests" / "e2e" / "fixture" / name, projects / "benchsoak" / "src" / name)
    subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path", projects / "benchsoak" / "Cargo.toml"],
                   env=env, check=True)
    return rg, TARGET / "release" / "benchsoak"


class Tally:
    """Counts shared by the load's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, what):
        with self.lock:
            self.failures.append(what)


def exchange(port, request, slow=False):
    """Sends `request` on a new connection (a byte range at a time, 0.2 s
    apart, when `slow`) and returns the status and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        if slow:
            step = max(1, len(request) // 10)
            for i in range(0, len(request), step):
                s.sendall(request[i:i + step])
                time.sleep(0.2)
        else:
            s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def attempt(tally, name, ask):
    """Counts `ask()`'s answer under `name`: `None` for a good one, else
    what was wrong with it."""
    try:
        wrong = ask()
    except OSError as e:
        wrong = str(e)
    if wrong is None:
        tally.add(name)
    else:
        tally.fail(f"{name}: {wrong}")


def bodies(port, tally, stop):
    """POSTs of 1 to 256 KiB, each on a new connection, checked byte for byte."""
    def post():
        body = os.urandom(random.randint(1, 256 * 1024) // 2).hex().encode()
        request = (b"POST /echo HTTP/1.1\r\nHost: soak\r\nConnection: close\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body)
        status, answer = exchange(port, request)
        if status == 200 and answer == str(len(body)).encode() + b" bytes: " + body + b"\n":
            return None
        return f"status {status}, {len(answer)} bytes back"

    while not stop.is_set():
        attempt(tally, "bodies", post)


def slow_clients(port, tally, stop):
    """A request head sent in ten pieces over two seconds, as a slow
    network does: well inside `keepalive`, so it must be answered."""
    request = b"GET /json HTTP/1.1\r\nHost: soak\r\nUser-Agent: a slow client\r\nConnection: close\r\n\r\n"

    def get():
        status, _ = exchange(port, request, slow=True)
        return None if status == 200 else f"status {status}"

    while not stop.is_set():
        attempt(tally, "slow clients", get)


def websocket(port, tally, stop):
    """A WebSocket that echoes a message every half second; a reload closes
    it with 1001 at the graceful timeout (by design), and it reconnects."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
                s.sendall(b"GET /ws HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = s.recv(1)
                    if not chunk:
                        raise OSError("closed during the handshake")
                    head += chunk
                if not head.startswith(b"HTTP/1.1 101"):
                    tally.fail(f"WebSocket handshake: {head.splitlines()[0]!r}")
                    continue
                tally.add("websockets opened")
                while not stop.is_set():
                    s.sendall(frame(b"ping"))
                    opcode, payload = read_frame(s)
                    if opcode == 8:
                        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                        if code == 1001:
                            tally.add("websockets closed at a reload (1001)")
                        else:
                            tally.fail(f"WebSocket closed with {code}")
                        break
                    if opcode != 1 or not payload.startswith(b"ping from "):
                        tally.fail(f"WebSocket echo: opcode {opcode}, {payload[:40]!r}")
                        break
                    tally.add("websocket messages")
                    time.sleep(0.5)
        except OSError as e:
            tally.fail(f"WebSocket: {e}")


def frame(payload):
    """A masked text frame (clients must mask), for payloads under 126 bytes."""
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(s):
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise OSError("closed without a close frame")
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(exactly(8), "big")
    return first & 0x0F, exactly(length)


def wrk(url, seconds, conns, close):
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", url]
    if close:
        cmd += ["-H", "Connection: close"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    errors = {kind: int(n) for kind, n in re.findall(r"(connect|read|write|timeout) (\d+)", out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors["non-2xx"] = int(non2xx.group(1))
    return int(re.search(r"(\d+) requests in", out).group(1)), errors


def status_of(pid):
    """A process's resident memory (MiB), its open descriptors other than
    sockets (files, pipes, timers: what a leak would pile up) and its
    sockets (which follow the load)."""
    try:
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
        fds = Path(f"/proc/{pid}/fd")
        targets = []
        for fd in fds.iterdir():
            try:
                targets.append(os.readlink(fd))
            except OSError:
                pass
        sockets = sum(1 for t in targets if t.startswith("socket:"))
        return rss / 1024, len(targets) - sockets, sockets
    except (OSError, StopIteration):
        return None


def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def main(minutes):
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=sys.stderr,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    rg, app = build()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seconds = minutes * 60
    errlog = tempfile.NamedTemporaryFile(prefix="rg-soak-", suffix=".log", delete=False)
    master = subprocess.Popen(
        [rg, "serve", app, "-b", f"127.0.0.1:{port}", "-w", "2", "--access-logfile", "off",
         "--graceful-timeout", "10", "--max-requests", "300000", "--max-requests-jitter", "30000"],
        cwd=tempfile.gettempdir(), stdout=errlog, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if exchange(port, b"GET / HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"rg serve did not start; its log is {errlog.name}")
        log(f"soak: {minutes} minutes on port {port}; rg's log is {errlog.name}")
        return soak(master, port, seconds, minutes, errlog.name)
    finally:
        try:
            os.killpg(master.pid, signal.SIGTERM)
            master.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(master.pid, signal.SIGKILL)
            master.wait()


def soak(master, port, seconds, minutes, errlog):
    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=f, args=(port, tally, stop))
               for f in (bodies, bodies, slow_clients, slow_clients, slow_clients, slow_clients,
                         websocket, websocket, websocket, websocket)]
    loads = {}

    def load(name, url, conns, close):
        loads[name] = wrk(url, seconds, conns, close)

    threads += [threading.Thread(target=load, args=("keep-alive", f"http://127.0.0.1:{port}/json", 16, False)),
                threading.Thread(target=load, args=("new connections", f"http://127.0.0.1:{port}/", 8, True))]
    for t in threads:
        t.start()
    started, samples, events = time.time(), [], []
    # Each minute: a HUP at 15 s, a worker more at 30 s, one fewer at 45 s.
    plan = [(m * 60 + at, sig, name) for m in range(minutes)
            for at, sig, name in ((15, signal.SIGHUP, "HUP"), (30, signal.SIGTTIN, "TTIN"), (45, signal.SIGTTOU, "TTOU"))]
    while time.time() - started < seconds:
        now = time.time() - started
        while plan and plan[0][0] <= now:
            _, sig, name = plan.pop(0)
            os.kill(master.pid, sig)
            events.append(name)
        workers = [status_of(pid) for pid in children(master.pid)]
        workers = [w for w in workers if w]
        own = status_of(master.pid)
        if own and workers:
            samples.append((now, own, workers))
        time.sleep(2)
    stop.set()
    for t in threads:
        t.join()
    return report(tally, loads, samples, events, minutes, errlog)


def report(tally, loads, samples, events, minutes, errlog):
    recycled = sum(1 for line in Path(errlog).read_text().splitlines() if "served max_requests" in line)
    print(f"\n## Soak: {minutes} minutes of mixed load on rg serve\n")
    print("| Load | Answered | Failed |")
    print("|---|---|---|")
    failed = len(tally.failures)
    for name, (total, errors) in loads.items():
        print(f"| wrk, {name} | {total} | {sum(errors.values())} {errors or ''} |")
        failed += sum(errors.values())
    for key in sorted(tally.counts):
        print(f"| {key} | {tally.counts[key]} | |")
    print(f"\nSignals: {events.count('HUP')} HUP, {events.count('TTIN')} TTIN, {events.count('TTOU')} TTOU; "
          f"{recycled} workers recycled by max_requests.")
    for what in sorted(set(tally.failures))[:10]:
        print(f"- failed: {what} (x{tally.failures.count(what)})")

    def minute(m):
        return [s for s in samples if m * 60 <= s[0] < (m + 1) * 60]

    # Per worker, as their number follows the signals within each minute;
    # sockets follow the load, so they are shown, not judged.
    figures = {
        "master memory (MiB)": lambda s: s[1][0],
        "master descriptors other than sockets": lambda s: s[1][1],
        "worker memory, mean (MiB)": lambda s: statistics.mean(w[0] for w in s[2]),
        "worker descriptors other than sockets, mean": lambda s: statistics.mean(w[1] for w in s[2]),
        "workers' sockets, all (not judged)": lambda s: sum(w[2] for w in s[2]),
    }
    print("\n| Median of samples every 2 s | " + " | ".join(f"minute {m + 1}" for m in range(minutes))
          + " | last / second |")
    print("|---|" + "---|" * (minutes + 1))
    flat = True
    for name, of in figures.items():
        medians = [statistics.median(of(s) for s in minute(m)) if minute(m) else float("nan")
                   for m in range(minutes)]
        a, b = medians[1], medians[minutes - 1]
        change = (b - a) / a if a else 0.0
        if "not judged" not in name:
            flat &= change <= 0.05
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in medians) + f" | {change:+.1%} |")
    print(f"\nfailed requests not cut by design: {failed} (target 0): {'PASS' if failed == 0 else 'FAIL'}")
    print(f"memory and descriptors, last minute at most 5% above the second: {'PASS' if flat else 'FAIL'}")
    return 0 if failed == 0 and flat else 1
