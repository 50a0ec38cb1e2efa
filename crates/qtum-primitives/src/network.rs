//! Qtum networks and their chain parameters.
//!
//! Values come from Qtum Core 27.1's `chainparams.cpp` and were checked against a
//! running `qtumd -regtest` where the fixtures allow. Hashes are stored as compile-time constants
//! for speed; the tests rebuild every genesis block and prove the constants right.

use std::fmt;
use std::str::FromStr;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};

use crate::block::QtumBlock;
use crate::genesis;
use crate::header::QtumHeader;
use crate::hex_const::display_hash;

/// Satoshis per QTUM.
pub const COIN: u64 = 100_000_000;

/// Qtum's `MAX_MONEY`: 107,822,406.25 QTUM in satoshis (not Bitcoin's 21M).
pub const MAX_MONEY: u64 = 10_782_240_625_000_000;

/// Qtum nodes refuse reorganisations deeper than this many blocks (about 17.8 hours at 32 s).
pub const MAX_REORG_DEPTH: u32 = 2000;

/// Coin type Qtum Core's wallet uses in BIP44/49/84/86 paths (`m/84'/88'/0'`), on all networks.
pub const BIP44_COIN_TYPE: u32 = 88;

/// Coin type SLIP-44 registers for Qtum. Qtum Core does not use it; see [`BIP44_COIN_TYPE`].
pub const SLIP44_COIN_TYPE: u32 = 2301;

/// Coinbase/coinstake maturity on mainnet before the block-time fork (then 2000).
pub const LEGACY_COINBASE_MATURITY: u32 = 500;

/// Block spacing before the block-time fork, in seconds.
pub const LEGACY_TARGET_SPACING_SECS: u32 = 128;

/// Genesis merkle root (display order) — the same coinbase on every network.
pub const GENESIS_MERKLE_ROOT: &str =
    "ed34050eb5909ee535fcb07af292ea55f3d2f291187617b44d3282231405b96d";

const MAINNET_GENESIS: [u8; 32] =
    display_hash("000075aef83cf2853580f8ae8ce6f8c3096cfa21d98334d6e3f95e5582ed986c");
const TESTNET_GENESIS: [u8; 32] =
    display_hash("0000e803ee215c0684ca0d2f9220594d3f828617972aad66feb2ba51f5e14222");
const REGTEST_GENESIS: [u8; 32] =
    display_hash("665ed5b402ac0b44efc37d8926332994363e8a7278b7ee9a58fb972efadae943");

/// A Qtum network.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    /// Qtum mainnet.
    Mainnet,
    /// Qtum testnet.
    Testnet,
    /// Qtum regtest (local test chains).
    Regtest,
}

impl Network {
    /// All networks, in a fixed order.
    pub const ALL: [Network; 3] = [Network::Mainnet, Network::Testnet, Network::Regtest];

    /// Lowercase name, as shown by `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Regtest => "regtest",
        }
    }

    fn genesis_bytes(self) -> [u8; 32] {
        match self {
            Network::Mainnet => MAINNET_GENESIS,
            Network::Testnet => TESTNET_GENESIS,
            Network::Regtest => REGTEST_GENESIS,
        }
    }

    /// The genesis block hash (Qtum's: sha256d of the 181-byte genesis header).
    pub fn genesis_hash(self) -> BlockHash {
        BlockHash::from_byte_array(self.genesis_bytes())
    }

    /// BOLT `chain_hash`: the genesis hash bytes in internal (sha256d output) order.
    pub fn chain_hash(self) -> ChainHash {
        ChainHash::from(self.genesis_bytes())
    }

    /// The network whose genesis hash is `chain_hash`, if it is a Qtum network.
    pub fn from_chain_hash(chain_hash: ChainHash) -> Option<Network> {
        Network::ALL
            .into_iter()
            .find(|n| n.chain_hash() == chain_hash)
    }

    /// Genesis `nNonce`.
    pub fn genesis_nonce(self) -> u32 {
        match self {
            Network::Mainnet => 8_026_361,
            Network::Testnet => 7_349_697,
            Network::Regtest => 17,
        }
    }

    /// Genesis `nBits` (also the proof-of-work limit's compact form).
    pub fn genesis_bits(self) -> CompactTarget {
        match self {
            Network::Mainnet | Network::Testnet => CompactTarget::from_consensus(0x1f00_ffff),
            Network::Regtest => CompactTarget::from_consensus(0x207f_ffff),
        }
    }

    /// Genesis `nTime` (the same on every network).
    pub fn genesis_time(self) -> u32 {
        genesis::TIME
    }

    /// The genesis merkle root (the same on every network).
    pub fn genesis_merkle_root(self) -> TxMerkleNode {
        TxMerkleNode::from_byte_array(display_hash(GENESIS_MERKLE_ROOT))
    }

    /// The genesis header, rebuilt from its parts.
    pub fn genesis_header(self) -> QtumHeader {
        genesis::header(self.genesis_nonce(), self.genesis_bits())
    }

    /// The genesis block, rebuilt from its parts.
    pub fn genesis_block(self) -> QtumBlock {
        genesis::block(self.genesis_nonce(), self.genesis_bits())
    }

    /// P2P message start bytes, in wire order.
    pub fn p2p_magic(self) -> [u8; 4] {
        match self {
            Network::Mainnet => [0xf1, 0xcf, 0xa6, 0xd3],
            Network::Testnet => [0x0d, 0x22, 0x15, 0x06],
            Network::Regtest => [0xfd, 0xdd, 0xc6, 0xe1],
        }
    }

    /// Default P2P port.
    pub fn default_p2p_port(self) -> u16 {
        match self {
            Network::Mainnet => 3888,
            Network::Testnet => 13888,
            Network::Regtest => 23888,
        }
    }

    /// Default JSON-RPC port. Regtest shares testnet's 13889 (unlike Bitcoin Core).
    pub fn default_rpc_port(self) -> u16 {
        match self {
            Network::Mainnet => 3889,
            Network::Testnet | Network::Regtest => 13889,
        }
    }

    /// Base58 version byte of P2PKH addresses (`Q…` on mainnet, `q…` otherwise).
    pub fn p2pkh_prefix(self) -> u8 {
        match self {
            Network::Mainnet => 58,
            Network::Testnet | Network::Regtest => 120,
        }
    }

    /// Base58 version byte of P2SH addresses (`M…` on mainnet, `m…` otherwise).
    pub fn p2sh_prefix(self) -> u8 {
        match self {
            Network::Mainnet => 50,
            Network::Testnet | Network::Regtest => 110,
        }
    }

    /// WIF private key version byte (Bitcoin's values).
    pub fn wif_prefix(self) -> u8 {
        match self {
            Network::Mainnet => 128,
            Network::Testnet | Network::Regtest => 239,
        }
    }

    /// BIP32 extended public key version bytes (`xpub`/`tpub`, Bitcoin's values).
    pub fn bip32_xpub_version(self) -> [u8; 4] {
        match self {
            Network::Mainnet => [0x04, 0x88, 0xb2, 0x1e],
            Network::Testnet | Network::Regtest => [0x04, 0x35, 0x87, 0xcf],
        }
    }

    /// BIP32 extended private key version bytes (`xprv`/`tprv`, Bitcoin's values).
    pub fn bip32_xprv_version(self) -> [u8; 4] {
        match self {
            Network::Mainnet => [0x04, 0x88, 0xad, 0xe4],
            Network::Testnet | Network::Regtest => [0x04, 0x35, 0x83, 0x94],
        }
    }

    /// Bech32/bech32m human-readable part of SegWit addresses.
    pub fn bech32_hrp(self) -> &'static str {
        match self {
            Network::Mainnet => "qc",
            Network::Testnet => "tq",
            Network::Regtest => "qcrt",
        }
    }

    /// BOLT 11 invoice prefix, as Qtum's Eclair fork chose (`ln` + HRP).
    pub fn bolt11_prefix(self) -> &'static str {
        match self {
            Network::Mainnet => "lnqc",
            Network::Testnet => "lntq",
            Network::Regtest => "lnqcrt",
        }
    }

    /// Confirmations before a coinbase or coinstake output can be spent (current rule).
    ///
    /// On regtest this means mining 2001 blocks before the first coinbase is spendable. Mainnet
    /// used [`LEGACY_COINBASE_MATURITY`] before [`Network::block_time_fork_height`].
    pub fn coinbase_maturity(self) -> u32 {
        2000
    }

    /// Target block spacing today, in seconds: timelocks in blocks last 18.75× less
    /// wall-clock time than on Bitcoin.
    pub fn target_spacing_secs(self) -> u32 {
        32
    }

    /// Height from which blocks are 32 s apart (128 s before). 0 on regtest.
    pub fn block_time_fork_height(self) -> u32 {
        match self {
            Network::Mainnet => 845_000,
            Network::Testnet => 806_600,
            Network::Regtest => 0,
        }
    }

    /// Target block spacing in force at `height`, in seconds.
    pub fn target_spacing_secs_at(self, height: u32) -> u32 {
        if height < self.block_time_fork_height() {
            LEGACY_TARGET_SPACING_SECS
        } else {
            self.target_spacing_secs()
        }
    }

    /// First height at which SegWit is enforced.
    pub fn segwit_height(self) -> u32 {
        match self {
            Network::Mainnet | Network::Testnet => 6048,
            Network::Regtest => 0,
        }
    }

    /// First height at which CSV (BIP68/112/113) is enforced.
    pub fn csv_height(self) -> u32 {
        match self {
            Network::Mainnet | Network::Testnet => 6048,
            Network::Regtest => 1,
        }
    }

    /// Last height that may be mined by proof of work; later blocks are proof of stake.
    ///
    /// `None` on regtest: PoW never ends there, but PoS blocks are accepted as well (the regtest
    /// fixtures contain PoS blocks at heights 4027 and 4028, between PoW blocks).
    pub fn last_pow_height(self) -> Option<u32> {
        match self {
            Network::Mainnet | Network::Testnet => Some(5000),
            Network::Regtest => None,
        }
    }

    /// BIP44 coin type used by Qtum Core's wallet ([`BIP44_COIN_TYPE`]).
    pub fn bip44_coin_type(self) -> u32 {
        BIP44_COIN_TYPE
    }

    /// Maximum reorganisation depth nodes accept ([`MAX_REORG_DEPTH`]).
    pub fn max_reorg_depth(self) -> u32 {
        MAX_REORG_DEPTH
    }

    /// The `bitcoin::Network` this network is mapped to where LDK or rust-bitcoin need one.
    pub fn bitcoin_network(self) -> bitcoin::Network {
        match self {
            Network::Mainnet => bitcoin::Network::Bitcoin,
            Network::Testnet => bitcoin::Network::Testnet,
            Network::Regtest => bitcoin::Network::Regtest,
        }
    }

    /// Inverse of [`Network::bitcoin_network`]; `None` for networks with no Qtum counterpart.
    pub fn from_bitcoin_network(network: bitcoin::Network) -> Option<Network> {
        match network {
            bitcoin::Network::Bitcoin => Some(Network::Mainnet),
            bitcoin::Network::Testnet => Some(Network::Testnet),
            bitcoin::Network::Regtest => Some(Network::Regtest),
            _ => None,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = ParseNetworkError;

    /// Accepts the `Display` names and common aliases, case-insensitively: `main`, `qtum`,
    /// `qtum-mainnet`; `test`, `qtumtestnet`, `qtum-testnet`; `reg`, `qtumregtest`,
    /// `qtum-regtest`; also the bech32 HRPs `qc`, `tq`, `qcrt`. `_` works like `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_ascii_lowercase().replace('_', "-");
        match key.as_str() {
            "mainnet" | "main" | "qtum" | "qtum-mainnet" | "qtummainnet" | "qtum-main" | "qc" => {
                Ok(Network::Mainnet)
            }
            "testnet" | "test" | "qtumtestnet" | "qtum-testnet" | "qtum-test" | "tq" => {
                Ok(Network::Testnet)
            }
            "regtest" | "reg" | "qtumregtest" | "qtum-regtest" | "qtum-reg" | "qcrt" => {
                Ok(Network::Regtest)
            }
            _ => Err(ParseNetworkError {
                input: s.to_owned(),
            }),
        }
    }
}

/// A string that names no Qtum network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseNetworkError {
    /// The rejected input.
    pub input: String,
}

impl fmt::Display for ParseNetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown Qtum network \"{}\": expected mainnet, testnet or regtest",
            self.input
        )
    }
}

impl std::error::Error for ParseNetworkError {}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hex::DisplayHex;

    const DISPLAY_HASHES: [(Network, &str); 3] = [
        (
            Network::Mainnet,
            "000075aef83cf2853580f8ae8ce6f8c3096cfa21d98334d6e3f95e5582ed986c",
        ),
        (
            Network::Testnet,
            "0000e803ee215c0684ca0d2f9220594d3f828617972aad66feb2ba51f5e14222",
        ),
        (
            Network::Regtest,
            "665ed5b402ac0b44efc37d8926332994363e8a7278b7ee9a58fb972efadae943",
        ),
    ];

    const CHAIN_HASHES: [(Network, &str); 3] = [
        (
            Network::Mainnet,
            "6c98ed82555ef9e3d63483d921fa6c09c3f8e68caef8803585f23cf8ae750000",
        ),
        (
            Network::Testnet,
            "2242e1f551bab2fe66ad2a971786823f4d5920922f0dca84065c21ee03e80000",
        ),
        (
            Network::Regtest,
            "43e9dafa2e97fb589aeeb778728a3e3694293326897dc3ef440bac02b4d55e66",
        ),
    ];

    #[test]
    fn genesis_hashes_recompute_from_rebuilt_blocks() {
        for (network, display) in DISPLAY_HASHES {
            assert_eq!(network.genesis_hash().to_string(), display, "{network}");
            let block = network.genesis_block();
            assert_eq!(block.block_hash(), network.genesis_hash(), "{network}");
            assert_eq!(
                network.genesis_header().block_hash(),
                network.genesis_hash()
            );
            assert!(block.check_merkle_root(), "{network}");
            assert_eq!(block.header.merkle_root.to_string(), GENESIS_MERKLE_ROOT);
            assert_eq!(block.header.merkle_root, network.genesis_merkle_root());
            assert_eq!(block.header.time, 1_504_695_029);
            assert_eq!(block.header.version, 1);
            assert!(
                block.header.check_pow(),
                "{network} genesis meets its own target"
            );
        }
    }

    #[test]
    fn chain_hashes_are_internal_order_genesis_bytes() {
        for (network, wire) in CHAIN_HASHES {
            assert_eq!(network.chain_hash().as_bytes().to_lower_hex_string(), wire);
            assert_eq!(
                Network::from_chain_hash(network.chain_hash()),
                Some(network)
            );
        }
        assert_eq!(Network::from_chain_hash(ChainHash::from([0u8; 32])), None);
    }

    #[test]
    fn genesis_parameters() {
        assert_eq!(Network::Mainnet.genesis_nonce(), 8_026_361);
        assert_eq!(Network::Testnet.genesis_nonce(), 7_349_697);
        assert_eq!(Network::Regtest.genesis_nonce(), 17);
        assert_eq!(Network::Mainnet.genesis_bits().to_consensus(), 0x1f00ffff);
        assert_eq!(Network::Regtest.genesis_bits().to_consensus(), 0x207fffff);
        for n in Network::ALL {
            assert_eq!(n.genesis_time(), 1_504_695_029);
            let h = n.genesis_header();
            assert_eq!(
                h.hash_state_root.to_lower_hex_string(),
                "e965ffd002cd6ad0e2dc402b8044de833e06b23127ea8c3d80aec91410771495"
            );
            assert_eq!(
                h.hash_utxo_root.to_lower_hex_string(),
                "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
            );
            assert_eq!(
                n.genesis_block().txdata[0].output[0].value.to_sat(),
                50 * COIN
            );
        }
    }

    #[test]
    fn section_one_table() {
        use Network::*;
        const ALL: [Network; 3] = Network::ALL;
        let magic: Vec<String> = Network::ALL
            .iter()
            .map(|n| n.p2p_magic().to_lower_hex_string())
            .collect();
        assert_eq!(magic, ["f1cfa6d3", "0d221506", "fdddc6e1"]);
        assert_eq!(ALL.map(Network::default_p2p_port), [3888, 13888, 23888]);
        assert_eq!(ALL.map(Network::default_rpc_port), [3889, 13889, 13889]);
        assert_eq!(ALL.map(Network::p2pkh_prefix), [58, 120, 120]);
        assert_eq!(ALL.map(Network::p2sh_prefix), [50, 110, 110]);
        assert_eq!(ALL.map(Network::wif_prefix), [128, 239, 239]);
        assert_eq!(ALL.map(Network::bech32_hrp), ["qc", "tq", "qcrt"]);
        assert_eq!(ALL.map(Network::bolt11_prefix), ["lnqc", "lntq", "lnqcrt"]);
        assert_eq!(ALL.map(Network::target_spacing_secs), [32, 32, 32]);
        assert_eq!(
            ALL.map(Network::block_time_fork_height),
            [845_000, 806_600, 0]
        );
        assert_eq!(Mainnet.target_spacing_secs_at(844_999), 128);
        assert_eq!(Mainnet.target_spacing_secs_at(845_000), 32);
        assert_eq!(Testnet.target_spacing_secs_at(806_599), 128);
        assert_eq!(Regtest.target_spacing_secs_at(0), 32);
        assert_eq!(ALL.map(Network::coinbase_maturity), [2000, 2000, 2000]);
        assert_eq!(
            ALL.map(Network::last_pow_height),
            [Some(5000), Some(5000), None]
        );
        assert_eq!(ALL.map(Network::segwit_height), [6048, 6048, 0]);
        assert_eq!(ALL.map(Network::csv_height), [6048, 6048, 1]);
        assert_eq!(ALL.map(Network::bip44_coin_type), [88, 88, 88]);
        assert_eq!(ALL.map(Network::max_reorg_depth), [2000, 2000, 2000]);
        assert_eq!(Regtest.bip32_xpub_version(), [0x04, 0x35, 0x87, 0xcf]);
        assert_eq!(Regtest.bip32_xprv_version(), [0x04, 0x35, 0x83, 0x94]);
        assert_eq!(MAX_MONEY, 10_782_240_625 * COIN / 100);
    }

    #[test]
    fn bitcoin_network_mapping_round_trips() {
        for n in Network::ALL {
            assert_eq!(Network::from_bitcoin_network(n.bitcoin_network()), Some(n));
        }
        assert_eq!(
            Network::from_bitcoin_network(bitcoin::Network::Signet),
            None
        );
    }

    #[test]
    fn parses_names_and_aliases() {
        for (s, n) in [
            ("mainnet", Network::Mainnet),
            ("MAIN", Network::Mainnet),
            ("Qtum", Network::Mainnet),
            ("qtum_mainnet", Network::Mainnet),
            ("test", Network::Testnet),
            ("QtumTestnet", Network::Testnet),
            ("qtum-testnet", Network::Testnet),
            ("regtest", Network::Regtest),
            (" qcrt ", Network::Regtest),
        ] {
            assert_eq!(s.parse::<Network>(), Ok(n), "{s}");
        }
        for n in Network::ALL {
            assert_eq!(n.to_string().parse::<Network>(), Ok(n));
        }
        let err = "bitcoin".parse::<Network>().unwrap_err();
        assert_eq!(err.input, "bitcoin");
        assert!(err
            .to_string()
            .contains("expected mainnet, testnet or regtest"));
        assert!("".parse::<Network>().is_err());
    }
}
