//! A UDP relay between clients and the server that a test can cut, to make connections die the
//! way they die on real networks: silently, with no close frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;

pub struct UdpProxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpProxy {
    /// Forwards datagrams from any client to `upstream` and the answers back, one upstream
    /// socket per client address (each QUIC endpoint, a resumed one included, gets its own).
    pub async fn start(upstream: SocketAddr) -> UdpProxy {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = front.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(forward(front, upstream, cut.clone()));
        UdpProxy { addr, cut, task }
    }

    /// While cut, every datagram in either direction is dropped.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(front: Arc<UdpSocket>, upstream: SocketAddr, cut: Arc<AtomicBool>) {
    let mut backs: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let Ok((len, client)) = front.recv_from(&mut buf).await else {
            return;
        };
        let back = match backs.get(&client) {
            Some(back) => back.clone(),
            None => {
                let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                back.connect(upstream).await.unwrap();
                backs.insert(client, back.clone());
                let (front, back_reader, cut) = (front.clone(), back.clone(), cut.clone());
                tasks.spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(len) = back_reader.recv(&mut buf).await {
                        if !cut.load(Ordering::SeqCst) {
                            let _ = front.send_to(&buf[..len], client).await;
                        }
                    }
                });
                back
            }
        };
        if !cut.load(Ordering::SeqCst) {
            let _ = back.send(&buf[..len]).await;
        }
    }
}
