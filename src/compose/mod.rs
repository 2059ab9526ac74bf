//! `berth compose`: the compose-spec file model (discovery, merge, interpolation, profiles,
//! extends, include) and the project operations that `up`, `down` and the other verbs run
//! through the container, image, volume and network libraries.

pub mod build;
pub mod convert;
pub mod dotenv;
pub mod error;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
pub mod netmap;
pub mod output;
pub mod readiness;
pub mod scalars;
pub mod yaml;

pub use load::{LoadOptions, load};
pub use model::Project;
pub mod engine;
