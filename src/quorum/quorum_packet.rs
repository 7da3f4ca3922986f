//! The quorum protocol's packets (QuorumPacket in zookeeper.jute): the
//! packet type numbers both sides of ZAB use, reading and writing one packet
//! on a blocking stream, and the one-line form the logs print. Used by the
//! LearnerHandler threads and the learner side.

use crate::jute::records::{Id, QuorumPacket};
use crate::jute::Record;
use byteorder::{BigEndian, ReadBytesExt};
use std::io::{self, Read, Write};

/// A learner forwards a client request to the leader.
pub const REQUEST: i32 = 1;
/// The leader proposes a txn.
pub const PROPOSAL: i32 = 2;
/// A learner has logged a proposal (or NEWLEADER).
pub const ACK: i32 = 3;
/// The leader commits a proposal.
pub const COMMIT: i32 = 4;
/// Liveness in both directions; learners attach their session touches.
pub const PING: i32 = 5;
/// A learner asks whether a session is still valid.
pub const REVALIDATE: i32 = 6;
/// The leader answers a learner's sync.
pub const SYNC: i32 = 7;
/// A committed txn sent to observers.
pub const INFORM: i32 = 8;
/// A reconfiguration commit (not supported here; named for the logs).
pub const COMMITANDACTIVATE: i32 = 9;
/// The leader has sent everything the learner needs for the new epoch.
pub const NEWLEADER: i32 = 10;
/// A follower's first packet.
pub const FOLLOWERINFO: i32 = 11;
/// The learner may start serving.
pub const UPTODATE: i32 = 12;
/// Sync by replaying proposals.
pub const DIFF: i32 = 13;
/// Sync by truncating the learner's log.
pub const TRUNC: i32 = 14;
/// Sync by a whole snapshot.
pub const SNAP: i32 = 15;
/// An observer's first packet.
pub const OBSERVERINFO: i32 = 16;
/// The leader's proposed epoch.
pub const LEADERINFO: i32 = 17;
/// A learner accepts the proposed epoch.
pub const ACKEPOCH: i32 = 18;
/// A reconfiguration inform (not supported here; named for the logs).
pub const INFORMANDACTIVATE: i32 = 19;

/// The protocol version a 3.4+ learner and leader speak (0x10000).
pub const PROTOCOL_VERSION: i32 = 0x10000;

/// The zxid of `epoch` with counter `counter`.
pub fn make_zxid(epoch: i64, counter: i64) -> i64 {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// The epoch half of a zxid.
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// The counter half of a zxid.
pub fn counter_of(zxid: i64) -> i64 {
    zxid & 0xffff_ffff
}

/// A packet with no data and no auth info.
pub fn packet(r#type: i32, zxid: i64, data: Option<Vec<u8>>) -> QuorumPacket {
    QuorumPacket { r#type, zxid, data, authinfo: Vec::new() }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_string<R: Read>(r: &mut R, max: usize) -> io::Result<String> {
    let len = r.read_i32::<BigEndian>()?;
    if len < 0 {
        return Ok(String::new());
    }
    let len = len as usize;
    if len > max {
        return Err(bad(format!("Unreasonable length = {len}")));
    }
    let mut b = vec![0u8; len];
    r.read_exact(&mut b)?;
    String::from_utf8(b).map_err(|_| bad("string is not UTF-8".into()))
}

/// Reads one packet from a stream. Lengths above the jute read limit (the
/// bound a txn was checked against when it was proposed) are refused
/// before anything is allocated.
pub fn read_packet<R: Read>(r: &mut R) -> io::Result<QuorumPacket> {
    let limit = crate::jute::read_limit();
    let r#type = r.read_i32::<BigEndian>()?;
    let zxid = r.read_i64::<BigEndian>()?;
    let len = r.read_i32::<BigEndian>()?;
    let data = if len < 0 {
        None
    } else {
        let len = len as usize;
        if len > limit {
            return Err(bad(format!("Unreasonable length = {len}")));
        }
        let mut b = vec![0u8; len];
        r.read_exact(&mut b)?;
        Some(b)
    };
    let count = r.read_i32::<BigEndian>()?;
    if count > 0 && count as usize > limit / 8 {
        return Err(bad(format!("Unreasonable auth info count = {count}")));
    }
    let mut authinfo = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count.max(0) {
        let scheme = read_string(r, limit)?;
        let id = read_string(r, limit)?;
        authinfo.push(Id { scheme, id });
    }
    Ok(QuorumPacket { r#type, zxid, data, authinfo })
}

/// Writes one packet (not flushed).
pub fn write_packet<W: Write>(w: &mut W, p: &QuorumPacket) -> io::Result<()> {
    w.write_all(&p.to_bytes())
}

/// The packet type's name as the logs print it.
pub fn type_name(t: i32) -> String {
    let s = match t {
        REQUEST => "REQUEST",
        PROPOSAL => "PROPOSAL",
        ACK => "ACK",
        COMMIT => "COMMIT",
        PING => "PING",
        REVALIDATE => "REVALIDATE",
        SYNC => "SYNC",
        INFORM => "INFORM",
        COMMITANDACTIVATE => "COMMITANDACTIVATE",
        NEWLEADER => "NEWLEADER",
        FOLLOWERINFO => "FOLLOWERINFO",
        UPTODATE => "UPTODATE",
        DIFF => "DIFF",
        TRUNC => "TRUNC",
        SNAP => "SNAP",
        OBSERVERINFO => "OBSERVERINFO",
        LEADERINFO => "LEADERINFO",
        ACKEPOCH => "ACKEPOCH",
        INFORMANDACTIVATE => "INFORMANDACTIVATE",
        _ => return format!("UNKNOWN{t}"),
    };
    s.to_string()
}

/// "TYPE zxidhex" for log lines.
pub fn packet_to_string(p: &QuorumPacket) -> String {
    format!("{} {:x}", type_name(p.r#type), p.zxid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_java_bytes() {
        let p = QuorumPacket {
            r#type: PROPOSAL,
            zxid: 0x1_0000_0002,
            data: Some(vec![1, 2, 3]),
            authinfo: vec![Id::new("digest", "u:x")],
        };
        let mut buf = Vec::new();
        write_packet(&mut buf, &p).unwrap();
        let back = read_packet(&mut buf.as_slice()).unwrap();
        assert_eq!(back, p);
        // A packet without data: -1 length, as Java writes a null buffer.
        let mut buf = Vec::new();
        write_packet(&mut buf, &packet(UPTODATE, -1, None)).unwrap();
        assert_eq!(&buf[12..16], &[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(read_packet(&mut buf.as_slice()).unwrap().data, None);
        // Java's null auth list (-1) reads as empty.
        let mut java = buf.clone();
        let n = java.len();
        java[n - 4..].copy_from_slice(&[0xff; 4]);
        assert!(read_packet(&mut java.as_slice()).unwrap().authinfo.is_empty());
    }

    #[test]
    fn hostile_lengths_are_refused() {
        let mut b = Vec::new();
        b.extend_from_slice(&PING.to_be_bytes());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(read_packet(&mut b.as_slice()).unwrap_err().to_string().contains("Unreasonable length"));
        let mut b = Vec::new();
        b.extend_from_slice(&PING.to_be_bytes());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(read_packet(&mut b.as_slice()).is_err());
        // Truncated input is an error, not a panic.
        assert!(read_packet(&mut &b[..6]).is_err());
    }

    #[test]
    fn zxid_halves() {
        assert_eq!(make_zxid(3, 7), 0x3_0000_0007);
        assert_eq!(epoch_of(0x3_0000_0007), 3);
        assert_eq!(counter_of(0x3_0000_0007), 7);
        assert_eq!(type_name(42), "UNKNOWN42");
    }
}
