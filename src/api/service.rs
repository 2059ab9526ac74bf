//! The service loop: a current-thread runtime, the accept loop on the listener, one hyper
//! HTTP/1 connection task per client (upgrades allowed, for attach), and the idle exit.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::listener::{self, Address, ListenError, Listener};
use crate::config::Settings;
use crate::store::Store;

pub struct ServeOptions {
    /// None: the activation socket, else the default unix socket.
    pub address: Option<Address>,
    /// Exit after this long without a connection; None never.
    pub idle: Option<Duration>,
    pub insecure_tcp: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error("starting the runtime")]
    Runtime(#[source] std::io::Error),
    #[error("accepting connections")]
    Accept(#[source] std::io::Error),
}

/// What every request handler can reach.
pub struct State {
    pub store: Store,
    pub settings: Settings,
    pub hub: super::attach::Hub,
    pub execs: super::exec::Execs,
    pub activity: Activity,
}

/// How many connections and streams are open, and since when none is.
#[derive(Default)]
pub struct Activity {
    open: AtomicUsize,
    last_close: Mutex<Option<Instant>>,
}

/// Counts as activity while it lives.
pub struct Busy(Arc<State>);

impl Activity {
    pub fn busy(state: &Arc<State>) -> Busy {
        state.activity.open.fetch_add(1, Ordering::SeqCst);
        Busy(state.clone())
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.open.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = *self.last_close.lock().unwrap_or_else(|e| e.into_inner());
        Some(last.map_or(Duration::MAX, |t| t.elapsed()))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.activity.last_close.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.0.activity.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Listens and serves until idle for `options.idle`. The socket is made before the runtime
/// starts, so a bad address changes nothing.
pub fn serve(store: Store, settings: Settings, options: ServeOptions) -> Result<(), ServeError> {
    let listener = match (&options.address, listener::activation_socket()?) {
        (None, Some(activated)) => activated,
        (Some(address), _) => listener::bind(address, options.insecure_tcp)?,
        (None, None) => listener::bind(&Address::Unix(settings.runroot.join("docker.sock")), false)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServeError::Runtime)?;
    let state = Arc::new(State {
        store,
        settings,
        hub: Default::default(),
        execs: Default::default(),
        activity: Activity::default(),
    });
    *state.activity.last_close.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    eprintln!("berth: serving the Docker API on {}", listener.describe());
    runtime.block_on(accept_loop(state, listener, options.idle))
}

async fn accept_loop(state: Arc<State>, listener: Listener, idle: Option<Duration>) -> Result<(), ServeError> {
    enum Accepting {
        Unix(tokio::net::UnixListener),
        Tcp(tokio::net::TcpListener),
    }
    let accepting = match listener {
        Listener::Unix(l) => {
            l.set_nonblocking(true).map_err(ServeError::Accept)?;
            Accepting::Unix(tokio::net::UnixListener::from_std(l).map_err(ServeError::Accept)?)
        }
        Listener::Tcp(l) => {
            l.set_nonblocking(true).map_err(ServeError::Accept)?;
            Accepting::Tcp(tokio::net::TcpListener::from_std(l).map_err(ServeError::Accept)?)
        }
    };
    let tick = Duration::from_millis(50);
    loop {
        if let (Some(limit), Some(idle_for)) = (idle, state.activity.idle_for())
            && idle_for >= limit
        {
            return Ok(());
        }
        let accepted = tokio::time::timeout(tick, async {
            match &accepting {
                Accepting::Unix(l) => l.accept().await.map(|(s, _)| Connection::Unix(s)),
                Accepting::Tcp(l) => l.accept().await.map(|(s, _)| Connection::Tcp(s)),
            }
        })
        .await;
        match accepted {
            Err(_) => continue,
            // Out of descriptors and the like: keep serving the clients there are.
            Ok(Err(_)) => {
                tokio::time::sleep(tick).await;
                continue;
            }
            Ok(Ok(connection)) => {
                let busy = Activity::busy(&state);
                tokio::spawn(handle(state.clone(), connection, busy));
            }
        }
    }
}

enum Connection {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn handle(state: Arc<State>, connection: Connection, busy: Busy) {
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(super::router::route(state, request).await) }
    });
    let builder = http1::Builder::new();
    // A failed connection (the client went away mid-request) ends only itself.
    let _ = match connection {
        Connection::Unix(s) => builder.serve_connection(TokioIo::new(s), service).with_upgrades().await,
        Connection::Tcp(s) => builder.serve_connection(TokioIo::new(s), service).with_upgrades().await,
    };
    drop(busy);
}
