//! A TCP proxy in front of Postgres that counts round trips as the wire protocol defines
//! them: the client waits for the server once per simple `Query` ('Q') and once per
//! extended-protocol `Sync` ('S'; Parse/Bind/Describe/Execute before it travel in the
//! same flight). It also keeps the SQL of each round trip while recording is on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
pub struct RoundTrips {
    count: AtomicU64,
    recording: AtomicBool,
    /// (round trip number, the SQL sent in it) while recording.
    log: Mutex<Vec<(u64, String)>>,
}

impl RoundTrips {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    pub fn record(&self, on: bool) {
        if on {
            self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        self.recording.store(on, Ordering::SeqCst);
    }

    pub fn recorded(&self) -> Vec<(u64, String)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn round_trip(&self, sql: Vec<String>) {
        let number = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if self.recording.load(Ordering::SeqCst) {
            let text = if sql.is_empty() { "(sync only)".to_owned() } else { sql.join(" ; ") };
            self.log.lock().unwrap_or_else(|e| e.into_inner()).push((number, text));
        }
    }
}

/// Listens on 127.0.0.1:0 and forwards every connection to `upstream`.
pub async fn start(upstream: SocketAddr) -> anyhow::Result<(SocketAddr, Arc<RoundTrips>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let counter: Arc<RoundTrips> = Arc::default();
    let shared = counter.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counter = shared.clone();
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(upstream).await {
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let _ = relay(client, server, counter).await;
                }
            });
        }
    });
    Ok((address, counter))
}

async fn relay(client: TcpStream, server: TcpStream, counter: Arc<RoundTrips>) -> std::io::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let downstream = tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });

    let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut started = false;
    let mut flight: Vec<String> = Vec::new();
    loop {
        let n = client_read.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
        // Forward whole messages only, after looking at them.
        let mut consumed = 0;
        loop {
            let rest = &buffer[consumed..];
            if !started {
                // Untyped: SSLRequest / GSSENCRequest / StartupMessage, each `len code …`.
                if rest.len() < 8 {
                    break;
                }
                let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                if rest.len() < len {
                    break;
                }
                let code = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
                if code == 196_608 {
                    started = true;
                }
                consumed += len;
                continue;
            }
            if rest.len() < 5 {
                break;
            }
            let kind = rest[0];
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            if rest.len() < 1 + len {
                break;
            }
            let body = &rest[5..1 + len];
            match kind {
                b'Q' => {
                    let sql = cstring(body).0;
                    let mut sqls = std::mem::take(&mut flight);
                    sqls.push(sql);
                    counter.round_trip(sqls);
                }
                b'P' => {
                    let (_name, after) = cstring(body);
                    flight.push(cstring(&body[after..]).0);
                }
                b'S' => counter.round_trip(std::mem::take(&mut flight)),
                _ => {}
            }
            consumed += 1 + len;
        }
        server_write.write_all(&buffer[..consumed]).await?;
        buffer.drain(..consumed);
    }
    let _ = server_write.shutdown().await;
    let _ = downstream.await;
    Ok(())
}

/// A NUL-terminated string at the start of `bytes`, and the offset after its NUL.
fn cstring(bytes: &[u8]) -> (String, usize) {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]);
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (squeezed, (end + 1).min(bytes.len()))
}
