//! Content digests (`sha256:<64 hex>`), validated once where they enter berth — a registry's
//! answer, an archive's manifest, a record on disk — so that everything past that point can use
//! one as a path component or a comparison key without checking it again.
//!
//! A `Digest` is kept as its canonical text and serialises as that plain string, so every JSON
//! file that held a digest string (images.json, layer.json, manifests) keeps its exact bytes.
//! It dereferences to that text (`&Digest` → `&str`): code that only reads a digest as a
//! string keeps working while the rest of the code base moves from `String` digests over.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// The digest algorithms of the OCI image spec that berth accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the encoded (lower-case hex) value.
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// Why a text is not a digest. The offending text is in the message (it has no source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {0:?}")]
pub struct BadDigest(pub String);

/// `algorithm:hex`, validated: a known algorithm and exactly its length of lower-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The canonical text, `sha256:<hex>`.
    text: String,
    algorithm: Algorithm,
}

impl Digest {
    pub fn parse(text: &str) -> Result<Digest, BadDigest> {
        let bad = || BadDigest(text.to_owned());
        let (name, hex) = text.split_once(':').ok_or_else(bad)?;
        let algorithm = Algorithm::from_name(name).ok_or_else(bad)?;
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        Ok(Digest { text: text.to_owned(), algorithm })
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest::from_sha256_hasher(sha2::Sha256::new_with_prefix(bytes))
    }

    /// The digest a finished SHA-256 hasher holds.
    pub fn from_sha256_hasher(hasher: sha2::Sha256) -> Digest {
        Digest { text: format!("sha256:{}", hex::encode(hasher.finalize())), algorithm: Algorithm::Sha256 }
    }

    /// A SHA-256 digest from its hex value alone (a blob's file name, an archive member name).
    pub fn sha256_hex(hex: &str) -> Result<Digest, BadDigest> {
        Digest::parse(&format!("sha256:{hex}"))
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded value without the algorithm: what names a blob file.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.name().len() + 1..]
    }

    /// The first 12 hex digits, as Docker shows ids.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl Deref for Digest {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl FromStr for Digest {
    type Err = BadDigest;

    fn from_str(text: &str) -> Result<Digest, BadDigest> {
        Digest::parse(text)
    }
}

impl TryFrom<String> for Digest {
    type Error = BadDigest;

    fn try_from(text: String) -> Result<Digest, BadDigest> {
        Digest::parse(&text)
    }
}

impl TryFrom<&str> for Digest {
    type Error = BadDigest;

    fn try_from(text: &str) -> Result<Digest, BadDigest> {
        Digest::parse(text)
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> String {
        digest.text
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        &self.text == other
    }
}

impl PartialEq<Digest> for String {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.text
    }
}

impl PartialEq<Digest> for str {
    fn eq(&self, other: &Digest) -> bool {
        self == other.text
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What store methods take as a digest: a [`Digest`], already valid, or a digest string, checked
/// on use. The string forms are for the modules still moving from `String` digests
/// (`image/layer`, `image/archive`, `image/ingest`, `container/commit`); once they pass
/// `Digest`s this can become `&Digest`.
pub trait DigestArg {
    fn to_digest(&self) -> Result<std::borrow::Cow<'_, Digest>, BadDigest>;
}

impl DigestArg for Digest {
    fn to_digest(&self) -> Result<std::borrow::Cow<'_, Digest>, BadDigest> {
        Ok(std::borrow::Cow::Borrowed(self))
    }
}

impl DigestArg for str {
    fn to_digest(&self) -> Result<std::borrow::Cow<'_, Digest>, BadDigest> {
        Digest::parse(self).map(std::borrow::Cow::Owned)
    }
}

impl DigestArg for String {
    fn to_digest(&self) -> Result<std::borrow::Cow<'_, Digest>, BadDigest> {
        self.as_str().to_digest()
    }
}

impl<T: DigestArg + ?Sized> DigestArg for &T {
    fn to_digest(&self) -> Result<std::borrow::Cow<'_, Digest>, BadDigest> {
        (**self).to_digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_shows_the_canonical_text() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex(), HEX);
        assert_eq!(d.short(), &HEX[..12]);
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        assert_eq!(d, Digest::sha256_of(b""));
        assert_eq!(Digest::sha256_hex(HEX).unwrap(), d);
        let long = format!("sha512:{}", "0".repeat(128));
        assert_eq!(Digest::parse(&long).unwrap().algorithm(), Algorithm::Sha512);
        assert_eq!(Digest::parse(&long).unwrap().hex().len(), 128);
    }

    #[test]
    fn refuses_anything_that_is_not_a_digest() {
        for bad in [
            "",
            HEX,
            "sha256:",
            &format!("sha256:{}", &HEX[1..]),
            &format!("sha256:{HEX}0"),
            &format!("sha256:{}", HEX.to_uppercase()),
            &format!("sha256:../{}", &HEX[3..]),
            &format!("md5:{HEX}"),
            &format!("sha512:{HEX}"),
            &format!(" sha256:{HEX}"),
        ] {
            assert_eq!(Digest::parse(bad), Err(BadDigest(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn serialises_as_the_plain_string() {
        let d = Digest::sha256_of(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        let err = serde_json::from_str::<Digest>("\"sha256:nothex\"").unwrap_err();
        assert!(err.to_string().contains("invalid digest \"sha256:nothex\""), "{err}");
    }

    #[test]
    fn compares_with_strings_and_derefs_to_its_text() {
        let d = Digest::sha256_of(b"x");
        let text = d.to_string();
        assert_eq!(d, text);
        assert_eq!(text, d);
        assert_eq!(d, *text.as_str());
        let takes_str = |s: &str| s.len();
        assert_eq!(takes_str(&d), 71);
        assert_eq!(&d[..7], "sha256:");
        assert_eq!(text.as_str().to_digest().unwrap().as_ref(), &d);
        assert!("nope".to_digest().is_err());
    }
}
