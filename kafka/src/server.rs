//! The listener: binds, accepts within the connection limit, and shuts down.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use strom::Broker;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::{watch, Semaphore};

use crate::config::ServerConfig;
use crate::connection;

/// How long `shutdown` waits for requests being answered (a `create_topic`'s fsyncs).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What every connection shares: the log, the settings, the advertised address.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) broker: Broker,
    pub(crate) config: ServerConfig,
    pub(crate) host: String,
    pub(crate) port: i32,
    /// The join details of remote group members.
    pub(crate) groups: crate::handler::groups::Sessions,
    /// The transactional producer of each transactional id.
    pub(crate) transactions: crate::handler::transactions::Transactions,
    /// True once the server stops: a request waiting (a SyncGroup) stops waiting.
    pub(crate) stopped: watch::Receiver<bool>,
}

/// A Kafka-protocol server over a strom [`Broker`], on a tokio runtime of its own.
///
/// The application keeps the broker: [`shutdown`](Self::shutdown) stops the server but does
/// not close the log, which the application closes when it is done with it. Dropping the
/// server shuts it down too, best effort.
///
/// ```
/// use strom::Broker;
/// use strom_kafka::{KafkaServer, ServerConfig};
///
/// let dir = tempfile::tempdir()?;
/// let broker = Broker::open(dir.path())?;
/// let config = ServerConfig::default().partitions(3);
/// let server = KafkaServer::bind_with(broker.clone(), "127.0.0.1:0", config)?;
/// assert_ne!(server.local_addr().port(), 0);
/// server.shutdown()?;
/// broker.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct KafkaServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    runtime: Option<Runtime>,
}

impl KafkaServer {
    /// Binds `addr` with the default [`ServerConfig`] and starts serving on background
    /// threads. Port 0 picks a free port: see [`local_addr`](Self::local_addr).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let broker = strom::Broker::open(dir.path())?;
    /// let server = strom_kafka::KafkaServer::bind(broker.clone(), "127.0.0.1:0")?;
    /// server.shutdown()?;
    /// broker.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The address cannot be resolved or bound, or the runtime's threads cannot start.
    pub fn bind(broker: Broker, addr: impl ToSocketAddrs) -> io::Result<Self> {
        Self::bind_with(broker, addr, ServerConfig::default())
    }

    /// Binds `addr` with `config` and starts serving on background threads.
    ///
    /// ```
    /// use strom_kafka::{KafkaServer, ServerConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let broker = strom::Broker::open(dir.path())?;
    /// let config = ServerConfig::default().auto_create_topics(false);
    /// let server = KafkaServer::bind_with(broker.clone(), "127.0.0.1:0", config)?;
    /// server.shutdown()?;
    /// broker.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The address cannot be resolved or bound, the runtime's threads cannot start, or
    /// `config` makes no sense (0 partitions or more than `max_partitions_per_topic`, 0
    /// connections, 0 request bytes).
    pub fn bind_with(
        broker: Broker,
        addr: impl ToSocketAddrs,
        config: ServerConfig,
    ) -> io::Result<Self> {
        if config.partitions == 0 || config.max_connections == 0 || config.max_request_bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "server config: partitions, max_connections and max_request_bytes must be at least 1",
            ));
        }
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let local_addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("strom-kafka")
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let (host, port) = config.advertised_host_port(local_addr);
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            broker,
            config,
            host,
            port,
            groups: crate::handler::groups::Sessions::default(),
            transactions: crate::handler::transactions::Transactions::default(),
            stopped: stopped.clone(),
        });
        runtime.spawn(accept(listener, shared, stopped));
        tracing::info!(%local_addr, "kafka protocol server listening");
        Ok(Self {
            local_addr,
            stop,
            runtime: Some(runtime),
        })
    }

    /// The address the server is bound to (with the port chosen, when bound to port 0).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let broker = strom::Broker::open(dir.path())?;
    /// let server = strom_kafka::KafkaServer::bind(broker.clone(), "127.0.0.1:0")?;
    /// assert!(server.local_addr().ip().is_loopback());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection, and joins the server's threads (waiting up
    /// to 10 s for requests being answered). The broker stays open: the application owns it.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let broker = strom::Broker::open(dir.path())?;
    /// let server = strom_kafka::KafkaServer::bind(broker.clone(), "127.0.0.1:0")?;
    /// let addr = server.local_addr();
    /// server.shutdown()?;
    /// assert!(std::net::TcpStream::connect(addr).is_err());
    /// broker.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// None today; the result leaves room for a server that cannot stop cleanly.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_runtime();
        Ok(())
    }

    fn stop_runtime(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Called from async code, where blocking on the runtime's threads would
                // panic: let them finish on their own.
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            }
            tracing::info!(local_addr = %self.local_addr, "kafka protocol server stopped");
        }
    }
}

impl Drop for KafkaServer {
    fn drop(&mut self) {
        self.stop_runtime();
    }
}

/// Accepts until told to stop; a connection over `max_connections` is closed at once.
async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: the listener itself is fine.
                tracing::warn!(error = %e, "kafka protocol server: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(
                %peer,
                max_connections = shared.config.max_connections,
                "kafka protocol server: connection refused, at max_connections"
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let stopped = stopped.clone();
        tokio::spawn(async move {
            connection::serve(stream, peer, shared, stopped).await;
            drop(slot);
        });
    }
}
