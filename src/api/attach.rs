//! Attach, and the part of start that makes attach-before-start work (`docker run` is create →
//! attach → wait → start). An attach to a container that has not started registers in the
//! [`Hub`]; the API's start takes the registered clients and relays the starting connection's
//! messages to them, so they get the container's output from its first byte (the supervisor
//! sends it to the client that started it). An attach to a running container connects to its
//! supervisor's attach socket, as `berth attach` does. The client's stream is hijacked (101
//! UPGRADED, then raw bytes both ways), or without an Upgrade header a plain streamed body.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use hyper::Request;
use hyper::body::Incoming;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::http::{ApiResponse, Query};
use super::service::State;
use super::stream::Kind;
use crate::container::protocol::{Message, recv_message, send_message};
use crate::container::record::{Container, Status};
use crate::container::start::{Launch, launch};

use super::hijack::Output;

/// One attached client: where its output goes, and its input (None once it closed stdin).
struct Client {
    output: mpsc::Sender<Output>,
    stdin: Option<mpsc::UnboundedReceiver<Option<Vec<u8>>>>,
}

/// Clients attached to containers that have not started yet, and the exit codes the relays saw
/// (a `--rm` container's record is gone by the time a `wait` asks).
#[derive(Default)]
pub struct Hub {
    waiting: Mutex<HashMap<String, Vec<Client>>>,
    exits: Mutex<HashMap<String, i32>>,
    /// Containers whose starting connection a relay holds: their exit code will be in `exits`.
    relaying: Mutex<std::collections::HashSet<String>>,
}

impl Hub {
    fn add(&self, id: &str, client: Client) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let clients = waiting.entry(id.to_owned()).or_default();
        // Clients that went away meanwhile are dropped here, so the map cannot grow unbounded.
        clients.retain(|c| !c.output.is_closed());
        clients.push(client);
    }

    fn take(&self, id: &str) -> Vec<Client> {
        let mut clients = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(id).unwrap_or_default();
        clients.retain(|c| !c.output.is_closed());
        clients
    }

    pub fn exit_code(&self, id: &str) -> Option<i32> {
        self.exits.lock().unwrap_or_else(|e| e.into_inner()).get(id).copied()
    }

    /// Whether a relay holds the starting connection of container `id` (so its exit code,
    /// which the supervisor tells that connection, is coming).
    pub fn relaying(&self, id: &str) -> bool {
        self.relaying.lock().unwrap_or_else(|e| e.into_inner()).contains(id)
    }

    fn set_relaying(&self, id: &str, on: bool) {
        let mut relaying = self.relaying.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            relaying.insert(id.to_owned());
        } else {
            relaying.remove(id);
        }
    }

    fn record_exit(&self, id: &str, code: i32) {
        let mut exits = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        if exits.len() > 10_000 {
            exits.clear();
        }
        exits.insert(id.to_owned(), code);
    }
}

/// Starts `container` (created or exited) and relays its output to the clients that attached
/// before. False when it was running already (Docker's 304).
pub fn start(state: &Arc<State>, container: &Container) -> Result<bool, ApiError> {
    let clients = state.hub.take(&container.id);
    // Before the launch, so a `wait` that sees the container ended knows a code is coming.
    if !clients.is_empty() {
        state.hub.set_relaying(&container.id, true);
    }
    match launch(&state.store, container) {
        Ok(Launch::Started(started)) => {
            if !clients.is_empty() {
                relay(state.clone(), container.id.clone(), started.connection, clients);
            }
            // With no client the connection is dropped, as `run -d` does: the supervisor goes on.
            Ok(true)
        }
        Ok(Launch::AlreadyRunning) => {
            state.hub.set_relaying(&container.id, false);
            Ok(false)
        }
        Err(e) => {
            state.hub.set_relaying(&container.id, false);
            Err(e.into())
        }
    }
}

/// A thread that passes the supervisor's messages to `clients` and their input back, until
/// the container exits (or the supervisor goes).
fn relay(state: Arc<State>, id: String, connection: OwnedFd, clients: Vec<Client>) {
    let mut outputs = Vec::new();
    for client in clients {
        if let Some(mut stdin) = client.stdin
            && let Ok(writer) = connection.try_clone()
        {
            std::thread::spawn(move || {
                while let Some(Some(bytes)) = stdin.blocking_recv() {
                    if send_message(writer.as_fd(), &Message::Stdin(bytes)).is_err() {
                        return;
                    }
                }
                let _ = send_message(writer.as_fd(), &Message::StdinClose);
            });
        }
        outputs.push(client.output);
    }
    std::thread::spawn(move || {
        loop {
            let (kind, bytes) = match recv_message(connection.as_fd()) {
                Ok(Some(Message::Stdout(b))) => (Kind::Stdout, b),
                Ok(Some(Message::Stderr(b))) => (Kind::Stderr, b),
                Ok(Some(Message::Exit(code))) => {
                    state.hub.record_exit(&id, code);
                    state.hub.set_relaying(&id, false);
                    return;
                }
                Ok(Some(_)) | Err(nix::Error::EINTR) => continue,
                Ok(None) | Err(_) => {
                    state.hub.set_relaying(&id, false);
                    return;
                }
            };
            // A client that went away is dropped; the others keep getting output.
            outputs.retain(|out| out.blocking_send((kind, bytes.clone())).is_ok());
        }
    });
}

/// `POST /containers/{id}/attach?stream=1&stdin=&stdout=&stderr=`.
pub async fn attach(
    state: Arc<State>,
    request: Request<Incoming>,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let lookup = state.clone();
    let input = id.to_owned();
    let container = super::http::blocking(move || {
        let c = crate::container::index::load(&lookup.store, &input)?;
        Ok(crate::container::start::settled(&lookup.store, &c)?)
    })
    .await?;
    let tty = container.config.tty;
    let wants = |key: &str| query.flag(key);
    let (want_out, want_err, want_in) = (wants("stdout"), wants("stderr"), wants("stdin"));
    let (out_tx, out_rx) = mpsc::channel::<Output>(64);
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let client = Client { output: out_tx, stdin: want_in.then_some(in_rx) };
    match container.state.status {
        Status::Created | Status::Exited => {
            if query.flag("stream") {
                state.hub.add(&container.id, client);
            }
        }
        Status::Running | Status::Paused | Status::Starting => {
            let store = state.store.clone();
            let relay_state = state.clone();
            let c = container.clone();
            super::http::blocking(move || {
                let started = crate::container::start::connect_running(&store, &c)?;
                relay(relay_state, c.id.clone(), started.connection, vec![client]);
                Ok(())
            })
            .await?;
        }
    }
    let keep = move |kind: Kind| match kind {
        Kind::Stdout => want_out,
        Kind::Stderr => want_err,
        Kind::System => true,
    };
    Ok(super::hijack::serve(&state, request, tty, out_rx, want_in.then_some(in_tx), keep))
}
