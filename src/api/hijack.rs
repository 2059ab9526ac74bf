//! The client side of attach and exec start: a hijacked connection (101 UPGRADED, then raw
//! bytes both ways: the client's input in, framed output out), or for a client that asked for
//! no upgrade, the output as a streamed body and no input.

use std::sync::Arc;

use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::http::{ApiResponse, channel, empty};
use super::service::{Activity, State};
use super::stream::{self, Kind};

/// A chunk of output for the client; the stream ends when every sender is gone.
pub type Output = (Kind, Vec<u8>);
/// The client's input: a chunk, or None once it half-closed (its stdin's end).
pub type Input = mpsc::UnboundedSender<Option<Vec<u8>>>;

/// Serves `request`'s client: `output` framed (raw for a TTY), and with `input` its bytes
/// passed on. `keep` says which kinds of output the client asked for.
pub fn serve<B: Send + 'static>(
    state: &Arc<State>,
    mut request: Request<B>,
    tty: bool,
    mut output: mpsc::Receiver<Output>,
    input: Option<Input>,
    keep: impl Fn(Kind) -> bool + Send + 'static,
) -> ApiResponse {
    let content_type = if tty { stream::RAW } else { stream::MULTIPLEXED };
    let busy = Activity::busy(state);
    if request.headers().get(hyper::header::UPGRADE).is_none() {
        let (tx, body) = channel();
        tokio::spawn(async move {
            let _busy = busy;
            while let Some((kind, bytes)) = output.recv().await {
                if keep(kind) && tx.send(stream::frame(kind, &bytes, tty)).await.is_err() {
                    return;
                }
            }
        });
        return super::http::streaming(content_type, body);
    }
    tokio::spawn(async move {
        let _busy = busy;
        let Ok(upgraded) = hyper::upgrade::on(&mut request).await else { return };
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        let relay_input = async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        // The client half-closed (stdin's end); output keeps flowing.
                        if let Some(input) = &input {
                            let _ = input.send(None);
                        }
                        std::future::pending::<()>().await;
                    }
                    Ok(n) => {
                        if let Some(input) = &input {
                            let _ = input.send(Some(buf[..n].to_vec()));
                        }
                    }
                }
            }
        };
        let relay_output = async move {
            while let Some((kind, bytes)) = output.recv().await {
                if keep(kind) && writer.write_all(&stream::frame(kind, &bytes, tty)).await.is_err() {
                    return;
                }
                let _ = writer.flush().await;
            }
            let _ = writer.shutdown().await;
        };
        tokio::select! {
            _ = relay_input => {}
            _ = relay_output => {}
        }
    });
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert("Content-Type", HeaderValue::from_static(content_type));
    headers.insert("Connection", HeaderValue::from_static("Upgrade"));
    headers.insert("Upgrade", HeaderValue::from_static("tcp"));
    response
}
