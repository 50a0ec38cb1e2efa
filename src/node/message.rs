//! Signed messages: proof that a text comes from this node's key, in the format lnd and
//! Core Lightning use (`signmessage`/`verifymessage`: a recoverable signature over the double
//! SHA-256 of `"Lightning Signed Message:"` and the message, zbase32-encoded), so a signature
//! made here verifies there and back.

use lightning::sign::NodeSigner;
use lightning::util::message_signing;

use crate::error::NodeError;
use crate::node::Node;
use crate::types::PublicKey;

impl Node {
    /// Sign `message` with the node's key. Works whether or not the node is running.
    ///
    /// Messages of the backup server's protocol (they begin `qtum-ln backup `) are refused:
    /// whoever could get such a message signed could overwrite or read this node's backups.
    pub fn sign_message(&self, message: &[u8]) -> Result<String, NodeError> {
        if message.starts_with(super::remote_backup::PROTOCOL_PREFIX.as_bytes()) {
            return Err(NodeError::InvalidInput(
                "messages of the backup server's protocol are signed by the node only".into(),
            ));
        }
        self.inner
            .keys
            .sign_message(message)
            .map_err(|()| NodeError::Wallet("the node key could not sign".to_string()))
    }

    /// Whether `signature` is `node_id`'s signature of `message`. A signature that is not
    /// well-formed is `false`; a node id that is not valid is an error.
    pub fn verify_message(
        &self,
        message: &[u8],
        signature: &str,
        node_id: &PublicKey,
    ) -> Result<bool, NodeError> {
        Ok(message_signing::verify(message, signature.trim(), node_id))
    }
}
