//! What every signed object shares: its signature, the bytes the signature covers (the kind's
//! domain string, then the encoding without the signature: docs/PROTOCOL.md section 3) and its
//! canonical encoding (the encoding without the signature, then the signature). One macro writes
//! these accessors for each object, from its kind and its unsigned encoding, so that the six
//! objects cannot frame their bytes differently.

/// `signed_accessors!(Kind::X, |this| unsigned_encoding(&this.fields))` inside an object's
/// `impl` adds `signature`, `signed_bytes` and `encode`; with `hash` first
/// (`signed_accessors!(hash, Kind::X, |this| ...)`) also `hash` = SHA-256 of the signed bytes.
/// The object needs a `signature: Signature` field.
macro_rules! signed_accessors {
    (hash, $kind:expr, |$this:ident| $unsigned:expr) => {
        signed_accessors!($kind, |$this| $unsigned);

        /// The object's hash: SHA-256 of [`Self::signed_bytes`], so it does not depend on the
        /// signature.
        pub fn hash(&self) -> $crate::ids::Hash256 {
            $crate::crypto::sha256(&self.signed_bytes())
        }
    };
    ($kind:expr, |$this:ident| $unsigned:expr) => {
        pub fn signature(&self) -> &ed25519_dalek::Signature {
            &self.signature
        }

        /// Exactly the bytes the signature covers: the kind's domain string, then the encoding
        /// without its signature.
        pub fn signed_bytes(&self) -> Vec<u8> {
            let $this = self;
            $crate::wire::signed_bytes($kind, &$unsigned)
        }

        /// The canonical encoding: the encoding without its signature, then the signature.
        pub fn encode(&self) -> Vec<u8> {
            let $this = self;
            let mut out = $unsigned;
            out.extend_from_slice(&self.signature.to_bytes());
            out
        }
    };
}
