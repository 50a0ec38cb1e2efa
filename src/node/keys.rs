//! The node's signer provider: LDK's `KeysManager` for every channel key, but with the on-chain
//! wallet's own addresses as the destination of closes and claims.
//!
//! Unwrapped, `KeysManager` pays cooperative closes and on-chain HTLC claims to a key of its own
//! that the wallet never sees; the user would find their channel's money "gone" after a close.
//! With this wrapper the closing output and claim outputs land on fresh wallet addresses, and
//! the wallet picks them up on its next sync.

use std::sync::Arc;

use bitcoin::ScriptBuf;
use lightning::ln::script::ShutdownScript;
use lightning::sign::{InMemorySigner, KeysManager, SignerProvider};

/// Hands out fresh wallet scripts (P2WPKH of the node's wallet).
pub type ScriptSource = Arc<dyn Fn() -> Result<ScriptBuf, ()> + Send + Sync>;

/// `KeysManager` with wallet destinations.
pub struct WalletSignerProvider {
    keys: Arc<KeysManager>,
    scripts: ScriptSource,
}

impl WalletSignerProvider {
    /// Wrap `keys`, sending closes and claims to scripts from `scripts`.
    pub fn new(keys: Arc<KeysManager>, scripts: ScriptSource) -> WalletSignerProvider {
        WalletSignerProvider { keys, scripts }
    }
}

impl SignerProvider for WalletSignerProvider {
    type EcdsaSigner = InMemorySigner;

    fn generate_channel_keys_id(&self, inbound: bool, user_channel_id: u128) -> [u8; 32] {
        self.keys.generate_channel_keys_id(inbound, user_channel_id)
    }

    fn derive_channel_signer(&self, channel_keys_id: [u8; 32]) -> InMemorySigner {
        self.keys.derive_channel_signer(channel_keys_id)
    }

    fn get_destination_script(&self, _channel_keys_id: [u8; 32]) -> Result<ScriptBuf, ()> {
        (self.scripts)()
    }

    fn get_shutdown_scriptpubkey(&self) -> Result<ShutdownScript, ()> {
        let script = (self.scripts)()?;
        let program = script.witness_version().zip(script.as_bytes().get(2..));
        match program {
            Some((version, program)) => ShutdownScript::new_witness_program(
                &bitcoin::WitnessProgram::new(version, program).map_err(|_| ())?,
            )
            .map_err(|_| ()),
            None => Err(()),
        }
    }
}
