#!/usr/bin/env python3
"""Memory of `ami gateway --sim` holding idle connections and stuck stream clients, before and
after the gateway's timeouts close them. Loopback only; stops by itself (every wait is bounded,
and the whole run by --limit seconds).

    cargo build --release -p ami-cli
    python3 crates/ami-gateway/benches/connection_memory.py            # 2,000 idle, 10 stuck

It starts `ami gateway --sim` with the default limits (header_timeout_ms 10 s, max_per_ip 256,
write_timeout_ms 10 s), then:

1. opens --idle TCP connections that send nothing, spread over --addresses source addresses
   (127.0.0.10, .11, ...: loopback answers on all of 127/8) to stay under the per-address cap,
   reads VmRSS/VmHWM from /proc/<pid>/status while they are open, waits until the gateway
   has closed them (ami_gateway_connections_open), checks each socket saw its end, and reads
   RSS again; --rounds times (default 2);
2. opens max_per_ip + 44 connections from one more address and counts those refused at accept;
3. opens --stuck stream clients (half SSE, half WebSocket) with 4 KiB receive buffers that
   never read, floods events at them (UserEvent actions with ~700-byte headers) until their
   sockets are full, reads RSS, waits until the write timeout has dropped them all, reads
   RSS again and the ami_gateway_stream_disconnects_total reasons.
"""

import argparse
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

TOKEN = "connection-memory-bench"


def rss(pid):
    """VmRSS and VmHWM of `pid`, in MB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def connect(addr, source="127.0.0.1", rcvbuf=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(addr)
    return sock


def read_head(sock):
    """Reads up to the end of a response head; returns (status, headers, rest)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"closed before a response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def request(addr, method, path, body=None, source="127.0.0.1", sock=None):
    """One request; on `sock` (keep-alive) when given, else on a fresh connection."""
    own = sock is None
    if own:
        sock = connect(addr, source)
    payload = b"" if body is None else body.encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        + ("Connection: close\r\n" if own else "")
        + "\r\n"
    )
    sock.sendall(head.encode() + payload)
    status, headers, rest = read_head(sock)
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    else:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    if own:
        sock.close()
    return status, rest.decode("utf-8", "replace")


def metrics(addr):
    _, body = request(addr, "GET", "/metrics", source="127.0.0.2")
    values = {}
    for line in body.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        values[name] = float(value)
    return values


def wait_until(what, predicate, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    print(f"  (gave up waiting: {what})")
    return False


def is_closed(sock):
    """Whether the peer has closed `sock` (reading anything it sent first)."""
    sock.setblocking(False)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/ami")
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--addresses", type=int, default=10)
    parser.add_argument("--stuck", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of idle connections")
    parser.add_argument("--limit", type=int, default=180, help="seconds before giving up")
    parser.add_argument("--quiet", action="store_true", help="discard the gateway's log")
    args = parser.parse_args()

    def give_up(*_):
        raise SystemExit(f"stopped after --limit {args.limit} s")

    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.limit)
    env = dict(os.environ, AMI_GATEWAY_TOKEN=TOKEN, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    log = subprocess.DEVNULL if args.quiet else sys.stderr
    gateway = subprocess.Popen(
        [args.binary, "gateway", "--sim", "--sim-calls-per-second", "0", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        text=True,
    )
    held = []
    try:
        line = gateway.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+)/", line)
        if not match:
            raise SystemExit(f"unexpected first line: {line!r}")
        addr = (match.group(1), int(match.group(2)))
        pid = gateway.pid
        wait_until("ready", lambda: request(addr, "GET", "/readyz")[0] == 200, 10)
        figures = {"started": rss(pid)}
        print(f"gateway pid {pid} on {addr[0]}:{addr[1]}; started: RSS {figures['started'][0]:.1f} MB")

        # 1. Idle connections, --rounds times: the second round shows whether the memory the
        # first one freed is reused (RSS does not shrink: the allocator keeps freed pages).
        for round_ in range(1, args.rounds + 1):
            opened = time.monotonic()
            for i in range(args.idle):
                held.append(connect(addr, f"127.0.0.{10 + i % args.addresses}"))
            wait_until(
                "all idle connections accepted",
                lambda: metrics(addr).get("ami_gateway_connections_open", 0) >= args.idle,
                10,
            )
            open_rss = figures[f"idle_open_{round_}"] = rss(pid)
            print(
                f"round {round_}: {args.idle} idle connections open ({time.monotonic() - opened:.1f} s after the first): "
                f"RSS {open_rss[0]:.1f} MB, HWM {open_rss[1]:.1f} MB"
            )
            wait_until(
                "idle connections closed",
                lambda: metrics(addr).get("ami_gateway_connections_open", 0) <= 1,
                30,
            )
            closed_after = time.monotonic() - opened
            seen_closed = sum(is_closed(sock) for sock in held)
            closed_rss = figures[f"idle_closed_{round_}"] = rss(pid)
            print(
                f"round {round_}: closed by the gateway {closed_after:.1f} s after the first connect "
                f"({seen_closed}/{args.idle} sockets saw their end): "
                f"RSS {closed_rss[0]:.1f} MB, HWM {closed_rss[1]:.1f} MB"
            )
            for sock in held:
                sock.close()
            held.clear()

        # 2. The per-address cap.
        before = metrics(addr).get('ami_gateway_connections_refused_total{reason="per_ip"}', 0)
        for _ in range(256 + 44):
            held.append(connect(addr, "127.0.0.250"))
        time.sleep(1)
        refused = metrics(addr).get('ami_gateway_connections_refused_total{reason="per_ip"}', 0) - before
        closed = sum(is_closed(sock) for sock in held)
        print(f"{len(held)} connections from one address: {refused:.0f} refused at accept, {closed} closed")
        for sock in held:
            sock.close()
        held.clear()
        wait_until("capped connections gone", lambda: metrics(addr).get("ami_gateway_connections_open", 0) <= 1, 10)

        # 3. Stuck stream clients.
        figures["before_stuck"] = rss(pid)
        for i in range(args.stuck):
            sock = connect(addr, "127.0.0.3", rcvbuf=4096)
            if i % 2 == 0:
                sock.sendall(
                    f"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
                )
            else:
                key = base64.b64encode(os.urandom(16)).decode()
                sock.sendall(
                    (
                        f"GET /v1/events/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n"
                    ).encode()
                )
            status, _, _ = read_head(sock)
            assert status in (101, 200), status
            held.append(sock)  # and never read again
        clients = 'ami_gateway_stream_clients{server="sim"}'
        wait_until("stream clients subscribed", lambda: metrics(addr).get(clients, 0) == args.stuck, 10)
        flood = connect(addr, "127.0.0.4")
        tag = "x" * 700
        sent = 0
        flood_started = time.monotonic()
        # Until every stuck client's socket is full and it has lost events (its queue is full).
        while sent < 20000:
            status, body = request(
                addr,
                "POST",
                "/v1/servers/sim/actions/UserEvent",
                json.dumps({"UserEvent": "Flood", "Tag": tag}),
                sock=flood,
            )
            if status != 200:
                raise SystemExit(f"UserEvent refused: {status} {body}")
            sent += 1
            if sent % 1000 == 0:
                m = metrics(addr)
                if m.get('ami_gateway_stream_dropped_events_total{server="sim"}', 0) >= args.stuck * 100:
                    break
        flood.close()
        figures["stuck"] = rss(pid)
        print(
            f"{args.stuck} stuck stream clients after {sent} events in {time.monotonic() - flood_started:.1f} s: "
            f"RSS {figures['stuck'][0]:.1f} MB, HWM {figures['stuck'][1]:.1f} MB"
        )
        wait_until("stuck clients dropped", lambda: metrics(addr).get(clients, 0) == 0, 40)
        dropped_after = time.monotonic() - flood_started
        figures["stuck_dropped"] = rss(pid)
        m = metrics(addr)
        reasons = {
            key.split('"')[1]: int(value)
            for key, value in m.items()
            if key.startswith("ami_gateway_stream_disconnects_total{") and value
        }
        print(
            f"dropped {dropped_after:.1f} s after the flood began, reasons {reasons}, "
            f"ami_gateway_stream_write_timeouts_total {m.get('ami_gateway_stream_write_timeouts_total', 0):.0f}: "
            f"RSS {figures['stuck_dropped'][0]:.1f} MB, HWM {figures['stuck_dropped'][1]:.1f} MB"
        )
        for sock in held:
            sock.close()
        held.clear()
    finally:
        signal.alarm(0)
        for sock in held:
            sock.close()
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(timeout=15)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()


if __name__ == "__main__":
    main()
