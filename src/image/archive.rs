//! Image archives (being written).
