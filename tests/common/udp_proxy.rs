//! A UDP relay between clients and the server that a test can cut or impair, to make
//! connections suffer the way they do on real networks: silent death, loss, jitter, reordering.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Random loss and delay applied to every datagram, both ways. Delays drawn uniformly from
/// `[0, jitter]` reorder packets whenever they differ by more than the packet spacing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Impairment {
    pub loss: f64,
    pub jitter: Duration,
    pub seed: u64,
}

struct Shared {
    cut: AtomicBool,
    impairment: Mutex<(Impairment, u64)>,
}

impl Shared {
    /// Whether to drop this datagram, and how long to hold it otherwise.
    fn fate(&self) -> Option<Duration> {
        if self.cut.load(Ordering::SeqCst) {
            return None;
        }
        let mut guard = self.impairment.lock().unwrap();
        let (impairment, state) = &mut *guard;
        let mut next = || {
            // xorshift64*: deterministic for a given seed, good enough for a network.
            *state ^= *state >> 12;
            *state ^= *state << 25;
            *state ^= *state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        };
        if next() < impairment.loss {
            return None;
        }
        Some(impairment.jitter.mul_f64(next()))
    }
}

pub struct UdpProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpProxy {
    /// Forwards datagrams from any client to `upstream` and the answers back, one upstream
    /// socket per client address (each QUIC endpoint, a resumed one included, gets its own).
    pub async fn start(upstream: SocketAddr) -> UdpProxy {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = front.local_addr().unwrap();
        let shared = Arc::new(Shared {
            cut: AtomicBool::new(false),
            impairment: Mutex::new((Impairment::default(), 1)),
        });
        let task = tokio::spawn(forward(front, upstream, shared.clone()));
        UdpProxy { addr, shared, task }
    }

    /// While cut, every datagram in either direction is dropped.
    pub fn set_cut(&self, cut: bool) {
        self.shared.cut.store(cut, Ordering::SeqCst);
    }

    pub fn impair(&self, impairment: Impairment) {
        *self.shared.impairment.lock().unwrap() = (impairment, impairment.seed.max(1));
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `send` after the datagram's fate's delay, or not at all.
fn deliver(shared: &Shared, send: impl std::future::Future<Output = ()> + Send + 'static) {
    let Some(delay) = shared.fate() else { return };
    if delay.is_zero() {
        tokio::spawn(send);
    } else {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            send.await;
        });
    }
}

async fn forward(front: Arc<UdpSocket>, upstream: SocketAddr, shared: Arc<Shared>) {
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
                let (front, back_reader, shared) = (front.clone(), back.clone(), shared.clone());
                tasks.spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(len) = back_reader.recv(&mut buf).await {
                        let datagram = buf[..len].to_vec();
                        let front = front.clone();
                        deliver(&shared, async move {
                            let _ = front.send_to(&datagram, client).await;
                        });
                    }
                });
                back
            }
        };
        let datagram = buf[..len].to_vec();
        deliver(&shared, async move {
            let _ = back.send(&datagram).await;
        });
    }
}
