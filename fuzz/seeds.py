#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*).

Seeds are real data where the repository has it: qtumd -regtest headers, blocks, transactions,
merkle proofs and RPC answers from tests/fixtures/qtum-regtest, Qtum Eclair's BOLT 11 invoices
from tests/fixtures/qtum-eclair-bolt11.json, and invoices the SDK itself signs
(fuzz/seed-invoices.txt: `cargo test --test proptest_codecs -- --ignored --nocapture
print_seed_invoices | grep '^ln' > fuzz/seed-invoices.txt`). Run it from anywhere: `python3 fuzz/seeds.py`. Files the
fuzzers add next to the seeds are not touched (fuzz/.gitignore keeps them out of git).
"""

import hashlib
import json
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "qtum-regtest"
CORPUS = ROOT / "fuzz" / "corpus"
SEP = b"\n--\n"

BLOCKS = sorted((FIX / "blocks").iterdir())


def text(path):
    return (FIX / path).read_text().strip()


def unhex(s):
    return bytes.fromhex(s.strip())


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def script(op, *answers):
    return SEP.join([op.encode()] + [a if isinstance(a, bytes) else a.encode() for a in answers])


def compact(path):
    return json.dumps(json.loads((FIX / path).read_text()), separators=(",", ":"))


def headers_and_blocks():
    for b in BLOCKS:
        write("header", b.name, unhex(text(b / "getblockheader.hex")))
        write("block", b.name, unhex(text(b / "getblock.v0.hex")))
    write("block", "merkleproof_p2wsh", unhex(text("tx/gettxoutproof.p2wsh.hex")))


def bolt11():
    vectors = json.loads((ROOT / "tests" / "fixtures" / "qtum-eclair-bolt11.json").read_text())
    for i, v in enumerate(vectors["vectors"]):
        write("bolt11", f"eclair{i}", v["invoice"])
    # The first Eclair invoice as a QR code and a URI would carry it.
    first = vectors["vectors"][0]["invoice"]
    write("bolt11", "eclair0_upper_uri", "lightning:" + first.upper())
    sdk = ROOT / "fuzz" / "seed-invoices.txt"
    if sdk.exists():
        for i, line in enumerate(sdk.read_text().split()):
            write("bolt11", f"sdk{i}", line)


NODE_ID = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"


def node_uri():
    for name, host in [
        ("ipv4", "127.0.0.1:9735"),
        ("ipv6", "[::1]:19735"),
        ("ipv6_mapped", "[::ffff:10.0.0.1]:9736"),
        ("hostname", "node.example.org:9735"),
        ("default_port", "localhost"),
        ("bad_port", "127.0.0.1:0"),
        ("bare_ipv6", "::1:9735"),
    ]:
        write("node_uri", name, f"{NODE_ID}@{host}")


def addresses():
    found = {
        "regtest_p2wpkh": text("wallet/getnewaddress.bech32.txt"),
        "regtest_p2tr": text("wallet/getnewaddress.bech32m.txt"),
        "testnet_p2pkh": text("wallet/getnewaddress.legacy.txt"),
        "testnet_p2sh": text("wallet/getnewaddress.p2sh-segwit.txt"),
    }
    vectors = json.loads((ROOT / "tests" / "fixtures" / "qtum-eclair-bolt11.json").read_text())
    for v in vectors["vectors"]:
        a = v.get("fallback_address")
        if a:
            found[f"eclair_{a[:6]}"] = a
    for name, a in found.items():
        write("qtum_address", name, a)
    write("qtum_address", "regtest_p2wpkh_upper", found["regtest_p2wpkh"].upper())


def rpc():
    h2002 = FIX / "blocks" / "h2002_confirms_p2wpkh_p2wsh_txs"
    pos = FIX / "blocks" / "h4028_pos"
    for b, tag in [(h2002, "pow"), (pos, "pos")]:
        hash_ = text(b / "getblockhash.txt")
        header = text(b / "getblockheader.hex")
        verbose = compact(b / "getblockheader.verbose.json")
        block = text(b / "getblock.v0.hex")
        write("rpc_json", f"tip_{tag}", script("tip", "s" + hash_, "r" + verbose, "s" + header))
        write("rpc_json", f"header_{tag}", script(f"header {hash_}", "s" + header))
        write("rpc_json", f"block_{tag}", script(f"block {hash_}", "s" + block))
        write("rpc_json", f"headerat_{tag}", script("headerat 2002", "s" + hash_, "s" + header))
    hashes = [text(b / "getblockhash.txt") for b in BLOCKS[:3]]
    headers = [text(b / "getblockheader.hex") for b in BLOCKS[:3]]
    write("rpc_json", "range", script("range 0 2", *["s" + h for h in hashes], *["s" + h for h in headers]))
    write("rpc_json", "hashat_missing", script("hashat 99999", "e-8 Block height out of range"))
    txid = json.loads((FIX / "tx" / "p2wpkh.decoderawtransaction.json").read_text())["txid"]
    raw = text("tx/p2wpkh.getrawtransaction.hex")
    verbose_tx = json.loads((FIX / "tx" / "p2wpkh.decoderawtransaction.json").read_text())
    verbose_tx["hex"] = raw
    verbose_tx["blockhash"] = text(h2002 / "getblockhash.txt")
    verbose_tx["confirmations"] = 1
    vt = json.dumps(verbose_tx, separators=(",", ":"))
    write("rpc_json", "tx", script(f"tx {txid}", "r" + vt))
    write("rpc_json", "status", script(f"status {txid}", "r" + vt,
                                         "r" + compact(h2002 / "getblockheader.verbose.json"),
                                         "s" + text(h2002 / "getblockheader.hex"),
                                         "s" + text(h2002 / "getblock.v0.hex")))
    write("rpc_json", "tx_missing", script(f"tx {txid}", "e-5 No such mempool or blockchain transaction"))
    write("rpc_json", "broadcast", script(f"broadcast {raw}", "s" + txid))
    write("rpc_json", "broadcast_refused", script(f"broadcast {raw}", "e-26 min relay fee not met"))
    fees = [compact(f"fees/estimatesmartfee.{t}.after20rounds.json") for t in (1, 2, 3, 6, 12, 144, 1008)]
    write("rpc_json", "fees", script("fees", *["r" + f for f in fees]))
    write("rpc_json", "fees_nodata", script("fees", *["r" + compact("fees/estimatesmartfee.6.nodata.json")] * 7))
    write("rpc_json", "history", script("history 0014" + "11" * 20 + " 0", 'r["' + txid + '"]', "r" + vt,
                                          "r" + compact(h2002 / "getblockheader.verbose.json")))
    write("rpc_json", "outspend", script(f"outspend {txid} 0", "r" + compact("tx/gettxout.p2wpkh_unspent.json")))
    write("rpc_json", "http_error", script("tip", "h503 busy"))
    write("rpc_json", "raw_garbage", script("tip", "x<html>not json</html>"))
    write("rpc_json", "wrong_id", script("tip", "i1 \"" + hash_ + "\""))


def esplora():
    h2002 = FIX / "blocks" / "h2002_confirms_p2wpkh_p2wsh_txs"
    hash_ = text(h2002 / "getblockhash.txt")
    header = text(h2002 / "getblockheader.hex")
    block = unhex(text(h2002 / "getblock.v0.hex"))
    write("esplora_json", "tip", script("tip", "2" + hash_, "2" + header))
    write("esplora_json", "header", script(f"header {hash_}", "2" + header))
    write("esplora_json", "block", script(f"block {hash_}", b"2" + block))
    write("esplora_json", "hashat", script("hashat 2002", "2" + hash_))
    write("esplora_json", "hashat_missing", script("hashat 99999", "4Block not found"))
    txid = json.loads((FIX / "tx" / "p2wpkh.decoderawtransaction.json").read_text())["txid"]
    raw = unhex(text("tx/p2wpkh.getrawtransaction.hex"))
    write("esplora_json", "tx", script(f"tx {txid}", b"2" + raw))
    status = json.dumps({"confirmed": True, "block_height": 2002, "block_hash": hash_, "block_time": 1795478804})
    proof = json.dumps({"block_height": 2002, "merkle": [hashlib.sha256(b"x").hexdigest()], "pos": 1})
    write("esplora_json", "status", script(f"status {txid}", "2" + status, "2" + proof, "2" + header, b"2" + block))
    write("esplora_json", "status_unconfirmed", script(f"status {txid}", '2{"confirmed":false}'))
    entry = {
        "txid": txid, "version": 2, "locktime": 2001, "size": 225, "weight": 573, "fee": 1000,
        "vin": [], "vout": [],
        "status": {"confirmed": True, "block_height": 2002, "block_hash": hash_, "block_time": 1795478804},
    }
    write("esplora_json", "history", script("history 0014" + "11" * 20, "2" + json.dumps([entry]), "2[]"))
    write("esplora_json", "outspend", script(f"outspend {txid} 0", '2{"spent":true,"txid":"' + txid + '","vin":0,"status":{"confirmed":false}}'))
    write("esplora_json", "broadcast", script(f"broadcast {raw.hex()}", "2" + txid))
    write("esplora_json", "fees", script("fees", '2{"1":87.882,"2":87.882,"6":68.285,"144":1.027,"1008":1.0}'))
    write("esplora_json", "server_error", script("tip", "5internal"))


def regtest_rpc():
    reqs = {
        "getblockcount": {"jsonrpc": "1.0", "id": 1, "method": "getblockcount", "params": []},
        "getbestblockhash": {"jsonrpc": "2.0", "id": "a", "method": "getbestblockhash"},
        "getblockheader": {"id": 2, "method": "getblockheader", "params": ["00" * 32, False]},
        "generatetoaddress": {"id": 3, "method": "generatetoaddress", "params": [2, text("wallet/getnewaddress.bech32.txt")]},
        "getblockchaininfo": {"id": 4, "method": "getblockchaininfo", "params": {}},
        "estimatesmartfee": {"id": 5, "method": "estimatesmartfee", "params": [6]},
        "sendrawtransaction": {"id": 6, "method": "sendrawtransaction", "params": [text("tx/p2wpkh.getrawtransaction.hex")]},
        "getrawtransaction": {"id": 7, "method": "getrawtransaction", "params": ["11" * 32, True]},
        "unknown": {"id": None, "method": "nosuchmethod", "params": []},
    }
    for name, r in reqs.items():
        write("regtest_rpc_request", name, json.dumps(r))
    batch = [reqs["getblockcount"], reqs["getbestblockhash"], {"id": 9, "method": "getblockhash", "params": [0]}]
    write("regtest_rpc_request", "batch", json.dumps(batch))
    write("regtest_rpc_request", "not_json", "{\"id\":1,")


def esplora_http():
    heads = {
        "get_tip": b"GET /blocks/tip/hash HTTP/1.1\r\nHost: x\r\n\r\n",
        "get_http10": b"GET /blocks/tip/height HTTP/1.0\r\n\r\n",
        "post_tx": b"POST /tx HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd",
        "pipelined": b"GET /block-height/1 HTTP/1.1\r\n\r\nGET /fee-estimates HTTP/1.1\r\nConnection: close\r\n\r\n",
        "chunked": b"POST /tx HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "expect": b"POST /tx HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n0123456789",
        "keepalive": b"GET /scripthash/ab/txs/chain/cd HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
        "http2": b"GET / HTTP/2.0\r\n\r\n",
        "two_lengths": b"POST /tx HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    }
    for name, h in heads.items():
        write("esplora_http_request", name, h)


def backup_file():
    """Shapes of the SDK's backup file (magic, format 1, network, node id, created_at, schema,
    nonce, sealed database and tag), without the key: whole, cut short, of another format."""
    node_id = bytes.fromhex("02" + "11" * 32)
    header = b"QTUMLNBK" + bytes([1, 2]) + node_id + (1_700_000_000).to_bytes(8, "big")
    header += (7).to_bytes(4, "big") + bytes(range(12))
    write("backup_file", "empty_database", header + bytes(16))
    write("backup_file", "sealed_page", header + b"SQLite format 3\0" + bytes(100) + bytes(16))
    write("backup_file", "header_only", header)
    write("backup_file", "magic_only", b"QTUMLNBK")
    write("backup_file", "format_2", b"QTUMLNBK" + bytes([2, 2]) + node_id + bytes(40))
    write("backup_file", "unknown_network", b"QTUMLNBK" + bytes([1, 9]) + node_id + bytes(40))


if __name__ == "__main__":
    headers_and_blocks()
    bolt11()
    node_uri()
    addresses()
    rpc()
    esplora()
    regtest_rpc()
    esplora_http()
    backup_file()
    for d in sorted(CORPUS.iterdir()):
        seeds = [f for f in d.iterdir() if f.name.startswith("seed-")]
        print(f"{d.name}: {len(seeds)} seeds, {sum(f.stat().st_size for f in seeds)} bytes")
