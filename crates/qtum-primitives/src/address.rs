//! Qtum addresses.
//!
//! The encodings are Bitcoin's with Qtum's parameters: base58check with version bytes 58/50
//! (mainnet) and 120/110 (testnet *and* regtest), bech32 (v0) / bech32m (v1+) with HRPs `qc`,
//! `tq`, `qcrt`. Codecs are `bitcoin::base58` and `bitcoin::bech32`; only the parameters and
//! the network bookkeeping live here.
//!
//! Testnet and regtest share base58 version bytes, so `q…`/`m…` strings are valid on both.
//! [`QtumAddress::networks`] says so honestly; [`QtumAddress::network`] is the network the
//! address was parsed or built for (Testnet when [`QtumAddress::parse_any`] cannot tell).

use std::fmt;
use std::str::FromStr;

use bitcoin::base58;
use bitcoin::bech32::primitives::decode::{SegwitHrpstringError, UncheckedHrpstring};
use bitcoin::bech32::{segwit, Hrp};
use bitcoin::hashes::Hash;
use bitcoin::key::{TweakedPublicKey, UntweakedPublicKey};
use bitcoin::secp256k1::{Secp256k1, Verification};
use bitcoin::{
    CompressedPublicKey, PubkeyHash, Script, ScriptBuf, ScriptHash, TapNodeHash, WitnessProgram,
    WitnessVersion,
};

use crate::network::Network;

/// Largest script a P2SH output can commit to (`MAX_SCRIPT_ELEMENT_SIZE`: it is pushed whole).
const MAX_REDEEM_SCRIPT_SIZE: usize = 520;

/// The kind of output an address pays to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddressType {
    /// Pay to public key hash (base58, `Q…`/`q…`).
    P2pkh,
    /// Pay to script hash (base58, `M…`/`m…`).
    P2sh,
    /// SegWit v0 key hash (20-byte program).
    P2wpkh,
    /// SegWit v0 script hash (32-byte program).
    P2wsh,
    /// Taproot (SegWit v1, 32-byte program).
    P2tr,
    /// Any other SegWit program (future versions, or v1 with a non-32-byte program). Valid to
    /// pay to, but not standard for Qtum Core's relay policy today.
    OtherWitness {
        /// The witness version, 1 to 16.
        version: u8,
    },
}

impl fmt::Display for AddressType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressType::P2pkh => f.write_str("p2pkh"),
            AddressType::P2sh => f.write_str("p2sh"),
            AddressType::P2wpkh => f.write_str("p2wpkh"),
            AddressType::P2wsh => f.write_str("p2wsh"),
            AddressType::P2tr => f.write_str("p2tr"),
            AddressType::OtherWitness { version } => write!(f, "witness v{version}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Payload {
    PubkeyHash(PubkeyHash),
    ScriptHash(ScriptHash),
    Segwit(WitnessProgram),
}

/// A Qtum address, tied to a network.
///
/// `Display` gives the canonical string (lowercase for bech32). Two values compare equal only
/// if their network matches too, even where the string is the same (a `q…` address tagged
/// testnet vs. regtest); use [`QtumAddress::script_pubkey`] to compare destinations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QtumAddress {
    network: Network,
    payload: Payload,
}

impl QtumAddress {
    /// Parses `s` and checks that it is valid on `network`.
    ///
    /// A base58 `q…`/`m…` address is accepted for both testnet and regtest and is returned
    /// tagged with `network`.
    pub fn from_str_for(s: &str, network: Network) -> Result<QtumAddress, AddressError> {
        let addr = Self::parse_any(s)?;
        if addr.is_valid_for(network) {
            Ok(QtumAddress { network, ..addr })
        } else {
            Err(AddressError::WrongNetwork {
                expected: network,
                found: addr.network,
            })
        }
    }

    /// Parses an address of any Qtum network, detecting the network from the prefix or HRP.
    ///
    /// Base58 addresses with testnet/regtest version bytes come back tagged
    /// [`Network::Testnet`]; check [`QtumAddress::networks`] or use
    /// [`QtumAddress::from_str_for`] when the network matters.
    pub fn parse_any(s: &str) -> Result<QtumAddress, AddressError> {
        let bech32_err = match segwit::decode(s) {
            Ok((hrp, version, program)) => return Self::from_segwit_parts(hrp, version, &program),
            Err(e) => e,
        };
        let base58_err = match base58::decode_check(s) {
            Ok(payload) => return Self::from_base58_payload(&payload),
            Err(e) => e,
        };
        // Neither decoded: report the failure of the encoding the string was meant to be in.
        let meant_bech32 = UncheckedHrpstring::new(s)
            .ok()
            .and_then(|unchecked| network_for_hrp(unchecked.hrp()))
            .is_some();
        Err(if meant_bech32 {
            bech32_error(bech32_err.0)
        } else {
            base58_error(base58_err)
        })
    }

    fn from_segwit_parts(
        hrp: Hrp,
        version: bitcoin::bech32::Fe32,
        program: &[u8],
    ) -> Result<QtumAddress, AddressError> {
        let network = network_for_hrp(hrp).ok_or(AddressError::UnknownFormat)?;
        let version =
            WitnessVersion::try_from(version).map_err(|_| AddressError::InvalidWitnessProgram)?;
        let program = WitnessProgram::new(version, program)
            .map_err(|_| AddressError::InvalidWitnessProgram)?;
        Ok(QtumAddress {
            network,
            payload: Payload::Segwit(program),
        })
    }

    fn from_base58_payload(payload: &[u8]) -> Result<QtumAddress, AddressError> {
        let [version, hash @ ..] = payload else {
            return Err(AddressError::UnknownFormat);
        };
        let hash: [u8; 20] = hash.try_into().map_err(|_| AddressError::UnknownFormat)?;
        // Testnet and regtest share version bytes; Testnet stands for both (see `networks`).
        let (network, payload) = match *version {
            v if v == Network::Mainnet.p2pkh_prefix() => (
                Network::Mainnet,
                Payload::PubkeyHash(PubkeyHash::from_byte_array(hash)),
            ),
            v if v == Network::Mainnet.p2sh_prefix() => (
                Network::Mainnet,
                Payload::ScriptHash(ScriptHash::from_byte_array(hash)),
            ),
            v if v == Network::Testnet.p2pkh_prefix() => (
                Network::Testnet,
                Payload::PubkeyHash(PubkeyHash::from_byte_array(hash)),
            ),
            v if v == Network::Testnet.p2sh_prefix() => (
                Network::Testnet,
                Payload::ScriptHash(ScriptHash::from_byte_array(hash)),
            ),
            _ => return Err(AddressError::UnknownFormat),
        };
        Ok(QtumAddress { network, payload })
    }

    /// The address paying to `script_pubkey` on `network`.
    ///
    /// P2PK, bare multisig, OP_RETURN, Qtum contract outputs and other non-template scripts have
    /// no address: [`AddressError::UnsupportedScript`].
    pub fn from_script(
        script_pubkey: &Script,
        network: Network,
    ) -> Result<QtumAddress, AddressError> {
        let bytes = script_pubkey.as_bytes();
        let payload = if script_pubkey.is_p2pkh() {
            Payload::PubkeyHash(
                PubkeyHash::from_slice(&bytes[3..23])
                    .map_err(|_| AddressError::UnsupportedScript)?,
            )
        } else if script_pubkey.is_p2sh() {
            Payload::ScriptHash(
                ScriptHash::from_slice(&bytes[2..22])
                    .map_err(|_| AddressError::UnsupportedScript)?,
            )
        } else if let Some((version, program)) = witness_program_parts(bytes) {
            let version = WitnessVersion::try_from(version)
                .map_err(|_| AddressError::InvalidWitnessProgram)?;
            Payload::Segwit(
                WitnessProgram::new(version, program)
                    .map_err(|_| AddressError::InvalidWitnessProgram)?,
            )
        } else {
            return Err(AddressError::UnsupportedScript);
        };
        Ok(QtumAddress { network, payload })
    }

    /// P2PKH address of a public key hash.
    pub fn p2pkh(pubkey_hash: impl Into<PubkeyHash>, network: Network) -> QtumAddress {
        QtumAddress {
            network,
            payload: Payload::PubkeyHash(pubkey_hash.into()),
        }
    }

    /// P2SH address of a redeem script. Scripts over 520 bytes cannot be redeemed and are
    /// refused with [`AddressError::UnsupportedScript`].
    pub fn p2sh(redeem_script: &Script, network: Network) -> Result<QtumAddress, AddressError> {
        if redeem_script.len() > MAX_REDEEM_SCRIPT_SIZE {
            return Err(AddressError::UnsupportedScript);
        }
        Ok(QtumAddress {
            network,
            payload: Payload::ScriptHash(redeem_script.script_hash()),
        })
    }

    /// P2WPKH address of a compressed public key.
    pub fn p2wpkh(pubkey: &CompressedPublicKey, network: Network) -> QtumAddress {
        Self::from_witness_program(WitnessProgram::p2wpkh(pubkey), network)
    }

    /// P2WSH address of a witness script (e.g. a BOLT 3 funding script).
    pub fn p2wsh(witness_script: &Script, network: Network) -> QtumAddress {
        Self::from_witness_program(WitnessProgram::p2wsh(witness_script), network)
    }

    /// P2TR address of an internal key and optional script tree root (BIP341 tweak applied).
    pub fn p2tr<C: Verification>(
        secp: &Secp256k1<C>,
        internal_key: UntweakedPublicKey,
        merkle_root: Option<TapNodeHash>,
        network: Network,
    ) -> QtumAddress {
        Self::from_witness_program(
            WitnessProgram::p2tr(secp, internal_key, merkle_root),
            network,
        )
    }

    /// P2TR address of an already-tweaked output key.
    pub fn p2tr_tweaked(output_key: TweakedPublicKey, network: Network) -> QtumAddress {
        Self::from_witness_program(WitnessProgram::p2tr_tweaked(output_key), network)
    }

    /// Address of any witness program (validated by `WitnessProgram`'s constructor).
    pub fn from_witness_program(program: WitnessProgram, network: Network) -> QtumAddress {
        QtumAddress {
            network,
            payload: Payload::Segwit(program),
        }
    }

    /// The network the address was parsed or built for.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Every network on which the address string is valid: two for base58 testnet/regtest
    /// addresses, one otherwise.
    pub fn networks(&self) -> &'static [Network] {
        match (&self.payload, self.network) {
            (
                Payload::PubkeyHash(_) | Payload::ScriptHash(_),
                Network::Testnet | Network::Regtest,
            ) => &[Network::Testnet, Network::Regtest],
            (_, Network::Mainnet) => &[Network::Mainnet],
            (_, Network::Testnet) => &[Network::Testnet],
            (_, Network::Regtest) => &[Network::Regtest],
        }
    }

    /// Whether the address string is valid on `network`.
    pub fn is_valid_for(&self, network: Network) -> bool {
        self.networks().contains(&network)
    }

    /// The same address re-tagged for `network`, if its string is valid there.
    pub fn require_network(self, network: Network) -> Result<QtumAddress, AddressError> {
        if self.is_valid_for(network) {
            Ok(QtumAddress { network, ..self })
        } else {
            Err(AddressError::WrongNetwork {
                expected: network,
                found: self.network,
            })
        }
    }

    /// The kind of output the address pays to.
    pub fn address_type(&self) -> AddressType {
        match &self.payload {
            Payload::PubkeyHash(_) => AddressType::P2pkh,
            Payload::ScriptHash(_) => AddressType::P2sh,
            Payload::Segwit(p) if p.is_p2wpkh() => AddressType::P2wpkh,
            Payload::Segwit(p) if p.is_p2wsh() => AddressType::P2wsh,
            Payload::Segwit(p) if p.is_p2tr() => AddressType::P2tr,
            Payload::Segwit(p) => AddressType::OtherWitness {
                version: p.version().to_num(),
            },
        }
    }

    /// The witness program, for SegWit addresses.
    pub fn witness_program(&self) -> Option<WitnessProgram> {
        match &self.payload {
            Payload::Segwit(p) => Some(*p),
            _ => None,
        }
    }

    /// The output script this address pays to.
    pub fn script_pubkey(&self) -> ScriptBuf {
        match &self.payload {
            Payload::PubkeyHash(h) => ScriptBuf::new_p2pkh(h),
            Payload::ScriptHash(h) => ScriptBuf::new_p2sh(h),
            Payload::Segwit(p) => ScriptBuf::new_witness_program(p),
        }
    }

    /// Whether this address pays to `script_pubkey`.
    pub fn matches_script_pubkey(&self, script_pubkey: &Script) -> bool {
        self.script_pubkey().as_script() == script_pubkey
    }
}

impl fmt::Display for QtumAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.payload {
            Payload::PubkeyHash(h) => {
                write_base58(f, self.network.p2pkh_prefix(), h.as_byte_array())
            }
            Payload::ScriptHash(h) => {
                write_base58(f, self.network.p2sh_prefix(), h.as_byte_array())
            }
            Payload::Segwit(p) => {
                // The program was validated when the address was built, so the unchecked
                // encoder cannot produce an invalid string.
                segwit::encode_lower_to_fmt_unchecked(
                    f,
                    hrp_for(self.network),
                    p.version().to_fe(),
                    p.program().as_bytes(),
                )
            }
        }
    }
}

impl FromStr for QtumAddress {
    type Err = AddressError;

    /// Same as [`QtumAddress::parse_any`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_any(s)
    }
}

fn write_base58(f: &mut fmt::Formatter<'_>, version: u8, hash: &[u8; 20]) -> fmt::Result {
    let mut data = [0u8; 21];
    data[0] = version;
    data[1..].copy_from_slice(hash);
    base58::encode_check_to_fmt(f, &data)
}

fn hrp_for(network: Network) -> Hrp {
    match network {
        Network::Mainnet => Hrp::parse_unchecked("qc"),
        Network::Testnet => Hrp::parse_unchecked("tq"),
        Network::Regtest => Hrp::parse_unchecked("qcrt"),
    }
}

fn network_for_hrp(hrp: Hrp) -> Option<Network> {
    // `Hrp` equality is case-insensitive, as BIP173 requires.
    Network::ALL.into_iter().find(|n| hrp_for(*n) == hrp)
}

/// Splits a script into witness version and program with Bitcoin Core's `IsWitnessProgram`
/// rule: 4 to 42 bytes, a version opcode (OP_0, OP_1..OP_16), then one direct push of the rest.
pub(crate) fn witness_program_parts(script: &[u8]) -> Option<(bitcoin::bech32::Fe32, &[u8])> {
    if script.len() < 4 || script.len() > 42 || usize::from(script[1]) + 2 != script.len() {
        return None;
    }
    let version = match script[0] {
        0x00 => 0,
        op @ 0x51..=0x60 => op - 0x50,
        _ => return None,
    };
    let fe = bitcoin::bech32::Fe32::try_from(version).ok()?;
    Some((fe, &script[2..]))
}

fn bech32_error(e: SegwitHrpstringError) -> AddressError {
    match e {
        SegwitHrpstringError::Checksum(_) => AddressError::BadChecksum,
        SegwitHrpstringError::InvalidWitnessVersion(_)
        | SegwitHrpstringError::WitnessLength(_)
        | SegwitHrpstringError::Padding(_)
        | SegwitHrpstringError::NoData => AddressError::InvalidWitnessProgram,
        _ => AddressError::UnknownFormat,
    }
}

fn base58_error(e: base58::Error) -> AddressError {
    match e {
        base58::Error::IncorrectChecksum(_) => AddressError::BadChecksum,
        _ => AddressError::UnknownFormat,
    }
}

/// Why an address could not be parsed or built. Messages are meant for end users.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// A valid Qtum address, but for another network than the one in use.
    WrongNetwork {
        /// The network the caller asked for.
        expected: Network,
        /// The network the address belongs to.
        found: Network,
    },
    /// The checksum does not match: most likely a typo.
    BadChecksum,
    /// Not a Qtum address: unknown prefix, HRP or length (includes Bitcoin addresses).
    UnknownFormat,
    /// A SegWit address with an invalid witness version or program length.
    InvalidWitnessProgram,
    /// The output script has no address form (P2PK, multisig, OP_RETURN, contract, …).
    UnsupportedScript,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::WrongNetwork { expected, found } => write!(
                f,
                "this is a Qtum {found} address, but {expected} is in use"
            ),
            AddressError::BadChecksum => {
                f.write_str("the address checksum does not match; check it for typos")
            }
            AddressError::UnknownFormat => f.write_str("this is not a Qtum address"),
            AddressError::InvalidWitnessProgram => {
                f.write_str("the SegWit address has an invalid version or program length")
            }
            AddressError::UnsupportedScript => {
                f.write_str("this output script cannot be written as an address")
            }
        }
    }
}

impl std::error::Error for AddressError {}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hex::FromHex;

    fn script(hex: &str) -> ScriptBuf {
        ScriptBuf::from_bytes(Vec::from_hex(hex).expect("test hex"))
    }

    #[test]
    fn eclair_fallback_addresses() {
        let cases = [
            (
                "qN4qgXGVFwtWH9kgfwQCYzS4H9k1mGouDK",
                Network::Testnet,
                AddressType::P2pkh,
            ),
            (
                "QM2tzCG8hVgQ9CKZxZ8tPnhrqLxtSXou6y",
                Network::Mainnet,
                AddressType::P2pkh,
            ),
            (
                "MLy36ApB4YZb2cBtTc1uYJhYsP2JkYokaf",
                Network::Mainnet,
                AddressType::P2sh,
            ),
            (
                "qc1qw508d6qejxtdg4y5r3zarvary0c5xw7kq52at0",
                Network::Mainnet,
                AddressType::P2wpkh,
            ),
            (
                "qc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qtd3g7a",
                Network::Mainnet,
                AddressType::P2wsh,
            ),
        ];
        for (s, network, ty) in cases {
            let addr = QtumAddress::parse_any(s).expect(s);
            assert_eq!(addr.network(), network, "{s}");
            assert_eq!(addr.address_type(), ty, "{s}");
            assert_eq!(addr.to_string(), s);
            let again = QtumAddress::from_script(&addr.script_pubkey(), network).expect(s);
            assert_eq!(again, addr);
        }
        // BIP173's test program under Qtum's HRP: same script as Bitcoin's bc1qw508….
        assert_eq!(
            QtumAddress::parse_any("qc1qw508d6qejxtdg4y5r3zarvary0c5xw7kq52at0")
                .map(|a| a.script_pubkey()),
            Ok(script("0014751e76e8199196d454941c45d1b3a323f1433bd6"))
        );
    }

    #[test]
    fn base58_test_prefix_is_testnet_or_regtest() {
        let s = "qN4qgXGVFwtWH9kgfwQCYzS4H9k1mGouDK";
        let any = QtumAddress::parse_any(s).expect("valid");
        assert_eq!(any.networks(), &[Network::Testnet, Network::Regtest]);
        assert!(!any.is_valid_for(Network::Mainnet));
        let reg = QtumAddress::from_str_for(s, Network::Regtest).expect("valid on regtest");
        assert_eq!(reg.network(), Network::Regtest);
        assert_eq!(reg.to_string(), s);
        assert_eq!(
            QtumAddress::from_str_for(s, Network::Mainnet),
            Err(AddressError::WrongNetwork {
                expected: Network::Mainnet,
                found: Network::Testnet
            })
        );
        assert_eq!(any.clone().require_network(Network::Regtest), Ok(reg));
    }

    #[test]
    fn bech32_network_is_exact() {
        let s = "qcrt1q3r86ta5ax9vq0rdh2j0qj0dykee056upj799v2";
        let addr = QtumAddress::parse_any(s).expect("valid");
        assert_eq!(addr.networks(), &[Network::Regtest]);
        assert_eq!(
            QtumAddress::from_str_for(s, Network::Testnet),
            Err(AddressError::WrongNetwork {
                expected: Network::Testnet,
                found: Network::Regtest
            })
        );
        // Uppercase is valid bech32; Display is canonical lowercase.
        let upper = QtumAddress::parse_any(&s.to_uppercase()).expect("uppercase ok");
        assert_eq!(upper.to_string(), s);
    }

    #[test]
    fn typed_errors_for_bad_input() {
        // One character changed.
        assert_eq!(
            QtumAddress::parse_any("qN4qgXGVFwtWH9kgfwQCYzS4H9k1mGouDL"),
            Err(AddressError::BadChecksum)
        );
        assert_eq!(
            QtumAddress::parse_any("qc1qw508d6qejxtdg4y5r3zarvary0c5xw7kq52at2"),
            Err(AddressError::BadChecksum)
        );
        // Bitcoin addresses are not Qtum addresses.
        for s in [
            "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kdf3tm4",
            "",
            "qc1",
            "not an address",
            "qc1qw508d6qejxtdg4y5r3zarvary0c5xw7kq52AT0",
        ] {
            assert!(QtumAddress::parse_any(s).is_err(), "{s}");
        }
        assert_eq!(
            QtumAddress::parse_any("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
            Err(AddressError::UnknownFormat)
        );
        assert_eq!(
            QtumAddress::parse_any("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
            Err(AddressError::UnknownFormat)
        );
        // A v0 program of 21 bytes, correctly checksummed.
        let bad_len = segwit::encode(hrp_for(Network::Mainnet), segwit::VERSION_1, &[0u8; 1]);
        assert!(bad_len.is_err(), "encoder refuses a 1-byte program");
        // The unchecked encoder skips the length rule, so decoding is what must refuse it.
        let mut v0_len21 = String::new();
        segwit::encode_to_fmt_unchecked(
            &mut v0_len21,
            hrp_for(Network::Mainnet),
            segwit::VERSION_0,
            &[7u8; 21],
        )
        .expect("writing to a String");
        assert_eq!(
            QtumAddress::parse_any(&v0_len21),
            Err(AddressError::InvalidWitnessProgram)
        );
    }

    #[test]
    fn scripts_without_addresses() {
        for hex in [
            "6a0401020304",                                                           // OP_RETURN
            "2102bf6fee13a2e63cb95d9f6648a287a4c4caabeb929e034871896630b08f63f7edac", // P2PK
            "",                                                                       // empty
            "00",                                                                     // bare OP_0
        ] {
            assert_eq!(
                QtumAddress::from_script(&script(hex), Network::Regtest),
                Err(AddressError::UnsupportedScript),
                "{hex}"
            );
        }
        // A v0 program of 21 bytes is a witness program by shape but invalid.
        let mut v0_21 = vec![0x00, 21];
        v0_21.extend([1u8; 21]);
        assert_eq!(
            QtumAddress::from_script(&ScriptBuf::from_bytes(v0_21), Network::Regtest),
            Err(AddressError::InvalidWitnessProgram)
        );
    }

    #[test]
    fn other_witness_versions_round_trip() {
        let mut v2 = vec![0x52, 16];
        v2.extend([9u8; 16]);
        let addr = QtumAddress::from_script(&ScriptBuf::from_bytes(v2.clone()), Network::Testnet)
            .expect("v2");
        assert_eq!(
            addr.address_type(),
            AddressType::OtherWitness { version: 2 }
        );
        let s = addr.to_string();
        assert!(s.starts_with("tq1z"), "{s}");
        assert_eq!(QtumAddress::parse_any(&s), Ok(addr.clone()));
        assert_eq!(addr.script_pubkey().as_bytes(), &v2[..]);
    }

    #[test]
    fn constructors_match_scripts() {
        let pk: CompressedPublicKey =
            "02bf6fee13a2e63cb95d9f6648a287a4c4caabeb929e034871896630b08f63f7ed"
                .parse()
                .expect("key");
        let wpkh = QtumAddress::p2wpkh(&pk, Network::Regtest);
        assert_eq!(wpkh.address_type(), AddressType::P2wpkh);
        assert!(wpkh.to_string().starts_with("qcrt1q"));
        let pkh = QtumAddress::p2pkh(pk.pubkey_hash(), Network::Regtest);
        // Fixture wallet/getaddressinfo.legacy.json: this key's legacy address.
        assert_eq!(pkh.to_string(), "qUDzMxK1j1S5rNvd6sUUeyrBHQSdeSEAr9");
        let ms = script("522102fe76f0b20b881159a420d2979b4afc74c1dff96b376218ab63edbc1c176b1ff42103e7cd12e04bf8d98bf6030551d14897b8da12fc0c827b73146a78ee16418a7b6752ae");
        assert_eq!(
            QtumAddress::p2wsh(&ms, Network::Regtest).to_string(),
            "qcrt1qxevus237n0anjhhuyjwlgzc592w8er6mmxp4myt8c6a3e92z2eqs7uv8er"
        );
        assert_eq!(
            QtumAddress::p2sh(&ms, Network::Mainnet).map(|a| a.address_type()),
            Ok(AddressType::P2sh)
        );
        assert_eq!(
            QtumAddress::p2sh(&ScriptBuf::from_bytes(vec![0x51; 521]), Network::Mainnet),
            Err(AddressError::UnsupportedScript)
        );
        let secp = Secp256k1::verification_only();
        let tr = QtumAddress::p2tr(&secp, pk.0.x_only_public_key().0, None, Network::Mainnet);
        assert_eq!(tr.address_type(), AddressType::P2tr);
        assert!(tr.to_string().starts_with("qc1p"));
        let tweaked = TweakedPublicKey::dangerous_assume_tweaked(pk.0.x_only_public_key().0);
        assert_eq!(
            QtumAddress::p2tr_tweaked(tweaked, Network::Mainnet).address_type(),
            AddressType::P2tr
        );
    }

    #[test]
    fn error_messages_are_user_facing() {
        let e = AddressError::WrongNetwork {
            expected: Network::Mainnet,
            found: Network::Regtest,
        };
        assert_eq!(
            e.to_string(),
            "this is a Qtum regtest address, but mainnet is in use"
        );
        assert_eq!(
            AddressError::UnknownFormat.to_string(),
            "this is not a Qtum address"
        );
    }
}
