//! A byte relay: the least any proxy can add. Every accepted connection gets its own upstream
//! connection and bytes are copied both ways as they arrive, with no HTTP parsing at all.
//!
//! Run pinned to the gateway's CPU, it takes the same four hops as the gateway (client → relay →
//! mock → relay → client), so its added latency is this machine's floor for one extra hop pair:
//! what is left above it is the gateway's own work.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Accepts connections on `listener` and relays each to `upstream` until it closes.
pub async fn serve(listener: TcpListener, upstream: SocketAddr) -> std::io::Result<()> {
    loop {
        let (mut downstream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut up) = TcpStream::connect(upstream).await else { return };
            let _ = downstream.set_nodelay(true);
            let _ = up.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut downstream, &mut up).await;
        });
    }
}

/// Binds 127.0.0.1:`port` (0: any free port) and relays to `upstream` in a background task.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let echo_addr = echo.local_addr().unwrap();
/// tokio::spawn(async move {
///     let (mut s, _) = echo.accept().await.unwrap();
///     let (mut r, mut w) = s.split();
///     tokio::io::copy(&mut r, &mut w).await.unwrap();
/// });
/// let relay = llm_bench::relay::spawn(0, echo_addr).await.unwrap();
/// let mut client = tokio::net::TcpStream::connect(relay).await.unwrap();
/// client.write_all(b"ping").await.unwrap();
/// let mut answer = [0u8; 4];
/// client.read_exact(&mut answer).await.unwrap();
/// assert_eq!(&answer, b"ping");
/// # });
/// ```
pub async fn spawn(port: u16, upstream: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, upstream));
    Ok(addr)
}
