//! The embedded DNS responder of containers on user-defined networks: message handling
//! (`message`), the names a container may resolve (`names`), and the responder itself
//! (`server`, `tcp`), which runs in the container's supervisor.

pub mod message;
pub mod names;
pub mod server;
mod tcp;

#[cfg(test)]
mod tests;
