//! A TCP proxy between clients and a broker that a test can cut: every
//! connection through it is dropped at once, as when a network path fails,
//! and new ones go to wherever the broker now listens (a restarted broker
//! may get another port). The broker advertises the proxy's address, so
//! clients reach it only through the proxy.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct CuttableProxy {
    pub addr: SocketAddr,
    target: Arc<Mutex<String>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl CuttableProxy {
    /// Listens on 127.0.0.1 (a port of its own); forwards to `target`
    /// once one is set.
    pub async fn start() -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let target = Arc::new(Mutex::new(String::new()));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (target, connections) = (target.clone(), connections.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let to = target.lock().expect("proxy target").clone();
                    let relay = tokio::spawn(relay(client, to));
                    connections.lock().expect("proxy connections").push(relay);
                }
            }
        });
        CuttableProxy {
            addr,
            target,
            connections,
            accept,
        }
    }

    /// New connections go to `target` (host:port).
    pub fn forward_to(&self, target: &str) {
        *self.target.lock().expect("proxy target") = target.to_string();
    }

    /// Drops every connection through the proxy (both sides see it closed).
    pub fn cut(&self) -> usize {
        let mut connections = self.connections.lock().expect("proxy connections");
        let open = connections.iter().filter(|c| !c.is_finished()).count();
        for connection in connections.drain(..) {
            connection.abort();
        }
        open
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Copies bytes both ways until either side closes; a broker that is not
/// there closes the client's connection, as a refused connect would.
async fn relay(mut client: TcpStream, target: String) {
    let Ok(mut broker) = TcpStream::connect(&target).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
}
