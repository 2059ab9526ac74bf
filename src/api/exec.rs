//! Exec: `POST /containers/{id}/exec` records what to run, `POST /exec/{id}/start` runs it
//! (hijacked: multiplexed frames, or raw for a TTY), `/exec/{id}/resize` and `/exec/{id}/json`.
//! Joining a container's namespaces needs a single-threaded process, which the service is not,
//! so the command runs in a child: berth's own `exec` verb (the code `berth exec` runs), its
//! stdio on pipes, or on a pty for a TTY, relayed to the client. Exec instances live as long as
//! the service does, as dockerd's live as long as the daemon.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::hijack::Output;
use super::http::{ApiResponse, Query, blocking, json as json_reply, ok_json, read_json, status};
use super::service::State;
use super::stream::Kind;
use crate::container::record::Status;
use crate::store::Store;

/// What a client asked to run (the ExecConfig of the create body).
#[derive(Debug, Clone, PartialEq)]
struct Config {
    cmd: Vec<String>,
    env: Vec<String>,
    user: String,
    workdir: String,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    /// Rows and columns of the pty, from ConsoleSize.
    console: Option<(u16, u16)>,
}

#[derive(Default)]
struct Run {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: u32,
    /// The pty's master of a TTY exec, for resize.
    pty: Option<Arc<OwnedFd>>,
}

struct Exec {
    container_id: String,
    config: Config,
    run: Mutex<Run>,
}

impl Exec {
    fn run(&self) -> MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The exec instances this service made.
#[derive(Default)]
pub struct Execs {
    all: Mutex<HashMap<String, Arc<Exec>>>,
}

impl Execs {
    fn insert(&self, id: String, exec: Exec) {
        let mut all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        // Finished ones go first once there are many, so the table cannot grow unbounded.
        if all.len() > 1000 {
            all.retain(|_, e| !e.run().started || e.run().running);
        }
        all.insert(id, Arc::new(exec));
    }

    fn get(&self, id: &str) -> Result<Arc<Exec>, ApiError> {
        let all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        all.get(id).cloned().ok_or_else(|| ApiError::NotFound(format!("No such exec instance: {id}")))
    }
}

pub async fn route(
    state: Arc<State>,
    request: Request<Incoming>,
    method: &Method,
    path: &[&str],
    query: Query,
) -> Result<ApiResponse, ApiError> {
    match (method, path) {
        (&Method::POST, [id, "start"]) => start(state, request, id).await,
        (&Method::POST, [id, "resize"]) => resize(&state, id, &query),
        (&Method::GET, [id, "json"]) => inspect(&state, id),
        _ => Err(ApiError::NoRoute),
    }
}

fn field<'a>(body: &'a Value, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

fn flag(body: &Value, key: &str) -> Result<bool, ApiError> {
    match field(body, key) {
        None => Ok(false),
        Some(v) => v.as_bool().ok_or_else(|| ApiError::bad(format!("{key} must be a boolean"))),
    }
}

fn text(body: &Value, key: &str) -> Result<String, ApiError> {
    match field(body, key) {
        None => Ok(String::new()),
        Some(v) => v.as_str().map(str::to_owned).ok_or_else(|| ApiError::bad(format!("{key} must be a string"))),
    }
}

fn strings(body: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad(format!("{key} must be a list of strings"));
    match field(body, key) {
        None => Ok(Vec::new()),
        Some(v) => {
            v.as_array().ok_or_else(bad)?.iter().map(|s| s.as_str().map(str::to_owned).ok_or_else(bad)).collect()
        }
    }
}

fn parse_config(body: &Value) -> Result<Config, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad("the exec configuration must be a JSON object"));
    }
    if flag(body, "Privileged")? {
        return Err(ApiError::Failed {
            status: StatusCode::NOT_IMPLEMENTED,
            message: "privileged exec is not supported by berth".into(),
        });
    }
    let cmd = strings(body, "Cmd")?;
    if cmd.is_empty() {
        return Err(ApiError::bad("No exec command specified"));
    }
    let console = match field(body, "ConsoleSize") {
        None => None,
        Some(v) => {
            let size: Vec<u16> =
                serde_json::from_value(v.clone()).map_err(|_| ApiError::bad("ConsoleSize must be [height, width]"))?;
            match size.as_slice() {
                [rows, cols] if *rows > 0 && *cols > 0 => Some((*rows, *cols)),
                [_, _] => None,
                _ => return Err(ApiError::bad("ConsoleSize must be [height, width]")),
            }
        }
    };
    Ok(Config {
        cmd,
        env: strings(body, "Env")?,
        user: text(body, "User")?,
        workdir: text(body, "WorkingDir")?,
        tty: flag(body, "Tty")?,
        stdin: flag(body, "AttachStdin")?,
        stdout: flag(body, "AttachStdout")?,
        stderr: flag(body, "AttachStderr")?,
        console,
    })
}

/// `POST /containers/{id}/exec`: 201 with the new instance's Id; 409 unless the container runs.
pub async fn create(state: Arc<State>, request: Request<Incoming>, container: &str) -> Result<ApiResponse, ApiError> {
    let config = parse_config(&read_json(request.into_body()).await?)?;
    let lookup = state.clone();
    let input = container.to_owned();
    let c = blocking(move || super::containers::load_current(&lookup, &input)).await?;
    match c.state.status {
        Status::Running => {}
        Status::Paused => {
            return Err(ApiError::Conflict(format!(
                "container {} is paused, unpause the container before exec",
                c.name
            )));
        }
        _ => return Err(ApiError::Conflict(format!("container {} is not running", c.name))),
    }
    let id: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    state.execs.insert(id.clone(), Exec { container_id: c.id, config, run: Mutex::new(Run::default()) });
    Ok(json_reply(StatusCode::CREATED, &json!({ "Id": id })))
}

/// `berth --root R --runroot RR exec [-i] [-t] ... -- ID CMD...`: the CLI's exec path.
fn exec_command(store: &Store, exec: &Exec) -> Command {
    let config = &exec.config;
    let mut command = Command::new("/proc/self/exe");
    command.arg0("berth");
    command.arg("--root").arg(store.root()).arg("--runroot").arg(store.runroot()).arg("exec");
    if config.stdin {
        command.arg("--interactive");
    }
    if config.tty {
        command.arg("--tty");
    }
    // An entry without `=` would make berth copy the service's own variable: Docker's CLI
    // resolves those on the client's side, so none is passed here.
    for env in config.env.iter().filter(|e| e.contains('=')) {
        command.arg(format!("--env={env}"));
    }
    if !config.user.is_empty() {
        command.arg(format!("--user={}", config.user));
    }
    if !config.workdir.is_empty() {
        command.arg(format!("--workdir={}", config.workdir));
    }
    command.arg("--").arg(&exec.container_id).args(&config.cmd);
    for inherited in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"] {
        command.env_remove(inherited);
    }
    command
}

fn exit_code(child: &mut Child) -> i32 {
    match child.wait() {
        Ok(status) => status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        Err(_) => 125,
    }
}

/// Reads `source` to its end, passing chunks on while the client listens (and draining them
/// after, so the command never blocks on a full pipe).
fn pump(
    mut source: impl Read + Send + 'static,
    kind: Kind,
    output: mpsc::Sender<Output>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 32 * 1024];
        let mut listening = true;
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if listening {
                        listening = output.blocking_send((kind, buf[..n].to_vec())).is_ok();
                    }
                }
            }
        }
    })
}

/// Writes the client's input to `sink` until it half-closes (then `sink` is closed, the
/// command's end of input) or goes away.
fn feed(mut sink: impl Write + Send + 'static, mut input: mpsc::UnboundedReceiver<Option<Vec<u8>>>) {
    std::thread::spawn(move || {
        while let Some(Some(bytes)) = input.blocking_recv() {
            if sink.write_all(&bytes).and_then(|()| sink.flush()).is_err() {
                return;
            }
        }
    });
}

/// Starts the command; returns its output (ending once it has exited and its code is
/// recorded) and where the client's input goes.
fn launch(
    store: &Store,
    exec: &Arc<Exec>,
    detach: bool,
) -> Result<(mpsc::Receiver<Output>, super::hijack::Input), ApiError> {
    let failed = |what: &str, e: std::io::Error| ApiError::Failed {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("{what}: {e}"),
    };
    let mut command = exec_command(store, exec);
    let (out_tx, out_rx) = mpsc::channel::<Output>(64);
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let mut pumps = Vec::new();
    let tty = exec.config.tty && !detach;
    let mut child = if tty {
        let size = exec.config.console.map(|(rows, cols)| nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let pty = nix::pty::openpty(size.as_ref(), None).map_err(|e| failed("opening a pty", e.into()))?;
        for fd in [&pty.master, &pty.slave] {
            let _ = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
        }
        let stdio = || pty.slave.try_clone().map(Stdio::from).map_err(|e| failed("duplicating the pty", e));
        command.stdin(stdio()?).stdout(stdio()?).stderr(stdio()?);
        crate::sandbox::fds::controlling_terminal_on_stdin(&mut command);
        let child = command.spawn().map_err(|e| failed("starting berth exec", e))?;
        // Only the command may hold the pty's slave, so the master reads EOF when it is done.
        drop(command);
        drop(pty.slave);
        let master = Arc::new(pty.master);
        let reader = File::from(master.try_clone().map_err(|e| failed("duplicating the pty", e))?);
        let writer = File::from(master.try_clone().map_err(|e| failed("duplicating the pty", e))?);
        pumps.push(pump(reader, Kind::Stdout, out_tx.clone()));
        if exec.config.stdin {
            feed(writer, in_rx);
        }
        exec.run().pty = Some(master);
        child
    } else {
        let attached = !detach;
        let pipe_if = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
        command.stdin(pipe_if(attached && exec.config.stdin)).stdout(pipe_if(attached)).stderr(pipe_if(attached));
        let mut child = command.spawn().map_err(|e| failed("starting berth exec", e))?;
        if let Some(stdout) = child.stdout.take() {
            pumps.push(pump(stdout, Kind::Stdout, out_tx.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            pumps.push(pump(stderr, Kind::Stderr, out_tx.clone()));
        }
        if let Some(stdin) = child.stdin.take() {
            feed(stdin, in_rx);
        }
        child
    };
    exec.run().pid = child.id();
    let waited = exec.clone();
    std::thread::spawn(move || {
        for pump in pumps {
            let _ = pump.join();
        }
        let code = exit_code(&mut child);
        let mut run = waited.run();
        run.exit_code = Some(code);
        run.running = false;
        run.pty = None;
        drop(run);
        // The client's stream ends only now, so an inspect after it sees the exit code.
        drop(out_tx);
    });
    Ok((out_rx, in_tx))
}

/// `POST /exec/{id}/start` with `{"Detach","Tty"}`: 200 at once when detached, else the hijacked
/// stream; 409 if it was started before.
async fn start(state: Arc<State>, request: Request<Incoming>, id: &str) -> Result<ApiResponse, ApiError> {
    let exec = state.execs.get(id)?;
    let (parts, body) = request.into_parts();
    let body = read_json(body).await?;
    let detach = if body.is_null() { false } else { flag(&body, "Detach")? };
    {
        let mut run = exec.run();
        if run.started {
            return Err(ApiError::Conflict(format!("exec {id} has already been started")));
        }
        run.started = true;
        run.running = true;
    }
    let launched = launch(&state.store, &exec, detach);
    let (output, input) = match launched {
        Ok(pair) => pair,
        Err(e) => {
            let mut run = exec.run();
            run.running = false;
            run.exit_code = Some(125);
            return Err(e);
        }
    };
    if detach {
        return Ok(status(StatusCode::OK));
    }
    let config = exec.config.clone();
    let keep = move |kind: Kind| match kind {
        Kind::Stdout => config.stdout || config.tty,
        Kind::Stderr => config.stderr,
        Kind::System => true,
    };
    let request = Request::from_parts(parts, ());
    Ok(super::hijack::serve(&state, request, exec.config.tty, output, exec.config.stdin.then_some(input), keep))
}

/// `POST /exec/{id}/resize?h=&w=`: sizes a TTY exec's pty.
fn resize(state: &State, id: &str, query: &Query) -> Result<ApiResponse, ApiError> {
    let exec = state.execs.get(id)?;
    let rows: u16 = query.number("h")?.unwrap_or(0);
    let cols: u16 = query.number("w")?.unwrap_or(0);
    let run = exec.run();
    if !run.running {
        return Err(ApiError::Conflict(format!("exec {id} is not running")));
    }
    if let Some(pty) = &run.pty
        && rows > 0
        && cols > 0
    {
        crate::sandbox::fds::set_window_size(pty.as_fd(), rows, cols);
    }
    Ok(status(StatusCode::OK))
}

/// `GET /exec/{id}/json`: dockerd's ExecInspect shape.
fn inspect(state: &State, id: &str) -> Result<ApiResponse, ApiError> {
    let exec = state.execs.get(id)?;
    let run = exec.run();
    let config = &exec.config;
    Ok(ok_json(&json!({
        "ID": id,
        "Running": run.running,
        "ExitCode": run.exit_code,
        "ProcessConfig": {
            "tty": config.tty,
            "entrypoint": config.cmd[0],
            "arguments": config.cmd[1..],
            "privileged": false,
            "user": config.user,
        },
        "OpenStdin": config.stdin,
        "OpenStdout": config.stdout,
        "OpenStderr": config.stderr,
        "CanRemove": false,
        "ContainerID": exec.container_id,
        "DetachKeys": "",
        "Pid": run.pid,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_configs_are_read_and_checked() {
        let body = json!({"Cmd": ["sh", "-c", "echo hi"], "Tty": true, "AttachStdout": true, "Env": ["A=1"],
                          "ConsoleSize": [24, 80], "User": "1000", "WorkingDir": null});
        let config = parse_config(&body).unwrap();
        assert_eq!(config.cmd, ["sh", "-c", "echo hi"]);
        assert_eq!((config.tty, config.stdout, config.stdin, config.console), (true, true, false, Some((24, 80))));
        assert_eq!((config.user.as_str(), config.workdir.as_str()), ("1000", ""));
        assert_eq!(parse_config(&json!({"Cmd": []})).unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(parse_config(&json!({"Cmd": "ls"})).unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(parse_config(&json!({"Cmd": ["ls"], "Tty": "yes"})).unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(parse_config(&json!([1])).unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            parse_config(&json!({"Cmd": ["ls"], "Privileged": true})).unwrap_err().status(),
            StatusCode::NOT_IMPLEMENTED
        );
    }
}
