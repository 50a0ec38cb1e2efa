//! `qtum-regtest`: a Qtum regtest node for one machine, answering qtumd's JSON-RPC.
//!
//! Usage: `qtum-regtest --rpcport 13889 --rpcuser u --rpcpassword p [--datadir DIR]
//! [--addrindex 0|1]` (with `--datadir` the chain and mempool are kept in DIR and resumed on the
//! next start; `--addrindex 0` answers the address index calls as qtumd without `-addrindex`;
//! `--zmqpubrawblock tcp://127.0.0.1:PORT` and `--zmqpubrawtx ...` publish qtumd's ZMQ
//! notifications) (qtumd's `-rpcport=…` spelling is accepted too).

use qtum_regtest::{NodeConfig, RegtestNode};

fn usage() -> ! {
    eprintln!(
        "usage: qtum-regtest [--rpcport N] [--rpcuser USER] [--rpcpassword PASS] [--datadir DIR] \
         [--addrindex 0|1] [--zmqpubrawblock tcp://IP:PORT] [--zmqpubrawtx tcp://IP:PORT]"
    );
    std::process::exit(2)
}

/// `tcp://IP:PORT` as a socket address (the harness binds numeric addresses only).
fn zmq_addr(text: &str) -> std::net::SocketAddr {
    text.strip_prefix("tcp://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("qtum-regtest: a ZMQ address is tcp://IP:PORT, not {text}");
            usage()
        })
}

fn main() {
    let mut config = NodeConfig {
        port: 13889,
        ..Default::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let trimmed = arg.trim_start_matches('-');
        let (key, inline) = match trimmed.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (trimmed.to_string(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage())
        };
        match key.as_str() {
            "rpcport" => config.port = value().parse().unwrap_or_else(|_| usage()),
            "rpcuser" => config.user = Some(value()),
            "rpcpassword" => config.password = Some(value()),
            "datadir" => config.datadir = Some(value().into()),
            "addrindex" => {
                config.without_addrindex = match value().as_str() {
                    "0" => true,
                    "1" => false,
                    _ => usage(),
                }
            }
            "zmqpubrawblock" => config.zmq_pub_raw_block = Some(zmq_addr(&value())),
            "zmqpubrawtx" => config.zmq_pub_raw_tx = Some(zmq_addr(&value())),
            "regtest" | "server" | "printtoconsole" => {}
            "h" | "help" => usage(),
            _ => {
                eprintln!("qtum-regtest: unknown option {arg}");
                usage()
            }
        }
    }
    match RegtestNode::start_with(config) {
        Ok(node) => {
            println!(
                "qtum-regtest listening on {} (user {})",
                node.url(),
                node.rpc_user()
            );
            for (topic, endpoint) in [
                ("rawblock", node.zmq_block_endpoint()),
                ("rawtx", node.zmq_tx_endpoint()),
            ] {
                if let Some(e) = endpoint {
                    println!("qtum-regtest publishes {topic} on {e}");
                }
            }
            node.wait();
        }
        Err(e) => {
            eprintln!("qtum-regtest: {e}");
            std::process::exit(1);
        }
    }
}
