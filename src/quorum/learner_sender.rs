//! LearnerSender: with `zookeeper.learner.asyncSending=true`, the thread
//! (`LearnerSender:<sid>`) that writes a learner's packets to the leader.
//! The threads that send (the QuorumPeer thread, the
//! SendAckRequestProcessor, the FollowerRequestProcessor, client
//! connections asking for revalidation) only queue the encoded packets;
//! this thread writes them in order and flushes whenever its queue runs
//! dry. A write error shuts the socket, which ends the role on the
//! QuorumPeer thread; `shutdown` queues the packet of death.

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use parking_lot::Mutex;
use std::io::{self, BufWriter, Write};
use crate::quorum::unified_server_socket::UnifiedSocket;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use tracing::{info, warn};

/// The queue in front of the thread; `None` is the packet of death.
pub struct LearnerSender {
    queue: Sender<Option<Vec<u8>>>,
}

impl LearnerSender {
    /// Starts the thread writing to `writer` (closing `sock` on failure).
    pub fn start(sid: i64, writer: Arc<Mutex<BufWriter<UnifiedSocket>>>, sock: TcpStream) -> io::Result<LearnerSender> {
        let (queue, rx) = crossbeam_channel::unbounded();
        crate::server::zoo_keeper_critical_thread::spawn(format!("LearnerSender:{sid}"), move || {
            run(&rx, &writer, &sock)
        })?;
        Ok(LearnerSender { queue })
    }

    /// Queues an encoded packet for the thread to write.
    pub fn queue_packet(&self, bytes: Vec<u8>) {
        let _ = self.queue.send(Some(bytes));
    }

    /// Lets the thread end once it reaches this point of its queue.
    pub fn shutdown(&self) {
        info!("Shutting down LearnerSender");
        let _ = self.queue.send(None);
    }
}

fn run(rx: &Receiver<Option<Vec<u8>>>, writer: &Mutex<BufWriter<UnifiedSocket>>, sock: &TcpStream) {
    loop {
        let next = match rx.try_recv() {
            Ok(p) => Ok(p),
            Err(TryRecvError::Empty) => match writer.lock().flush() {
                Ok(()) => rx.recv().map_err(|_| None),
                Err(e) => Err(Some(e)),
            },
            Err(TryRecvError::Disconnected) => Err(None),
        };
        let bytes = match next {
            Ok(Some(bytes)) => bytes,
            Ok(None) | Err(None) => break,
            Err(Some(e)) => {
                warn!("Exception when writing to the leader: {e}");
                let _ = sock.shutdown(Shutdown::Both);
                break;
            }
        };
        if let Err(e) = writer.lock().write_all(&bytes) {
            warn!("Exception when writing to the leader: {e}");
            let _ = sock.shutdown(Shutdown::Both);
            break;
        }
    }
    info!("LearnerSender exited");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    #[test]
    fn writes_in_order_and_flushes_when_idle() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        let writer = Arc::new(Mutex::new(BufWriter::new(UnifiedSocket::plain(client.try_clone().unwrap()))));
        let sender = LearnerSender::start(7, writer, client).unwrap();
        sender.queue_packet(b"abc".to_vec());
        sender.queue_packet(b"def".to_vec());
        let mut got = [0u8; 6];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcdef");
        sender.shutdown();
    }
}
