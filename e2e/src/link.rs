//! A network link between two daemons that a test can cut and mend: a TCP forwarder on
//! 127.0.0.1 to a target. Cut, it closes the connections it carries and every new one at
//! once, as a partition looks to a client (its requests fail, it retries).

use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Link {
    /// Where clients connect.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    carried: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Link {
    /// A link, up, to `target`.
    pub async fn to(target: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the link");
        let addr = listener.local_addr().expect("the link's address");
        let up = Arc::new(AtomicBool::new(true));
        let carried: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, carried2) = (up.clone(), carried.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !up2.load(SeqCst) {
                    continue; // dropped: closed at once
                }
                let mut list = carried2.lock();
                list.retain(|h| !h.is_finished());
                list.push(tokio::spawn(carry(client, target)));
            }
        });
        Link { addr, up, carried, accept }
    }

    pub fn cut(&self) {
        self.up.store(false, SeqCst);
        for h in self.carried.lock().drain(..) {
            h.abort();
        }
    }

    pub fn mend(&self) {
        self.up.store(true, SeqCst);
    }
}

async fn carry(mut client: TcpStream, target: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(target).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
