//! A UDP relay between clients and the server that a test can cut or impair, to make
//! connections suffer the way they do on real networks: silent death, loss, jitter, reordering,
//! stalls and duplication.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// A datagram arriving before this instant is held until then: a path that stalls and
    /// then delivers everything at once, as a congested or switching link does.
    stalled_until: Mutex<Option<Instant>>,
    /// The chance that a datagram is delivered twice.
    duplicate: Mutex<f64>,
    /// Datagrams delivered twice so far.
    duplicated: AtomicU64,
}

impl Shared {
    /// When to deliver this datagram: never (dropped), once, or twice (duplicated).
    fn fate(&self) -> Vec<Duration> {
        if self.cut.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let stall = self
            .stalled_until
            .lock()
            .unwrap()
            .map_or(Duration::ZERO, |until| {
                until.saturating_duration_since(Instant::now())
            });
        let duplicate = *self.duplicate.lock().unwrap();
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
            return Vec::new();
        }
        let first = stall + impairment.jitter.mul_f64(next());
        // Drawn only when duplication is on, so a seed gives the same loss and jitter as before.
        if duplicate > 0.0 && next() < duplicate {
            self.duplicated.fetch_add(1, Ordering::Relaxed);
            vec![first, stall + impairment.jitter.mul_f64(next())]
        } else {
            vec![first]
        }
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
            stalled_until: Mutex::new(None),
            duplicate: Mutex::new(0.0),
            duplicated: AtomicU64::new(0),
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

    /// Holds every datagram, both ways, for `duration` from now, then delivers them all.
    pub fn stall(&self, duration: Duration) {
        *self.shared.stalled_until.lock().unwrap() = Some(Instant::now() + duration);
    }

    /// Delivers each datagram twice with probability `p` (0 turns it off).
    pub fn set_duplicate(&self, p: f64) {
        *self.shared.duplicate.lock().unwrap() = p;
    }

    /// How many datagrams have been delivered twice.
    pub fn duplicated(&self) -> u64 {
        self.shared.duplicated.load(Ordering::Relaxed)
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs a `send` for each delivery the datagram's fate holds, after its delay.
fn deliver<F>(shared: &Shared, send: impl Fn() -> F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    for delay in shared.fate() {
        let send = send();
        if delay.is_zero() {
            tokio::spawn(send);
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                send.await;
            });
        }
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
                        let datagram = Arc::new(buf[..len].to_vec());
                        deliver(&shared, || {
                            let (front, datagram) = (front.clone(), datagram.clone());
                            async move {
                                let _ = front.send_to(&datagram, client).await;
                            }
                        });
                    }
                });
                back
            }
        };
        let datagram = Arc::new(buf[..len].to_vec());
        deliver(&shared, || {
            let (back, datagram) = (back.clone(), datagram.clone());
            async move {
                let _ = back.send(&datagram).await;
            }
        });
    }
}
