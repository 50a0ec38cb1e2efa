//! Key material: BIP39 mnemonic → BIP32 seed → the wallet's BIP84 account and the LDK seed.
//!
//! | what | path from the BIP32 master key | used for |
//! |---|---|---|
//! | wallet account | `m/84'/88'/0'` | P2WPKH, the path Qtum Core's wallet uses (coin type 88, on every Qtum network) |
//! | receive chain | `m/84'/88'/0'/0/i` | [`crate::Wallet::new_address`] |
//! | change chain | `m/84'/88'/0'/1/i` | change outputs, [`crate::Wallet::change_script`] (LDK sweeps) |
//! | LDK node seed | `m/535'`, its 32 private-key bytes | `lightning::sign::KeysManager::new(&seed, …)` |
//!
//! The BIP32 master key comes from the 64-byte BIP39 seed (PBKDF2 of the NFKD mnemonic and
//! `"mnemonic" + passphrase`), or from raw seed bytes (16 to 64 bytes, BIP32's range) for callers
//! that keep their own entropy.
//!
//! Why `m/535'` for LDK: it is a hardened branch no BIP43 purpose uses (44/49/84/86 are
//! wallets), so the Lightning keys share no derivation with on-chain keys, and a leaked LDK seed
//! reveals nothing about the wallet (hardened: parent key not recoverable). Why not the BIP39
//! seed itself: LDK wants 32 bytes and derives everything from them; handing it a BIP32 child keeps
//! one root (the mnemonic) and one documented derivation. BIP32 `xpub`/`tpub` version bytes are
//! Bitcoin's on Qtum, so `NetworkKind` only changes how extended keys would print, never a key.

use core::fmt;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::secp256k1::{All, Secp256k1, SecretKey};
use bitcoin::{CompressedPublicKey, NetworkKind, ScriptBuf};
use zeroize::Zeroize;

use qtum_primitives::address::QtumAddress;
use qtum_primitives::network::{Network, BIP44_COIN_TYPE};

/// BIP43 purpose of native SegWit (P2WPKH) accounts.
pub const BIP84_PURPOSE: u32 = 84;

/// Hardened child of the master key whose private key is the LDK seed.
pub const LDK_SEED_CHILD: u32 = 535;

/// Smallest and largest raw seed BIP32 accepts, in bytes.
const SEED_LEN_RANGE: core::ops::RangeInclusive<usize> = 16..=64;

/// Number of words of a new mnemonic.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WordCount {
    /// 12 words, 128 bits of entropy.
    Words12,
    /// 24 words, 256 bits of entropy.
    Words24,
}

impl WordCount {
    fn entropy_len(self) -> usize {
        match self {
            WordCount::Words12 => 16,
            WordCount::Words24 => 32,
        }
    }
}

/// The two BIP44 chains of the account.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Keychain {
    /// Receive addresses (`…/0/i`).
    External,
    /// Change (`…/1/i`).
    Internal,
}

impl Keychain {
    /// Both chains, receive first.
    pub const ALL: [Keychain; 2] = [Keychain::External, Keychain::Internal];

    /// The BIP44 `change` level: 0 or 1.
    pub fn index(self) -> u32 {
        match self {
            Keychain::External => 0,
            Keychain::Internal => 1,
        }
    }
}

/// Why a mnemonic or seed was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The mnemonic does not have 12, 15, 18, 21 or 24 words.
    BadWordCount {
        /// Words found.
        words: usize,
    },
    /// A word is not in the BIP39 English list.
    UnknownWord {
        /// Position of the word, counted from 1.
        position: usize,
    },
    /// All words are valid but the checksum does not match: a word is wrong or misplaced.
    BadChecksum,
    /// Raw seed bytes outside BIP32's 16 to 64.
    BadSeedLength {
        /// Length given.
        len: usize,
    },
    /// The seed leads to an invalid BIP32 key (probability about 2^-127; use another seed).
    Derivation,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::BadWordCount { words } => {
                write!(
                    f,
                    "a recovery phrase has 12, 15, 18, 21 or 24 words, not {words}"
                )
            }
            KeyError::UnknownWord { position } => {
                write!(
                    f,
                    "word {position} of the recovery phrase is not a BIP39 English word"
                )
            }
            KeyError::BadChecksum => f.write_str(
                "the recovery phrase's checksum does not match: a word is wrong or out of order",
            ),
            KeyError::BadSeedLength { len } => {
                write!(f, "a seed has 16 to 64 bytes, not {len}")
            }
            KeyError::Derivation => f.write_str("this seed cannot derive BIP32 keys; use another"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The wallet's and the Lightning node's root secret.
///
/// Holds the derived account key and LDK seed (not the BIP32 master key, which is dropped once
/// they are derived), plus the mnemonic when there is one so the app can show it for backup.
/// `Debug` never prints secrets, and the bytes are wiped on drop.
pub struct WalletSeed {
    account: Xpriv,
    ldk_seed: [u8; 32],
    master_fingerprint: Fingerprint,
    mnemonic: Option<bip39::Mnemonic>,
}

impl WalletSeed {
    /// A new random mnemonic of `words` words (OS entropy), with an optional BIP39 passphrase.
    pub fn generate(words: WordCount, passphrase: Option<&str>) -> Result<WalletSeed, KeyError> {
        let mut entropy = [0u8; 32];
        let entropy = &mut entropy[..words.entropy_len()];
        // Without OS entropy there is no safe way to make a key: refuse rather than weaken it.
        getrandom::getrandom(entropy).map_err(|_| KeyError::Derivation)?;
        let mnemonic = bip39::Mnemonic::from_entropy(entropy).map_err(map_bip39);
        entropy.zeroize();
        Self::from_parsed_mnemonic(mnemonic?, passphrase)
    }

    /// The seed of an existing English BIP39 mnemonic (12, 15, 18, 21 or 24 words; case and
    /// surrounding whitespace are ignored) and optional passphrase.
    pub fn from_mnemonic(phrase: &str, passphrase: Option<&str>) -> Result<WalletSeed, KeyError> {
        let normalized = phrase
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let mnemonic =
            bip39::Mnemonic::parse_in(bip39::Language::English, &normalized).map_err(map_bip39)?;
        Self::from_parsed_mnemonic(mnemonic, passphrase)
    }

    fn from_parsed_mnemonic(
        mnemonic: bip39::Mnemonic,
        passphrase: Option<&str>,
    ) -> Result<WalletSeed, KeyError> {
        let mut seed = mnemonic.to_seed(passphrase.unwrap_or(""));
        let result = Self::from_seed_bytes(&seed);
        seed.zeroize();
        let mut wallet_seed = result?;
        wallet_seed.mnemonic = Some(mnemonic);
        Ok(wallet_seed)
    }

    /// Raw BIP32 seed bytes (16 to 64), for callers that manage their own entropy.
    pub fn from_seed_bytes(seed: &[u8]) -> Result<WalletSeed, KeyError> {
        if !SEED_LEN_RANGE.contains(&seed.len()) {
            return Err(KeyError::BadSeedLength { len: seed.len() });
        }
        let secp = Secp256k1::new();
        // NetworkKind only selects the xprv/tprv version bytes; keys are the same either way.
        let master =
            Xpriv::new_master(NetworkKind::Main, seed).map_err(|_| KeyError::Derivation)?;
        let account = master
            .derive_priv(&secp, &account_path())
            .map_err(|_| KeyError::Derivation)?;
        let ldk = master
            .derive_priv(&secp, &[hardened(LDK_SEED_CHILD)?])
            .map_err(|_| KeyError::Derivation)?;
        let master_fingerprint = master.fingerprint(&secp);
        let mut master = master;
        master.private_key.non_secure_erase();
        let ldk_seed = ldk.private_key.secret_bytes();
        let mut ldk = ldk;
        ldk.private_key.non_secure_erase();
        Ok(WalletSeed {
            account,
            ldk_seed,
            master_fingerprint,
            mnemonic: None,
        })
    }

    /// The 32-byte seed for LDK's `KeysManager`: the private key of `m/535'`.
    pub fn ldk_seed(&self) -> [u8; 32] {
        self.ldk_seed
    }

    /// The mnemonic's words, for the user to write down; `None` for raw-seed wallets.
    /// Handle with care: whoever sees it owns the funds.
    pub fn mnemonic_phrase(&self) -> Option<String> {
        self.mnemonic.as_ref().map(|m| m.to_string())
    }

    /// BIP32 fingerprint of the master key (as in descriptors: `[fingerprint/84'/88'/0']`).
    pub fn master_fingerprint(&self) -> Fingerprint {
        self.master_fingerprint
    }

    /// The account's extended public key (`m/84'/88'/0'`), printed as an `xpub`.
    pub fn account_xpub(&self) -> Xpub {
        Xpub::from_priv(&Secp256k1::signing_only(), &self.account)
    }

    pub(crate) fn account_xpriv(&self) -> &Xpriv {
        &self.account
    }
}

impl Clone for WalletSeed {
    fn clone(&self) -> Self {
        WalletSeed {
            account: self.account,
            ldk_seed: self.ldk_seed,
            master_fingerprint: self.master_fingerprint,
            mnemonic: self.mnemonic.clone(),
        }
    }
}

impl fmt::Debug for WalletSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletSeed")
            .field("master_fingerprint", &self.master_fingerprint)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl Drop for WalletSeed {
    fn drop(&mut self) {
        self.account.private_key.non_secure_erase();
        self.ldk_seed.zeroize();
        if let Some(m) = self.mnemonic.as_mut() {
            m.zeroize();
        }
    }
}

/// `m/84'/88'/0'`.
pub fn account_path() -> DerivationPath {
    DerivationPath::from(vec![
        ChildNumber::Hardened {
            index: BIP84_PURPOSE,
        },
        ChildNumber::Hardened {
            index: BIP44_COIN_TYPE,
        },
        ChildNumber::Hardened { index: 0 },
    ])
}

fn hardened(index: u32) -> Result<ChildNumber, KeyError> {
    ChildNumber::from_hardened_idx(index).map_err(|_| KeyError::Derivation)
}

fn map_bip39(e: bip39::Error) -> KeyError {
    match e {
        bip39::Error::BadWordCount(words) => KeyError::BadWordCount { words },
        bip39::Error::UnknownWord(i) => KeyError::UnknownWord { position: i + 1 },
        bip39::Error::InvalidChecksum => KeyError::BadChecksum,
        // Entropy lengths come from `WordCount` or a parsed phrase: only a word count can be off.
        bip39::Error::BadEntropyBitCount(bits) => KeyError::BadWordCount {
            words: bits * 3 / 32,
        },
        _ => KeyError::BadChecksum,
    }
}

/// Public derivation of the account's scripts (no secrets).
#[derive(Clone, Debug)]
pub(crate) struct AccountKeys {
    xpub: Xpub,
    secp: Secp256k1<All>,
}

impl AccountKeys {
    pub(crate) fn new(xpub: Xpub) -> AccountKeys {
        AccountKeys {
            xpub,
            secp: Secp256k1::new(),
        }
    }

    /// A stable identifier of the account (hash160 of its public key), stored with the wallet's
    /// tables so a database is never opened with another seed's keys.
    pub(crate) fn account_id(&self) -> String {
        self.xpub.identifier().to_string()
    }

    pub(crate) fn public_key(&self, keychain: Keychain, index: u32) -> Option<CompressedPublicKey> {
        let path = [
            ChildNumber::from_normal_idx(keychain.index()).ok()?,
            ChildNumber::from_normal_idx(index).ok()?,
        ];
        self.xpub
            .derive_pub(&self.secp, &path)
            .ok()
            .map(|k| k.to_pub())
    }

    pub(crate) fn script(&self, keychain: Keychain, index: u32) -> Option<ScriptBuf> {
        self.public_key(keychain, index)
            .map(|pk| ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()))
    }

    pub(crate) fn address(
        &self,
        keychain: Keychain,
        index: u32,
        network: Network,
    ) -> Option<QtumAddress> {
        self.public_key(keychain, index)
            .map(|pk| QtumAddress::p2wpkh(&pk, network))
    }
}

/// The private key of `keychain/index` under `account`.
pub(crate) fn child_secret(
    secp: &Secp256k1<All>,
    account: &Xpriv,
    keychain: Keychain,
    index: u32,
) -> Option<SecretKey> {
    let path = [
        ChildNumber::from_normal_idx(keychain.index()).ok()?,
        ChildNumber::from_normal_idx(index).ok()?,
    ];
    account.derive_priv(secp, &path).ok().map(|k| k.private_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                           abandon abandon abandon about";

    #[test]
    fn bip39_reference_vector_with_passphrase() {
        // BIP39's first test vector (Trezor's list): entropy 00…00, passphrase "TREZOR".
        let m = bip39::Mnemonic::parse(ABANDON).expect("valid");
        assert_eq!(
            bitcoin::hex::DisplayHex::to_lower_hex_string(&m.to_seed("TREZOR")[..]),
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
        );
    }

    #[test]
    fn bip84_reference_vector_pipeline() {
        // BIP84's own vector (coin type 0) through the same derivation code, to prove the
        // pipeline before trusting the coin-type-88 values below.
        let seed = bip39::Mnemonic::parse(ABANDON).expect("valid").to_seed("");
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(NetworkKind::Main, &seed).expect("master");
        let path = DerivationPath::from_str("m/84'/0'/0'").expect("path");
        let account = Xpub::from_priv(&secp, &master.derive_priv(&secp, &path).expect("derive"));
        assert_eq!(
            account.to_string(),
            "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
        );
        let keys = AccountKeys::new(account);
        let spk = keys.script(Keychain::External, 0).expect("script");
        assert_eq!(
            bitcoin::hex::DisplayHex::to_lower_hex_string(spk.as_bytes()),
            "0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2" // bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu
        );
        let change = keys.script(Keychain::Internal, 0).expect("script");
        assert_eq!(
            bitcoin::hex::DisplayHex::to_lower_hex_string(change.as_bytes()),
            "00143e34985dca6fddc9fb369940e4c7d8e2873f529c" // bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el
        );
    }

    #[test]
    fn qtum_coin_type_88_vectors() {
        // Values computed independently (scripts/bip84_qtum_vectors.py) for the "abandon … about" mnemonic with no passphrase.
        let seed = WalletSeed::from_mnemonic(ABANDON, None).expect("valid");
        assert_eq!(seed.master_fingerprint().to_string(), "73c5da0a");
        let keys = AccountKeys::new(seed.account_xpub());
        assert_eq!(seed.account_xpub().to_string(), QTUM_ACCOUNT_XPUB);
        let addr = |k, i, n| keys.address(k, i, n).expect("derive").to_string();
        assert_eq!(
            addr(Keychain::External, 0, Network::Mainnet),
            QTUM_RECV0_MAINNET
        );
        assert_eq!(
            addr(Keychain::External, 0, Network::Regtest),
            QTUM_RECV0_REGTEST
        );
        assert_eq!(
            addr(Keychain::External, 1, Network::Testnet),
            QTUM_RECV1_TESTNET
        );
        assert_eq!(
            addr(Keychain::Internal, 0, Network::Regtest),
            QTUM_CHANGE0_REGTEST
        );
        assert_eq!(
            bitcoin::hex::DisplayHex::to_lower_hex_string(&seed.ldk_seed()[..]),
            LDK_SEED
        );
    }

    // From scripts/bip84_qtum_vectors.py (pure-Python BIP39/BIP32, independent of this crate).
    const QTUM_ACCOUNT_XPUB: &str = "xpub6DFD2cFS14j7ZjzdUeBkUBDvUDZzeeV8339LdpghWdog1dkLrqhWrafvsUA17TwBcLDZTEFMRyR7eJ3RQKn3efr4ophdjZjYrbJ3Dc4t1eV";
    const QTUM_RECV0_MAINNET: &str = "qc1qakdff2tuy9tsu6u6qxgkhncgx0uq765ql5qtjn";
    const QTUM_RECV0_REGTEST: &str = "qcrt1qakdff2tuy9tsu6u6qxgkhncgx0uq765q482327";
    const QTUM_RECV1_TESTNET: &str = "tq1qds9trk9tfnv9clr825py2v9my7ahg9amzt3z89";
    const QTUM_CHANGE0_REGTEST: &str = "qcrt1qq2lyhvfgn2qmajajc28cn6gqgxgu6mewqq8hfe";
    const LDK_SEED: &str = "c96114ce94bbf16740006888a2e6bf500dfb42eefe6d1a6de83a513addfb75be";

    #[test]
    fn qtumd_account_xpub_fixture_derives_qtumd_address() {
        // fixtures/qtum-regtest/wallet/getaddressinfo.bech32.json: qtumd's own wallet at
        // m/84h/88h/0h (its seed is random, so only the public half can be checked).
        let info: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/qtum-regtest/wallet/getaddressinfo.bech32.json"
        ))
        .expect("fixture");
        let parent = info["parent_desc"].as_str().expect("parent_desc");
        assert!(parent.starts_with("wpkh([041481c4/84h/88h/0h]"), "{parent}");
        let tpub = parent
            .split(']')
            .nth(1)
            .and_then(|s| s.split('/').next())
            .expect("tpub in descriptor");
        let keys = AccountKeys::new(Xpub::from_str(tpub).expect("tpub"));
        let pk = keys.public_key(Keychain::External, 0).expect("derive");
        assert_eq!(pk.to_string(), info["pubkey"].as_str().expect("pubkey"));
        assert_eq!(
            keys.address(Keychain::External, 0, Network::Regtest)
                .expect("derive")
                .to_string(),
            info["address"].as_str().expect("address")
        );
        assert_eq!(
            bitcoin::hex::DisplayHex::to_lower_hex_string(
                keys.script(Keychain::External, 0)
                    .expect("derive")
                    .as_bytes()
            ),
            info["scriptPubKey"].as_str().expect("spk")
        );
        assert_eq!(info["hdkeypath"], "m/84h/88h/0h/0/0");
    }

    #[test]
    fn invalid_mnemonics_are_typed() {
        assert_eq!(
            WalletSeed::from_mnemonic("abandon abandon abandon", None).map(|_| ()),
            Err(KeyError::BadWordCount { words: 3 })
        );
        let bad_word = ABANDON.replacen("about", "qtumx", 1);
        assert_eq!(
            WalletSeed::from_mnemonic(&bad_word, None).map(|_| ()),
            Err(KeyError::UnknownWord { position: 12 })
        );
        let bad_sum = ABANDON.replacen("about", "abandon", 1);
        assert_eq!(
            WalletSeed::from_mnemonic(&bad_sum, None).map(|_| ()),
            Err(KeyError::BadChecksum)
        );
        assert_eq!(
            WalletSeed::from_seed_bytes(&[1u8; 15]).map(|_| ()),
            Err(KeyError::BadSeedLength { len: 15 })
        );
        assert_eq!(
            WalletSeed::from_seed_bytes(&[1u8; 65]).map(|_| ()),
            Err(KeyError::BadSeedLength { len: 65 })
        );
        // Case and extra whitespace are forgiven.
        let sloppy = format!("  {}  ", ABANDON.to_uppercase().replace(' ', "   "));
        assert!(WalletSeed::from_mnemonic(&sloppy, None).is_ok());
    }

    #[test]
    fn generate_passphrase_and_determinism() {
        for (wc, n) in [(WordCount::Words12, 12), (WordCount::Words24, 24)] {
            let s = WalletSeed::generate(wc, None).expect("entropy");
            let phrase = s.mnemonic_phrase().expect("mnemonic");
            assert_eq!(phrase.split(' ').count(), n);
            let again = WalletSeed::from_mnemonic(&phrase, None).expect("valid");
            assert_eq!(again.ldk_seed(), s.ldk_seed());
            assert_eq!(again.account_xpub(), s.account_xpub());
        }
        let a = WalletSeed::from_mnemonic(ABANDON, None).expect("valid");
        let b = WalletSeed::from_mnemonic(ABANDON, Some("TREZOR")).expect("valid");
        assert_ne!(a.ldk_seed(), b.ldk_seed());
        assert_ne!(a.account_xpub(), b.account_xpub());
        // The LDK seed is not an on-chain key.
        let account_key = a.account_xpriv().private_key.secret_bytes();
        assert_ne!(a.ldk_seed(), account_key);
        let raw = WalletSeed::from_seed_bytes(&[7u8; 32]).expect("seed");
        assert!(raw.mnemonic_phrase().is_none());
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let s = WalletSeed::from_mnemonic(ABANDON, None).expect("valid");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("abandon"), "{dbg}");
        assert!(!dbg.contains("xprv"), "{dbg}");
        let ldk_hex = bitcoin::hex::DisplayHex::to_lower_hex_string(&s.ldk_seed()[..]);
        assert!(!dbg.contains(&ldk_hex), "{dbg}");
        assert!(dbg.contains("redacted"), "{dbg}");
    }
}
