//! The background thread + tokio runtime that every server runs on.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A server loop running on its own thread with its own current-thread tokio
/// runtime. Dropping it stops the accept loop, drops the runtime (which drops
/// every connection task and so closes every socket) and joins the thread.
pub(crate) struct Background {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Binds `127.0.0.1:0` and runs `serve(listener)` on a new thread.
    pub(crate) fn start<F, Fut>(name: &str, serve: F) -> Background
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .expect("binding a test server to 127.0.0.1:0 failed");
        let addr = listener.local_addr().expect("local_addr of a bound listener");
        listener
            .set_nonblocking(true)
            .expect("set_nonblocking on the test server listener");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building the test server's tokio runtime");
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("registering the test server listener with tokio");
                    tokio::select! {
                        _ = stop => {}
                        () = serve(listener) => {}
                    }
                });
                // Dropping the runtime drops every spawned connection task,
                // which closes all sockets that are still open.
                drop(runtime);
            })
            .expect("spawning the test server thread");
        Background {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The receiver may already be gone if the loop ended; that's fine.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The next connection on `listener`. A failed `accept` (e.g. out of file
/// descriptors) is retried after a short sleep, so an accept loop does not spin.
pub(crate) async fn accept(listener: &tokio::net::TcpListener) -> tokio::net::TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => return stream,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}
