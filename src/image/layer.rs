//! TEMPORARY interface shim; replaced by the real unpacker.
use std::io::Read;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unknown compression")]
    UnknownCompression,
}
pub struct UnpackOptions {
    pub overlay_xattr_prefix: &'static str,
    pub in_user_namespace: bool,
}
pub struct UnpackStats {
    pub uncompressed_size: u64,
    pub warnings: Vec<String>,
}
pub fn decompress(reader: impl Read + Send + 'static) -> Result<Box<dyn Read + Send>, LayerError> {
    Ok(Box::new(flate2::read::GzDecoder::new(reader)))
}
pub struct DigestingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    count: u64,
}
impl<R: Read> DigestingReader<R> {
    pub fn new(inner: R) -> Self {
        DigestingReader { inner, hasher: Default::default(), count: 0 }
    }
    pub fn finish(self) -> (String, u64) {
        use sha2::Digest;
        (format!("sha256:{}", hex::encode(self.hasher.finalize())), self.count)
    }
}
impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
pub fn unpack_layer(tar: impl Read, dest: &Path, _opts: &UnpackOptions) -> Result<UnpackStats, LayerError> {
    tar::Archive::new(tar).unpack(dest)?;
    Ok(UnpackStats { uncompressed_size: 0, warnings: vec![] })
}
