//! The README's "Using the SDK from Rust" example, compiled by `cargo test` so it stays true.
//!
//! `cargo run --example quickstart -- http://127.0.0.1:13889 u p '<12 or 24 words>'` against a
//! running `qtumd -regtest` (or `qtum-regtest`): starts a node, prints its URI and a fresh
//! address, and lists what happened since the last run.

use qtum_lightning::qtum::network::Network;
use qtum_lightning::{Builder, ChainSourceConfig, Config, RpcAuth};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, user, password, words] = args.as_slice() else {
        eprintln!("usage: quickstart RPC_URL RPC_USER RPC_PASSWORD 'MNEMONIC'");
        std::process::exit(2);
    };
    let mut config = Config::new(
        Network::Regtest,
        std::env::temp_dir().join("qtum-ln-quickstart"),
        ChainSourceConfig::rpc(
            url.clone(),
            RpcAuth::UserPass {
                user: user.clone(),
                password: password.clone(),
            },
        ),
    );
    config.listening_addresses = vec![([127, 0, 0, 1], 9735).into()];
    let mut builder = Builder::new(config);
    builder.set_entropy_mnemonic(words, None);
    let node = builder.build()?;
    node.start()?;
    node.sync()?;
    println!("node: {}", node.node_uri().unwrap_or_default());
    println!("fund: {}", node.new_address()?);
    println!(
        "on chain: {} sat spendable",
        node.onchain_balance().spendable_sat
    );
    for channel in node.list_channels() {
        println!(
            "channel {} {} sat, ready: {}",
            channel.channel_id, channel.capacity_sat, channel.is_ready
        );
    }
    while let Some(event) = node.next_event() {
        println!("event: {event:?}");
        node.event_handled()?;
    }
    node.stop()?;
    Ok(())
}
