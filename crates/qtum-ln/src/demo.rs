//! `qtum-ln demo`: the Qtum Eclair tutorial's journey with two SDK nodes.
//!
//! Without `--rpc`, a Qtum regtest harness runs in this process; with `--rpc URL` the same steps
//! run against an external Qtum regtest node (a real `qtumd -regtest`): blocks are mined through
//! its `generatetoaddress`, and the first node is funded from its wallet (`sendtoaddress`) when
//! it has one, otherwise by mining to the node's own address and waiting out the 2000-block
//! coinbase maturity. Every call goes through RPC either way, so the harness run proves the
//! same code a real qtumd run uses.

use std::io::Write;
use std::time::{Duration, Instant};

use qtum_chain::rpc::{RpcAuth, RpcClient};
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{
    Builder, ChainSourceConfig, Config, Event, Node, PaymentStatus, RpcAuth as NodeRpcAuth,
};
use serde_json::{json, Value};

const QTUM: u64 = 100_000_000;
const CHANNEL_SAT: u64 = 10 * QTUM;
const FUND_SAT: u64 = 20 * QTUM;
/// Bounds a hang only; the demo never measures time.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) fn qtum(sat: u64) -> String {
    format!("{}.{:08} QTUM", sat / QTUM, sat % QTUM)
}

pub(crate) struct Chain {
    pub(crate) rpc: RpcClient,
    pub(crate) url: String,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) mine_to: String,
}

impl Chain {
    pub(crate) fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.rpc
            .call(method, params)
            .map_err(|e| format!("{method}: {e}"))
    }

    pub(crate) fn height(&self) -> Result<u64, String> {
        self.call("getblockcount", json!([]))?
            .as_u64()
            .ok_or_else(|| "getblockcount: not a number".into())
    }

    pub(crate) fn mine(&self, blocks: u64, to: &str) -> Result<(), String> {
        let mut left = blocks;
        while left > 0 {
            let n = left.min(500);
            self.call("generatetoaddress", json!([n, to]))?;
            left -= n;
        }
        Ok(())
    }
}

/// Split `http://user:pass@host:port` into the URL without credentials and the credentials.
fn split_credentials(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("the RPC URL must start with http:// ({url})"))?;
    let (creds, host) = rest.rsplit_once('@').ok_or_else(|| {
        "the RPC URL needs credentials: http://user:password@host:port".to_string()
    })?;
    let (user, password) = creds
        .split_once(':')
        .ok_or_else(|| "the RPC URL needs user:password before '@'".to_string())?;
    Ok((
        format!("http://{host}"),
        user.to_string(),
        password.to_string(),
    ))
}

pub(crate) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn start_node(chain: &Chain, dir: &std::path::Path, name: &str, seed: u8) -> Result<Node, String> {
    let mut config = Config::new(
        Network::Regtest,
        dir.join(name),
        ChainSourceConfig::rpc(
            chain.url.clone(),
            NodeRpcAuth::UserPass {
                user: chain.user.clone(),
                password: chain.password.clone(),
            },
        ),
    );
    config.listening_addresses = vec![([127, 0, 0, 1], free_port()?).into()];
    config.alias = name.to_string();
    config.sync_interval_secs = 1;
    let mut builder = Builder::new(config);
    // Demo keys: fixed so reruns are comparable. Never use fixed seeds for real funds.
    builder.set_entropy_seed_bytes(&[seed; 32]);
    let node = builder.build().map_err(|e| format!("{name}: {e}"))?;
    node.start().map_err(|e| format!("{name}: {e}"))?;
    Ok(node)
}

/// Wait for `done`, mining a block now and then and showing a progress line.
fn wait(
    chain: &Chain,
    nodes: &[&Node],
    what: &str,
    mine: bool,
    mut done: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let start = Instant::now();
    let mut mined = 0;
    loop {
        for node in nodes {
            let _ = node.sync();
        }
        if done()? {
            println!("\r  {what}: done{}", " ".repeat(30));
            return Ok(());
        }
        if start.elapsed() > STEP_TIMEOUT {
            println!();
            return Err(format!("gave up waiting for: {what}"));
        }
        if mine {
            chain.mine(1, &chain.mine_to)?;
            mined += 1;
        }
        print!(
            "\r  {what}: waiting… {mined} block(s) mined, height {}   ",
            chain.height()?
        );
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn next_event(
    node: &Node,
    chain: &Chain,
    what: &str,
    matches: impl Fn(&Event) -> bool,
) -> Result<Event, String> {
    let start = Instant::now();
    loop {
        let _ = node.sync();
        if let Some(event) = node.wait_next_event(Some(Duration::from_millis(300))) {
            node.event_handled().map_err(|e| e.to_string())?;
            if matches(&event) {
                return Ok(event);
            }
        }
        if start.elapsed() > STEP_TIMEOUT {
            return Err(format!("no {what} event"));
        }
        let _ = chain;
    }
}

fn balances(alice: &Node, bob: &Node) {
    for (name, node) in [("alice", alice), ("bob", bob)] {
        let channel: u64 = node
            .list_channels()
            .iter()
            .map(|c| c.outbound_capacity_msat)
            .sum();
        let onchain = node.onchain_balance();
        let immature = if onchain.immature_sat > 0 {
            format!(" (+{} immature coinbase)", qtum(onchain.immature_sat))
        } else {
            String::new()
        };
        println!(
            "  {name:5} on chain {:>20}{immature}   can send over Lightning {:>14} msat",
            qtum(onchain.spendable_sat + onchain.locked_sat),
            channel
        );
    }
}

fn pay(from: &Node, to: &Node, amount_msat: u64, what: &str) -> Result<(), String> {
    let invoice = to
        .receive(amount_msat, what, None)
        .map_err(|e| e.to_string())?;
    println!("  invoice: {}…", &invoice[..invoice.len().min(60)]);
    let preview = from.decode_invoice(&invoice).map_err(|e| e.to_string())?;
    println!(
        "  decoded: {} msat to {}…, \"{}\"",
        preview.amount_msat.unwrap_or(0),
        &preview.payee_node_id.to_string()[..16],
        preview.description.unwrap_or_default()
    );
    let id = from.send(&invoice, None).map_err(|e| e.to_string())?;
    let payment = from
        .wait_payment(&id, STEP_TIMEOUT)
        .map_err(|e| e.to_string())?;
    if payment.status != PaymentStatus::Succeeded {
        return Err(format!(
            "payment failed: {}",
            payment.failure_reason.unwrap_or_default()
        ));
    }
    println!("  paid: fee {} msat", payment.fee_paid_msat.unwrap_or(0));
    // The payee's side settles a moment later (its claim goes through a commitment update).
    let start = Instant::now();
    loop {
        let received = to
            .payment(&qtum_lightning::PaymentId(payment.payment_hash.0))
            .map_err(|e| e.to_string())?;
        if received.is_some_and(|p| p.status == PaymentStatus::Succeeded) {
            break;
        }
        if start.elapsed() > STEP_TIMEOUT {
            return Err("the payee never saw the payment".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Only so the balances printed next include the last commitment round trip.
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}

/// Where the demo's own blocks pay: a key nobody in the demo uses, so the nodes' balances show
/// only the tutorial's money.
pub(crate) fn burn_address() -> Result<String, String> {
    use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    let secret = SecretKey::from_slice(&[7; 32]).map_err(|e| e.to_string())?;
    let key = bitcoin::CompressedPublicKey(PublicKey::from_secret_key(&Secp256k1::new(), &secret));
    Ok(qtum_lightning::qtum::address::QtumAddress::p2wpkh(&key, Network::Regtest).to_string())
}

pub(crate) fn qtum_script(address: &str) -> Result<bitcoin::ScriptBuf, String> {
    qtum_lightning::qtum::address::QtumAddress::from_str_for(address, Network::Regtest)
        .map(|a| a.script_pubkey())
        .map_err(|e| e.to_string())
}

/// The chain the demos run on: an in-process harness without `rpc`, else the regtest node at
/// `rpc` (`http://user:pass@host:port`). Refuses anything but regtest.
pub(crate) fn open_chain(
    rpc: Option<&str>,
) -> Result<(Option<qtum_regtest::node::RegtestNode>, Chain), String> {
    let harness = match rpc {
        Some(_) => None,
        None => Some(qtum_regtest::node::RegtestNode::start().map_err(|e| e.to_string())?),
    };
    let (url, user, password) = match (rpc, &harness) {
        (Some(rpc), _) => split_credentials(rpc)?,
        (None, Some(h)) => {
            println!("Started a Qtum regtest harness at {}", h.url());
            (
                h.url().to_string(),
                h.rpc_user().to_string(),
                h.rpc_password().to_string(),
            )
        }
        (None, None) => return Err("no chain to run on".into()),
    };
    let rpc_client = RpcClient::new(
        url.clone(),
        RpcAuth::UserPass {
            user: user.clone(),
            password: password.clone(),
        },
        Duration::from_secs(60),
    );
    let chain = Chain {
        rpc: rpc_client,
        url,
        user,
        password,
        mine_to: burn_address()?,
    };
    let info = chain.call("getblockchaininfo", json!([]))?;
    if info["chain"] != "regtest" {
        return Err(format!(
            "the demo runs on regtest only; that node is on {}",
            info["chain"]
        ));
    }
    Ok((harness, chain))
}

/// Pays `amount_sat` to `address` from the harness's or the regtest node's wallet, or, when the
/// node has no wallet, mines 2,001 blocks to the address (coinbase maturity).
pub(crate) fn fund_address(
    harness: Option<&qtum_regtest::node::RegtestNode>,
    chain: &Chain,
    address: &str,
    amount_sat: u64,
) -> Result<(), String> {
    let funded = match harness {
        // The harness's own wallet (it mines to itself past maturity first).
        Some(h) => h
            .fund_address(&qtum_script(address)?, amount_sat)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => chain
            .call(
                "sendtoaddress",
                json!([address, amount_sat as f64 / QTUM as f64]),
            )
            .map(|_| ()),
    };
    match funded {
        Ok(()) => println!("  sent from the regtest node's wallet to {address}"),
        Err(why) => {
            println!("  the regtest node cannot pay ({why}):");
            println!("  mining 2,001 blocks to {address} and waiting out the coinbase maturity");
            chain.mine(2_001, address)?;
        }
    }
    Ok(())
}

/// Run the tutorial; `rpc` is an external regtest node's `http://user:pass@host:port`.
pub fn run(rpc: Option<&str>) -> Result<(), String> {
    let (harness, chain) = open_chain(rpc)?;
    let dir = std::env::temp_dir().join(format!("qtum-ln-demo-{}", std::process::id()));
    println!("\n1. Two Lightning nodes (data in {})", dir.display());
    let alice = start_node(&chain, &dir, "alice", 1)?;
    let bob = start_node(&chain, &dir, "bob", 2)?;
    let alice_uri = alice.node_uri().ok_or("alice has no URI")?;
    let bob_uri = bob.node_uri().ok_or("bob has no URI")?;
    println!("  alice: {alice_uri}\n  bob:   {bob_uri}");

    println!("\n2. Fund alice's on-chain wallet with {}", qtum(FUND_SAT));
    let address = alice.new_address().map_err(|e| e.to_string())?;
    fund_address(harness.as_ref(), &chain, &address, FUND_SAT)?;
    wait(&chain, &[&alice], "funds confirmed", true, || {
        Ok(alice.onchain_balance().spendable_sat >= FUND_SAT)
    })?;
    balances(&alice, &bob);

    println!("\n3. Alice opens a {} channel to bob", qtum(CHANNEL_SAT));
    alice
        .open_channel(&bob_uri, CHANNEL_SAT, None, false)
        .map_err(|e| e.to_string())?;
    let pending = next_event(&alice, &chain, "ChannelPending", |e| {
        matches!(e, Event::ChannelPending { .. })
    })?;
    if let Event::ChannelPending {
        channel_id,
        funding_txo,
        ..
    } = &pending
    {
        println!("  channel {channel_id}\n  funding {funding_txo}");
    }
    wait(&chain, &[&alice, &bob], "6 confirmations", true, || {
        Ok(alice.list_channels().iter().any(|c| c.is_usable)
            && bob.list_channels().iter().any(|c| c.is_usable))
    })?;
    let channel_id = alice
        .list_channels()
        .first()
        .map(|c| c.channel_id)
        .ok_or("no channel")?;
    balances(&alice, &bob);

    println!("\n4. Bob asks for 1 satoshi; alice pays");
    pay(&alice, &bob, 1_000, "one satoshi, as in the tutorial")?;
    balances(&alice, &bob);

    println!("\n5. A larger payment: alice pays bob 1 QTUM, bob pays 0.5 QTUM back");
    pay(&alice, &bob, QTUM * 1_000, "one QTUM")?;
    pay(&bob, &alice, QTUM * 1_000 / 2, "half a QTUM back")?;
    balances(&alice, &bob);

    println!("\n6. Alice closes the channel cooperatively");
    alice
        .close_channel(&channel_id)
        .map_err(|e| e.to_string())?;
    wait(
        &chain,
        &[&alice, &bob],
        "closing transaction confirmed",
        true,
        || Ok(alice.list_channels().is_empty() && bob.list_channels().is_empty()),
    )?;
    wait(&chain, &[&alice, &bob], "funds back on chain", true, || {
        Ok(alice.onchain_balance().unconfirmed_sat == 0 && bob.onchain_balance().confirmed_sat > 0)
    })?;
    balances(&alice, &bob);
    let alice_total = alice.onchain_balance().total_sat;
    let bob_total = bob.onchain_balance().confirmed_sat;
    println!(
        "\nDone: alice has {} on chain, bob {} (the 0.5 QTUM + 1 sat he kept; alice paid the fees).",
        qtum(alice_total),
        qtum(bob_total)
    );
    alice.stop().map_err(|e| e.to_string())?;
    bob.stop().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_split_from_the_url() {
        assert_eq!(
            split_credentials("http://u:p@127.0.0.1:13889").expect("ok"),
            ("http://127.0.0.1:13889".into(), "u".into(), "p".into())
        );
        assert!(split_credentials("https://u:p@h:1").is_err());
        assert!(split_credentials("http://127.0.0.1:13889").is_err());
        assert!(split_credentials("http://u@127.0.0.1:1").is_err());
    }
}
