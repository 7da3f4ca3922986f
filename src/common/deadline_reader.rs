//! A socket reader with a deadline for a whole exchange: a handshake read
//! through it fails once the deadline passes, however the bytes trickle in
//! (a socket timeout alone starts again with every byte). Used by the
//! election listener's connection threads for the initial message and by
//! the LearnerHandler threads for a learner's handshake packets.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A blocking socket read through a shared handle, with a read timeout:
/// a `TcpStream` or a quorum `UnifiedSocket` (plain or TLS).
pub trait TimedSocket {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    fn read_shared(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl TimedSocket for TcpStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, t)
    }

    fn read_shared(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self;
        s.read(buf)
    }
}

impl<T: TimedSocket> TimedSocket for &T {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(t)
    }

    fn read_shared(&self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_shared(buf)
    }
}

pub struct DeadlineReader<S> {
    sock: S,
    deadline: Option<Instant>,
}

impl<S: TimedSocket> DeadlineReader<S> {
    /// Reads from `sock`; with no deadline, reads wait as the socket's own
    /// timeout says.
    pub fn new(sock: S, deadline: Option<Instant>) -> DeadlineReader<S> {
        DeadlineReader { sock, deadline }
    }

    /// Sets the deadline (`None`: reads wait as the socket's own timeout
    /// says, which the caller sets again).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }
}

impl<S: TimedSocket> Read for DeadlineReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let sock = &self.sock;
        let Some(deadline) = self.deadline else { return sock.read_shared(buf) };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(too_late());
        }
        sock.set_read_timeout(Some(left))?;
        match sock.read_shared(buf) {
            // The socket's timeout, which is what was left of the deadline.
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Err(too_late()),
            other => other,
        }
    }
}

fn too_late() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the handshake did not complete in time")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn a_trickle_does_not_outlast_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut w = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (r, _) = l.accept().unwrap();
        let writer = std::thread::spawn(move || {
            for _ in 0..20 {
                if w.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let start = Instant::now();
        let mut reader = DeadlineReader::new(&r, Some(start + Duration::from_millis(300)));
        let mut buf = [0u8; 20];
        let err = reader.read_exact(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
        reader.set_deadline(None);
        r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(reader.read(&mut buf[..1]).unwrap(), 1, "without a deadline the read waits for the bytes");
        drop(r);
        writer.join().unwrap();
    }
}
