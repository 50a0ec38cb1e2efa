"""The regtest harness (the `qtum-regtest` binary) and small helpers for the binding tests."""

import base64
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
QTUM = 100_000_000
# Bounds a hang; tests never assert timings.
PATIENCE_SECS = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Harness:
    """A `qtum-regtest` process and a JSON-RPC client for it."""

    def __init__(self, binary: Path):
        self.port = free_port()
        self.user = "binding-tests"
        self.password = "rpc-password-never-logged"
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(binary), "--rpcport", str(self.port), "--rpcuser", self.user,
             "--rpcpassword", self.password],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.rpc("getblockcount")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("qtum-regtest did not come up")
                time.sleep(0.1)

    def rpc(self, method, *params):
        body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(self.url, data=body.encode(), method="POST")
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        if answer.get("error"):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def mine(self, blocks: int, address: str):
        return self.rpc("generatetoaddress", blocks, address)

    def stop(self):
        try:
            self.rpc("stop")
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def harness():
    binary = Path(os.environ.get("QTUM_REGTEST_BIN", TARGET_DIR / "debug" / "qtum-regtest"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run scripts/gen-bindings.sh (it builds the harness)")
    h = Harness(binary)
    yield h
    h.stop()


class BackupServer:
    """A `qtum-backupd` process on a free port, its slots in `database`."""

    def __init__(self, binary: Path, database: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(binary), "--listen", f"127.0.0.1:{self.port}", "--database", str(database)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("qtum-backupd did not come up")
                time.sleep(0.1)

    def stop(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def backup_server(tmp_path):
    binary = TARGET_DIR / "debug" / "qtum-backupd"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run scripts/gen-bindings.sh (it builds it)")
    server = BackupServer(binary, tmp_path / "backups.sqlite")
    yield server
    server.stop()


def wait_until(what, done):
    deadline = time.monotonic() + PATIENCE_SECS
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(0.05)


def expect_event(node, what, matches):
    """The next event matching `matches`, acknowledging the ones before it."""
    deadline = time.monotonic() + PATIENCE_SECS
    while time.monotonic() < deadline:
        try:
            node.sync()
        except Exception:  # a sync error is reported in status(); keep waiting
            pass
        event = node.wait_next_event(200)
        if event is not None:
            node.event_handled()
            if matches(event):
                return event
    raise AssertionError(f"gave up waiting for event: {what}")


def fund_with_coinbase(harness, node, miner):
    """One 20,000-QTUM coinbase for `node`, matured by 2,000 blocks mined to `miner` (a node
    that is never started). The harness has no wallet RPC; a real regtest qtumd is funded the
    same way."""
    harness.mine(1, node.new_address())
    harness.mine(2000, miner.new_address())

    def funded():
        node.sync()
        return node.onchain_balance().spendable_sat >= 20 * QTUM

    wait_until("the coinbase matures", funded)


def open_usable_channel(harness, opener, peer, miner, capacity_sat):
    """`opener` opens `capacity_sat` to `peer`; returns the `CHANNEL_PENDING` event once both
    sides have the channel ready (6 blocks mined to `miner`) and the opener can use it."""
    user_channel_id = opener.open_channel(peer.node_uri(), capacity_sat)
    pending = expect_event(opener, "channel pending",
                           lambda e: e.is_CHANNEL_PENDING() and e.user_channel_id == user_channel_id)
    harness.mine(6, miner.new_address())
    expect_event(opener, "channel ready (opener)", lambda e: e.is_CHANNEL_READY())
    expect_event(peer, "channel ready (peer)", lambda e: e.is_CHANNEL_READY())
    wait_until("channel usable", lambda: any(c.is_usable for c in opener.list_channels()))
    return pending
