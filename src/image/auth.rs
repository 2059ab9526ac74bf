//! Registry credentials (being written).

pub fn credentials_for(
    _registry: &str,
    _authfile: Option<&std::path::Path>,
) -> Result<Option<(String, String)>, std::io::Error> {
    Ok(None)
}
