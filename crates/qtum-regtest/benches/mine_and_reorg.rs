//! Benchmark (not a test): time to mine the 2,001 blocks needed before the first coinbase
//! spend, and to reorganise 10 blocks (invalidateblock + reconsiderblock) that carry
//! transactions. Run with `cargo bench -p qtum-regtest --bench mine_and_reorg`.

use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{CompressedPublicKey, ScriptBuf};
use qtum_regtest::chain::ChainState;
use qtum_regtest::wallet::Wallet;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&sha256::Hash::hash(b"bench").to_byte_array()).expect("key");
    let script = ScriptBuf::new_p2wpkh(&CompressedPublicKey(sk.public_key(&secp)).wpubkey_hash());

    let (mine, _) = best_of(5, || {
        let mut chain = ChainState::new();
        for _ in 0..2001 {
            chain.mine_block(&script, None).expect("mine");
        }
        chain
    });
    println!(
        "mine 2001 blocks (empty, full validation): {:.1} ms (best of 5)",
        mine.as_secs_f64() * 1e3
    );

    // A chain whose last 10 blocks each confirm 5 independent wallet payments (50 mature
    // wallet coinbases, so no payment depends on another).
    let wallet = Wallet::new();
    let mut chain = ChainState::new();
    for _ in 0..2050 {
        chain
            .mine_block(wallet.script_pubkey(), None)
            .expect("mine");
    }
    let mut hashes = Vec::new();
    for i in 0..10u64 {
        for j in 0..5u64 {
            wallet
                .pay(&mut chain, &script, 100_000_000 + i * 10 + j)
                .expect("pay");
        }
        hashes.push(chain.mine_block(&script, None).expect("mine"));
    }
    let first = hashes[0];
    let (disconnect, _) = best_of(5, || {
        chain.invalidate_block(&first).expect("invalidate");
        let d = chain.mempool.len();
        chain.reconsider_block(&first).expect("reconsider");
        d
    });
    let t = Instant::now();
    chain.invalidate_block(&first).expect("invalidate");
    let invalidate = t.elapsed();
    assert_eq!(
        chain.mempool.len(),
        50,
        "the 50 payments went back to the mempool"
    );
    let t = Instant::now();
    chain.reconsider_block(&first).expect("reconsider");
    let reconsider = t.elapsed();
    assert_eq!(chain.mempool.len(), 0);
    println!(
        "reorg 10 blocks x 5 txs: invalidateblock {:.2} ms, reconsiderblock {:.2} ms, round trip {:.2} ms (best of 5)",
        invalidate.as_secs_f64() * 1e3,
        reconsider.as_secs_f64() * 1e3,
        disconnect.as_secs_f64() * 1e3
    );
}
