//! The HTTP server inside the bench process, for the modes that time it
//! (`server`, `console`, `simulate`, `tenants`): `permset_server::serve_with`
//! on 127.0.0.1 at a free port, spawned on the mode's server runtime, so the
//! load generator and the server share the machine as they would on one host.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use permset_server::ServeOptions;
use permset_store::Store;

/// Starts the server on `runtime` and returns its address once it listens
/// (an error if it does not within `wait`; a serve error is printed).
pub(crate) fn serve_in(
    runtime: &tokio::runtime::Runtime,
    store: Store,
    options: ServeOptions,
    wait: Duration,
) -> Result<SocketAddr> {
    let (ready_tx, ready_rx) = mpsc::channel::<SocketAddr>();
    runtime.spawn(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        if let Err(error) = permset_server::serve_with(store, addr, options, move |a| {
            let _ = ready_tx.send(a);
        })
        .await
        {
            eprintln!("error: serve: {error}");
        }
    });
    ready_rx.recv_timeout(wait).context("the server did not start")
}
