//! Checks against real data captured from `qtumd -regtest` (Qtum Core 27.1) and Qtum's Eclair
//! fork. Where written-down Qtum facts and these fixtures disagree, the fixtures are right.

use std::fs;

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{ScriptBuf, Transaction};
use qtum_primitives::address::{AddressError, AddressType, QtumAddress};
use qtum_primitives::header::{POS_HEADER_SIZE, POW_HEADER_SIZE};
use qtum_primitives::merkle_block::QtumMerkleBlock;
use qtum_primitives::network::Network;
use qtum_primitives::{policy, QtumBlock, QtumHeader};
use serde_json::Value;

const REGTEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/qtum-regtest"
);
const ECLAIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/qtum-eclair-bolt11.json"
);

fn read(rel: &str) -> String {
    let path = format!("{REGTEST}/{rel}");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string field {key}"))
}

fn u64_field(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("missing integer field {key}"))
}

/// Names of the directories under blocks/, sorted.
fn block_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = fs::read_dir(format!("{REGTEST}/blocks"))
        .expect("blocks dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 9, "expected the 9 captured blocks");
    dirs
}

fn block(dir: &str) -> QtumBlock {
    QtumBlock::from_hex(&read(&format!("blocks/{dir}/getblock.v0.hex")))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
}

fn script(hex: &str) -> ScriptBuf {
    ScriptBuf::from_bytes(Vec::from_hex(hex).expect("fixture hex"))
}

// ---------------------------------------------------------------------------------------------
// Blocks and headers
// ---------------------------------------------------------------------------------------------

#[test]
fn blocks_reserialize_byte_identically() {
    for dir in block_dirs() {
        let hex = read(&format!("blocks/{dir}/getblock.v0.hex"));
        let block = block(&dir);
        assert_eq!(block.to_hex(), hex.trim(), "{dir}");
        assert_eq!(serialize(&block).len(), hex.trim().len() / 2, "{dir}");
    }
}

#[test]
fn block_hashes_match_the_node() {
    let analysis = json("analysis/header_and_hash_check.json");
    for dir in block_dirs() {
        let block = block(&dir);
        let hash = block.block_hash().to_string();
        assert_eq!(
            hash,
            read(&format!("blocks/{dir}/getblockhash.txt")).trim(),
            "{dir}"
        );
        let verbose = json(&format!("blocks/{dir}/getblockheader.verbose.json"));
        assert_eq!(hash, str_field(&verbose, "hash"), "{dir}");
        let v1 = json(&format!("blocks/{dir}/getblock.v1.json"));
        assert_eq!(hash, str_field(&v1, "hash"), "{dir}");
        assert_eq!(hash, str_field(&analysis[&dir], "node_hash"), "{dir}");
    }
}

#[test]
fn header_fields_match_getblockheader_verbose() {
    for dir in block_dirs() {
        let h = block(&dir).header;
        let v = json(&format!("blocks/{dir}/getblockheader.verbose.json"));
        assert_eq!(
            i64::from(h.version),
            v["version"].as_i64().expect("version"),
            "{dir}"
        );
        assert_eq!(
            format!("{:08x}", h.version),
            str_field(&v, "versionHex"),
            "{dir}"
        );
        assert_eq!(
            h.merkle_root.to_string(),
            str_field(&v, "merkleroot"),
            "{dir}"
        );
        assert_eq!(u64::from(h.time), u64_field(&v, "time"), "{dir}");
        assert_eq!(u64::from(h.nonce), u64_field(&v, "nonce"), "{dir}");
        assert_eq!(
            format!("{:08x}", h.bits.to_consensus()),
            str_field(&v, "bits"),
            "{dir}"
        );
        assert_eq!(
            h.hash_state_root_display(),
            str_field(&v, "hashStateRoot"),
            "{dir}"
        );
        assert_eq!(
            h.hash_utxo_root_display(),
            str_field(&v, "hashUTXORoot"),
            "{dir}"
        );

        match v.get("previousblockhash") {
            Some(prev) => assert_eq!(Some(h.prev_blockhash.to_string().as_str()), prev.as_str()),
            None => assert_eq!(h.prev_blockhash, bitcoin::BlockHash::all_zeros(), "{dir}"),
        }

        let pos = h.is_proof_of_stake();
        let flags = str_field(&v, "flags");
        assert_eq!(
            flags,
            if pos {
                "proof-of-stake"
            } else {
                "proof-of-work"
            },
            "{dir}"
        );
        if pos {
            assert_eq!(
                h.prevout_stake.txid.to_string(),
                str_field(&v, "prevoutStakeHash")
            );
            assert_eq!(
                u64::from(h.prevout_stake.vout),
                u64_field(&v, "prevoutStakeVoutN")
            );
            assert_eq!(
                h.signature().to_lower_hex_string(),
                str_field(&v, "signature"),
                "{dir}"
            );
        } else {
            // qtumd omits the stake fields for PoW headers.
            assert!(v.get("prevoutStakeHash").is_none(), "{dir}");
            assert!(v.get("signature").is_none(), "{dir}");
            assert!(h.block_sig.is_empty(), "{dir}");
        }
    }
}

#[test]
fn raw_header_equals_getblockheader_false() {
    let analysis = json("analysis/header_and_hash_check.json");
    for dir in block_dirs() {
        let block = block(&dir);
        let raw = read(&format!("blocks/{dir}/getblockheader.hex"));
        assert_eq!(block.header.to_hex(), raw.trim(), "{dir}");
        assert_eq!(
            block.header.to_hex(),
            str_field(&analysis[&dir], "header_hex"),
            "{dir}"
        );
        let parsed = QtumHeader::from_hex(&raw).expect("header parses");
        assert_eq!(parsed, block.header, "{dir}");
        assert_eq!(parsed.block_hash(), block.block_hash(), "{dir}");
        assert_eq!(
            parsed.serialized_size() as u64,
            u64_field(&analysis[&dir], "header_len_bytes"),
            "{dir}"
        );
        // The header alone, with the block's transactions after it, is trailing data.
        let block_bytes = block.to_bytes();
        assert!(matches!(
            QtumHeader::from_slice(&block_bytes),
            Err(qtum_primitives::HeaderError::TrailingBytes { .. })
        ));
    }
}

#[test]
fn merkle_roots_and_txids_match_the_node() {
    for dir in block_dirs() {
        let block = block(&dir);
        assert!(block.check_merkle_root(), "{dir}");
        let v1 = json(&format!("blocks/{dir}/getblock.v1.json"));
        let node_txids: Vec<&str> = v1["tx"]
            .as_array()
            .expect("tx list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let ours: Vec<String> = block.txids().iter().map(ToString::to_string).collect();
        assert_eq!(ours, node_txids, "{dir}");
        assert_eq!(u64_field(&v1, "nTx"), block.txdata.len() as u64, "{dir}");
    }
}

#[test]
fn block_sizes_and_weight_match_the_node() {
    for dir in block_dirs() {
        let block = block(&dir);
        let v1 = json(&format!("blocks/{dir}/getblock.v1.json"));
        assert_eq!(block.total_size() as u64, u64_field(&v1, "size"), "{dir}");
        assert_eq!(
            block.stripped_size() as u64,
            u64_field(&v1, "strippedsize"),
            "{dir}"
        );
        assert_eq!(block.weight().to_wu(), u64_field(&v1, "weight"), "{dir}");
    }
}

#[test]
fn witness_commitments_verify_including_pos_rule() {
    let mut committed = 0;
    for dir in block_dirs() {
        let block = block(&dir);
        assert!(block.check_witness_commitment(), "{dir}");
        let has_commitment = block.txdata[0].output.iter().any(|o| {
            o.script_pubkey
                .as_bytes()
                .starts_with(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed])
        });
        if has_commitment {
            committed += 1;
            // Tampering with the reserved value must break the check.
            let mut bad = block.clone();
            bad.txdata[0].input[0].witness = bitcoin::Witness::from_slice(&[[1u8; 32]]);
            assert!(!bad.check_witness_commitment(), "{dir}");
        }
    }
    // Every block but genesis carries a commitment (segwit is active from height 0 on regtest).
    assert_eq!(committed, 8);
}

#[test]
fn pos_blocks_have_246_byte_headers_and_recover_the_staker() {
    let analysis = json("analysis/pos_block_signature_check.json");
    let mut pos = 0;
    for dir in block_dirs() {
        let block = block(&dir);
        let header = &block.header;
        if !dir.contains("pos") {
            assert!(!header.is_proof_of_stake(), "{dir}");
            assert_eq!(header.serialized_size(), POW_HEADER_SIZE, "{dir}");
            assert!(header.check_pow(), "{dir}: PoW header meets its target");
            assert!(block.coinstake().is_none());
            continue;
        }
        pos += 1;
        assert!(header.is_proof_of_stake(), "{dir}");
        assert_eq!(header.serialized_size(), POS_HEADER_SIZE, "{dir}");
        assert_eq!(header.to_bytes().len(), 246, "{dir}");
        assert_eq!(header.signature().len(), 65, "{dir}");
        assert_eq!(header.proof_of_delegation(), None, "{dir}");
        assert_eq!(header.nonce, 0, "{dir}");

        let expected = &analysis[&dir];
        assert_eq!(
            header.prevout_stake.to_string(),
            str_field(expected, "staked_prevout"),
            "{dir}"
        );
        let key = header
            .recover_staker_pubkey()
            .expect("compact signature recovers");
        assert_eq!(
            key.to_string(),
            str_field(expected, "recovered_pubkey"),
            "{dir}"
        );
        assert_eq!(
            key.pubkey_hash().to_string(),
            str_field(expected, "recovered_hash160"),
            "{dir}"
        );

        // Coinbase vout[0] is empty; the coinstake is tx[1] and starts with an empty output too.
        let coinbase = block.coinbase().expect("coinbase");
        assert_eq!(coinbase.output[0].value.to_sat(), 0);
        assert!(coinbase.output[0].script_pubkey.is_empty());
        let coinstake = block.coinstake().expect("coinstake");
        assert_eq!(
            coinstake.input[0].previous_output, header.prevout_stake,
            "{dir}"
        );
        assert!(coinstake.output[0].script_pubkey.is_empty());
    }
    assert_eq!(pos, 2);
}

#[test]
fn synthetic_and_signed_hashes_match_the_analysis() {
    let analysis = json("analysis/header_and_hash_check.json");
    for dir in block_dirs() {
        let h = block(&dir).header;
        let a = &analysis[&dir];
        assert_eq!(
            h.synthetic_hash().to_string(),
            str_field(
                a,
                "dsha256(first 80 bytes) reversed (Bitcoin-style, for contrast)"
            ),
            "{dir}"
        );
        assert_ne!(h.synthetic_hash(), h.block_hash(), "{dir}");
        assert_eq!(
            h.signed_hash().to_string(),
            str_field(a, "dsha256(first 180 bytes, no sig length byte) reversed"),
            "{dir}"
        );
        assert_eq!(h.synthetic_header().block_hash(), h.synthetic_hash());
    }
}

#[test]
fn fixture_genesis_is_the_rebuilt_regtest_genesis() {
    let fixture = block("h0_genesis");
    let rebuilt = Network::Regtest.genesis_block();
    assert_eq!(fixture, rebuilt);
    assert_eq!(fixture.to_bytes(), rebuilt.to_bytes());
    // The coinbase is shared: the other networks' genesis blocks differ only in the header.
    for n in [Network::Mainnet, Network::Testnet] {
        assert_eq!(n.genesis_block().txdata, fixture.txdata);
    }
    let info = json("chain/height0.getblockchaininfo.json");
    assert_eq!(
        str_field(&info, "bestblockhash"),
        Network::Regtest.genesis_hash().to_string()
    );
    assert_eq!(
        str_field(&info, "chain").parse::<Network>(),
        Ok(Network::Regtest)
    );
}

#[test]
fn zmq_rawblock_bodies_are_qtum_blocks() {
    for (file, dir) in [
        ("rawblock.h2002", "h2002_confirms_p2wpkh_p2wsh_txs"),
        ("rawblock.h4027_pos", "h4027_first_pos"),
    ] {
        let msg = json(&format!("zmq/{file}.json"));
        assert_eq!(str_field(&msg, "topic"), "rawblock");
        let body = str_field(&msg, "body_hex");
        assert_eq!(
            body,
            read(&format!("blocks/{dir}/getblock.v0.hex")).trim(),
            "{file}"
        );
        let block = QtumBlock::from_hex(body).expect("zmq block parses");
        assert_eq!(
            block.block_hash().to_string(),
            read(&format!("blocks/{dir}/getblockhash.txt")).trim()
        );
    }
}

#[test]
fn damaged_real_blocks_give_errors_not_panics() {
    for dir in ["h2005_fee_round_6tx", "h4027_first_pos"] {
        let bytes = block(dir).to_bytes();
        for len in 0..bytes.len() {
            assert!(
                QtumBlock::from_slice(&bytes[..len]).is_err(),
                "{dir} cut at {len}"
            );
        }
        // Flipping any single byte must never panic; it either fails or changes the content.
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0xff;
            if let Ok(b) = QtumBlock::from_slice(&damaged) {
                assert_ne!(b.to_bytes(), bytes, "{dir} byte {i}");
            }
        }
    }
}

#[test]
fn txout_proof_proves_the_p2wsh_funding() {
    let proof =
        QtumMerkleBlock::from_hex(&read("tx/gettxoutproof.p2wsh.hex")).expect("proof parses");
    assert_eq!(proof.to_hex(), read("tx/gettxoutproof.p2wsh.hex").trim());
    assert_eq!(
        proof.block_hash().to_string(),
        read("blocks/h2002_confirms_p2wpkh_p2wsh_txs/getblockhash.txt").trim()
    );
    let proven = proof.proven_txids().expect("valid proof");
    let funding = read("tx/sendtoaddress.p2wsh.txid.txt");
    assert_eq!(proven.len(), 1);
    assert_eq!(proven[0].0.to_string(), funding.trim());
    assert_eq!(proven[0].1, 2, "third transaction of block 2002");
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

#[test]
fn raw_transactions_match_node_ids_and_sizes() {
    for name in ["p2wpkh", "p2wsh", "p2wsh_spend"] {
        let hex = read(&format!("tx/{name}.getrawtransaction.hex"));
        let bytes = Vec::from_hex(hex.trim()).expect("hex");
        let tx: Transaction = deserialize(&bytes).expect("tx parses");
        assert_eq!(serialize(&tx), bytes, "{name}");
        let v = json(&format!("tx/{name}.getrawtransaction.verbose.json"));
        assert_eq!(
            tx.compute_txid().to_string(),
            str_field(&v, "txid"),
            "{name}"
        );
        assert_eq!(
            tx.compute_wtxid().to_string(),
            str_field(&v, "hash"),
            "{name}"
        );
        assert_eq!(tx.total_size() as u64, u64_field(&v, "size"), "{name}");
        assert_eq!(tx.vsize() as u64, u64_field(&v, "vsize"), "{name}");
        assert_eq!(tx.weight().to_wu(), u64_field(&v, "weight"), "{name}");
        assert_eq!(
            policy::vsize_from_weight(tx.weight().to_wu()),
            u64_field(&v, "vsize")
        );
        assert!(tx.version.0 <= policy::MAX_STANDARD_TX_VERSION);
    }
    for (file, name) in [("rawtx.p2wpkh", "p2wpkh"), ("rawtx.p2wsh", "p2wsh")] {
        let msg = json(&format!("zmq/{file}.json"));
        assert_eq!(
            str_field(&msg, "body_hex"),
            read(&format!("tx/{name}.getrawtransaction.hex")).trim()
        );
    }
    assert_eq!(
        read("tx/p2wsh_spend.sendrawtransaction.txid.txt").trim(),
        str_field(
            &json("tx/p2wsh_spend.getrawtransaction.verbose.json"),
            "txid"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/// Collects every (address, scriptPubKey hex) pair in a JSON document: RPC objects carry either
/// `{"address", "scriptPubKey": "<hex>"}` or a decoded script `{"address", "hex", "type"}`
/// (`getaddressinfo` also has a `hex`, the redeem script, but no `type`).
fn address_pairs(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            if let (Some(Value::String(a)), Some(Value::String(h))) =
                (map.get("address"), map.get("scriptPubKey"))
            {
                out.push((a.clone(), h.clone()));
            }
            if let (Some(Value::String(a)), Some(Value::String(h)), Some(_)) =
                (map.get("address"), map.get("hex"), map.get("type"))
            {
                out.push((a.clone(), h.clone()));
            }
            map.values().for_each(|child| address_pairs(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| address_pairs(child, out)),
        _ => {}
    }
}

fn json_files(dir: &str, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            json_files(&path.to_string_lossy(), out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn every_address_in_node_json_round_trips_with_its_script() {
    let mut files = Vec::new();
    json_files(REGTEST, &mut files);
    let mut pairs = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read");
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            address_pairs(&v, &mut pairs);
        }
    }
    pairs.sort();
    pairs.dedup();
    assert!(
        pairs.len() >= 10,
        "found only {} address/script pairs",
        pairs.len()
    );
    let mut types = std::collections::HashSet::new();
    for (addr, hex) in &pairs {
        let parsed = QtumAddress::from_str_for(addr, Network::Regtest)
            .unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert_eq!(parsed.script_pubkey(), script(hex), "{addr}");
        assert_eq!(parsed.to_string(), *addr);
        let from_script =
            QtumAddress::from_script(&script(hex), Network::Regtest).expect("has an address");
        assert_eq!(from_script.to_string(), *addr);
        // Regtest addresses are never valid on mainnet.
        assert!(matches!(
            QtumAddress::from_str_for(addr, Network::Mainnet),
            Err(AddressError::WrongNetwork {
                expected: Network::Mainnet,
                ..
            })
        ));
        types.insert(parsed.address_type());
    }
    for ty in [
        AddressType::P2pkh,
        AddressType::P2sh,
        AddressType::P2wpkh,
        AddressType::P2wsh,
        AddressType::P2tr,
    ] {
        assert!(types.contains(&ty), "no fixture address of type {ty}");
    }
}

#[test]
fn getnewaddress_outputs_by_type() {
    for (kind, ty) in [
        ("legacy", AddressType::P2pkh),
        ("p2sh-segwit", AddressType::P2sh),
        ("bech32", AddressType::P2wpkh),
        ("bech32m", AddressType::P2tr),
    ] {
        let s = read(&format!("wallet/getnewaddress.{kind}.txt"));
        let addr = QtumAddress::from_str_for(s.trim(), Network::Regtest).expect(kind);
        assert_eq!(addr.address_type(), ty, "{kind}");
        let info = json(&format!("wallet/getaddressinfo.{kind}.json"));
        assert_eq!(
            addr.script_pubkey().to_hex_string(),
            str_field(&info, "scriptPubKey"),
            "{kind}"
        );
        let valid = json(&format!("wallet/validateaddress.{kind}.json"));
        assert_eq!(valid["isvalid"], Value::Bool(true));
        assert_eq!(
            addr.script_pubkey().to_hex_string(),
            str_field(&valid, "scriptPubKey"),
            "{kind}"
        );
        if let Some(program) = addr.witness_program() {
            assert_eq!(
                u64::from(program.version().to_num()),
                u64_field(&valid, "witness_version")
            );
            assert_eq!(
                program.program().as_bytes().to_lower_hex_string(),
                str_field(&valid, "witness_program")
            );
        }
        // Base58 regtest addresses are testnet addresses too; bech32 ones are regtest only.
        let is_base58 = matches!(ty, AddressType::P2pkh | AddressType::P2sh);
        assert_eq!(addr.is_valid_for(Network::Testnet), is_base58, "{kind}");
    }
    // The p2sh-segwit address is P2SH of its embedded P2WPKH script.
    let info = json("wallet/getaddressinfo.p2sh-segwit.json");
    let p2sh = QtumAddress::p2sh(&script(str_field(&info, "hex")), Network::Regtest).expect("p2sh");
    assert_eq!(p2sh.to_string(), str_field(&info, "address"));
    // The legacy address is P2PKH of its key.
    let info = json("wallet/getaddressinfo.legacy.json");
    let key: bitcoin::PublicKey = str_field(&info, "pubkey").parse().expect("pubkey");
    assert_eq!(
        QtumAddress::p2pkh(key.pubkey_hash(), Network::Regtest).to_string(),
        str_field(&info, "address")
    );
    assert!(str_field(&info, "hdkeypath")
        .starts_with(&format!("m/44h/{}h/", Network::Regtest.bip44_coin_type())));
}

#[test]
fn base58_prefixes_match_the_analysis() {
    let a = json("analysis/address_prefixes.json");
    let legacy = bitcoin::base58::decode_check(str_field(&a["legacy"], "address")).expect("b58");
    assert_eq!(
        u64::from(legacy[0]),
        u64_field(&a["legacy"], "version_byte_dec")
    );
    assert_eq!(legacy[0], Network::Regtest.p2pkh_prefix());
    let p2sh = bitcoin::base58::decode_check(str_field(&a["p2sh-segwit"], "address")).expect("b58");
    assert_eq!(p2sh[0], Network::Regtest.p2sh_prefix());
    let wif =
        bitcoin::base58::decode_check(str_field(&a["wif_compressed"], "example")).expect("wif");
    assert_eq!(wif[0], Network::Regtest.wif_prefix());
    let tpub = bitcoin::base58::decode_check(str_field(&a["ext_pubkey"], "example")).expect("tpub");
    assert_eq!(
        tpub[..4].to_lower_hex_string(),
        str_field(&a["ext_pubkey"], "version_hex")
    );
    assert_eq!(tpub[..4], Network::Regtest.bip32_xpub_version());
    for key in ["bech32_p2wpkh", "bech32_p2wsh", "bech32m_p2tr"] {
        assert_eq!(str_field(&a[key], "hrp"), Network::Regtest.bech32_hrp());
        assert!(QtumAddress::from_str_for(str_field(&a[key], "address"), Network::Regtest).is_ok());
    }
}

#[test]
fn createmultisig_address_is_p2wsh_of_the_funding_script() {
    let ms = json("scripts/createmultisig.2of2.bech32.json");
    let addr = QtumAddress::p2wsh(&script(str_field(&ms, "redeemScript")), Network::Regtest);
    assert_eq!(addr.to_string(), str_field(&ms, "address"));
    assert_eq!(addr.address_type(), AddressType::P2wsh);
}

#[test]
fn eclair_fallback_addresses_and_invoice_prefixes() {
    let text = fs::read_to_string(ECLAIR).expect("eclair vectors");
    let v: Value = serde_json::from_str(&text).expect("json");
    let mut fallbacks = 0;
    for vector in v["vectors"].as_array().expect("vectors") {
        let network: Network = str_field(vector, "network").parse().expect("network name");
        let invoice = str_field(vector, "invoice");
        assert!(invoice.starts_with(network.bolt11_prefix()), "{invoice}");
        for other in Network::ALL {
            // `lnqc` is a prefix of `lnqcrt`; make sure a mainnet invoice is not a regtest one.
            if other != network && other.bolt11_prefix().len() >= network.bolt11_prefix().len() {
                assert!(!invoice.starts_with(other.bolt11_prefix()), "{invoice}");
            }
        }
        let Some(fallback) = vector["fallback_address"].as_str() else {
            continue;
        };
        fallbacks += 1;
        let addr = QtumAddress::from_str_for(fallback, network)
            .unwrap_or_else(|e| panic!("{fallback}: {e}"));
        assert_eq!(addr.to_string(), fallback);
        assert_eq!(
            QtumAddress::parse_any(fallback).map(|a| a.network()),
            Ok(network)
        );
        let wrong = if network == Network::Mainnet {
            Network::Testnet
        } else {
            Network::Mainnet
        };
        assert!(matches!(
            QtumAddress::from_str_for(fallback, wrong),
            Err(AddressError::WrongNetwork { .. })
        ));
    }
    assert!(fallbacks >= 5, "found {fallbacks} fallback addresses");
}

// ---------------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------------

#[test]
fn dust_classification_matches_testmempoolaccept() {
    let mut checked = 0;
    for entry in fs::read_dir(format!("{REGTEST}/policy/dust")).expect("dust dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let Some(case) = name
            .strip_prefix("tx.")
            .and_then(|n| n.strip_suffix(".hex"))
        else {
            continue;
        };
        let tx: Transaction =
            deserialize(&Vec::from_hex(read(&format!("policy/dust/{name}")).trim()).expect("hex"))
                .expect("tx");
        let verdict = json(&format!("policy/dust/testmempoolaccept.{case}.json"));
        let allowed = verdict[0]["allowed"].as_bool().expect("allowed");
        let any_dust = tx
            .output
            .iter()
            .any(|o| policy::is_dust(o.value.to_sat(), &o.script_pubkey));
        assert_eq!(any_dust, !allowed, "{case}");
        if !allowed {
            assert_eq!(str_field(&verdict[0], "reject-reason"), "dust", "{case}");
        }
        // The case name says which output was probed: `<type>.<amount>sat`.
        let (_, amount) = case.split_once('.').expect("case name");
        let amount: u64 = amount.trim_end_matches("sat").parse().expect("amount");
        let probed = tx
            .output
            .iter()
            .find(|o| o.value.to_sat() == amount)
            .expect("probed output");
        assert_eq!(
            policy::is_dust(amount, &probed.script_pubkey),
            !allowed,
            "{case}"
        );
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn dust_thresholds_are_the_boundaries_qtumd_enforces() {
    let summary = json("policy/dust/SUMMARY.json");
    for row in summary.as_array().expect("rows") {
        let ty = str_field(row, "output_type");
        let sat = u64_field(row, "output_sat");
        let allowed = row["allowed"].as_bool().expect("allowed");
        let threshold = match ty {
            "p2pkh" => 72_800,
            "p2sh" => 72_000,
            "p2wpkh" => 39_200,
            "p2wsh" | "p2tr" => 44_000,
            "op_return" => 0,
            other => panic!("unexpected type {other}"),
        };
        assert_eq!(sat >= threshold, allowed, "{ty} {sat}");
    }
}

#[test]
fn min_relay_fee_boundary_at_vsize_141() {
    // 56,399 sat at vsize 141 was refused, 56,400 accepted.
    let refused = json("policy/minrelay/testmempoolaccept.fee56399sat_vsize141.json");
    let accepted = json("policy/minrelay/testmempoolaccept.fee56400sat_vsize141.json");
    assert_eq!(refused[0]["allowed"], Value::Bool(false));
    assert_eq!(
        str_field(&refused[0], "reject-reason"),
        "min relay fee not met"
    );
    assert_eq!(accepted[0]["allowed"], Value::Bool(true));
    assert_eq!(u64_field(&accepted[0], "vsize"), 141);
    assert_eq!(policy::min_relay_fee_for_vsize(141), 56_400);

    let tx: Transaction = deserialize(
        &Vec::from_hex(read("policy/minrelay/tx.fee56399sat.hex").trim()).expect("hex"),
    )
    .expect("tx");
    assert_eq!(tx.vsize(), 141);
    assert!(56_399 < policy::min_relay_fee_for_weight(tx.weight().to_wu()));
    assert!(56_400 >= policy::min_relay_fee_for_weight(tx.weight().to_wu()));

    // The node's error text carries both numbers: "<fee> < <required>".
    for (file, fee_file) in [
        (
            "sendrawtransaction.fee56399sat.error.txt",
            "tx.fee56399sat.hex",
        ),
        (
            "sendrawtransaction.fee1000sat.error.txt",
            "tx.fee1000sat.hex",
        ),
    ] {
        let text = read(&format!("policy/minrelay/{file}"));
        let line = text
            .lines()
            .find(|l| l.starts_with("min relay fee not met"))
            .expect("reason line");
        let (paid, required) = line
            .trim_start_matches("min relay fee not met, ")
            .split_once(" < ")
            .expect("numbers");
        let tx: Transaction = deserialize(
            &Vec::from_hex(read(&format!("policy/minrelay/{fee_file}")).trim()).expect("hex"),
        )
        .expect("tx");
        let required: u64 = required.trim().parse().expect("required");
        assert_eq!(
            required,
            policy::min_relay_fee_for_vsize(tx.vsize() as u64),
            "{file}"
        );
        assert!(paid.trim().parse::<u64>().expect("paid") < required);
    }
}

// ---------------------------------------------------------------------------------------------
// Chain parameters observable on the regtest node
// ---------------------------------------------------------------------------------------------

#[test]
fn regtest_deployment_heights() {
    let info = json("chain/height0.getdeploymentinfo.json");
    let d = &info["deployments"];
    assert_eq!(
        u64_field(&d["segwit"], "height"),
        u64::from(Network::Regtest.segwit_height())
    );
    assert_eq!(
        u64_field(&d["csv"], "height"),
        u64::from(Network::Regtest.csv_height())
    );
    assert_eq!(d["taproot"]["active"], Value::Bool(true));
}

#[test]
fn coinbase_maturity_matches_the_node() {
    // A coinbase from `coinbase_height` may be spent in block `tip + 1` once
    // (tip + 1) - coinbase_height >= maturity.
    let coinbase_height = 1;
    let spendable = |tip: u32| tip + 1 - coinbase_height >= Network::Regtest.coinbase_maturity();
    let at_1999 = json("maturity/testmempoolaccept.spend_block1_coinbase.tip1999.json");
    let at_2000 = json("maturity/testmempoolaccept.spend_block1_coinbase.tip2000.json");
    assert_eq!(at_1999[0]["allowed"], Value::Bool(spendable(1999)));
    assert_eq!(
        str_field(&at_1999[0], "reject-reason"),
        "bad-txns-premature-spend-of-coinbase"
    );
    assert_eq!(at_2000[0]["allowed"], Value::Bool(spendable(2000)));
}
