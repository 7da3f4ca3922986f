//! The quorum protocol's packets (QuorumPacket in zookeeper.jute): the
//! packet type numbers both sides of ZAB use, reading and writing one packet
//! on a blocking stream, and the one-line form the logs print. Used by the
//! LearnerHandler threads and the learner side.

use crate::jute::records::QuorumPacket;
use crate::jute::txn::TxnLogEntry;
use crate::jute::{InputArchive, JuteError, Record, StreamInput};
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
/// A reconfiguration's COMMIT to followers; data: the designated leader's sid.
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
/// A reconfiguration's INFORM to observers; data: the designated leader's
/// sid, then the txn.
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

/// Reads one packet from a stream through jute's [`StreamInput`]: a data
/// length of -1 is null, any other negative length or one above the jute
/// read limit (the bound a txn was checked against when it was proposed)
/// is refused before anything is allocated.
pub fn read_packet<R: Read>(r: &mut R) -> io::Result<QuorumPacket> {
    QuorumPacket::read_from(&mut StreamInput::new(r))
}

/// The txn a PROPOSAL or INFORM carries (a txn-log entry without the
/// log's framing), decoded within jute.maxbuffer.
pub fn decode_txn(qp: &QuorumPacket) -> io::Result<TxnLogEntry> {
    let data = qp.data.as_deref().unwrap_or(&[]);
    TxnLogEntry::from_bytes(data).map_err(|e| bad(format!("bad txn in packet type {}: {e}", qp.r#type)))
}

/// What a leader reads of FOLLOWERINFO/OBSERVERINFO data: the learner's
/// sid, its protocol version (3.4+) and its config version (3.5+), each
/// `None` when the data stops before it.
pub fn decode_learner_info(d: &[u8]) -> (Option<i64>, Option<i32>, Option<i64>) {
    let mut ia = InputArchive::new(d);
    let sid = ia.read_long().ok();
    let version = sid.and(ia.read_int().ok());
    let config_version = version.and(ia.read_long().ok());
    (sid, version, config_version)
}

/// The learner's current epoch at the start of ACKEPOCH data.
pub fn decode_ack_epoch(d: Option<&[u8]>) -> io::Result<i64> {
    InputArchive::new(d.unwrap_or_default())
        .read_int()
        .map(i64::from)
        .map_err(|_| bad("ACKEPOCH without an epoch".into()))
}

/// The (session, timeout) pairs a learner's PING reports as touched; a
/// trailing partial pair is ignored.
pub fn decode_session_touches(d: &[u8]) -> impl Iterator<Item = (i64, i32)> + '_ {
    let mut ia = InputArchive::new(d);
    std::iter::from_fn(move || {
        let at = ia.position();
        match (ia.read_long(), ia.read_int()) {
            (Ok(id), Ok(timeout)) => Some((id, timeout)),
            _ => {
                ia.reset(at);
                None
            }
        }
    })
}

/// A learner's REVALIDATE: the session and its timeout.
pub fn decode_revalidate(d: &[u8]) -> io::Result<(i64, i32)> {
    let mut ia = InputArchive::new(d);
    let short = |_| bad("short REVALIDATE".into());
    Ok((ia.read_long().map_err(short)?, ia.read_int().map_err(short)?))
}

/// The leader's answer to a REVALIDATE: the session and whether it lives.
pub fn decode_revalidate_answer(d: &[u8]) -> io::Result<(i64, bool)> {
    let mut ia = InputArchive::new(d);
    let short = |e: JuteError| io::Error::new(io::ErrorKind::UnexpectedEof, e);
    Ok((ia.read_long().map_err(short)?, ia.read_bool().map_err(short)?))
}

/// A REQUEST a learner forwards: session, cxid, opcode and the request
/// body after the client's header.
pub fn decode_request(d: &[u8]) -> io::Result<(i64, i32, i32, &[u8])> {
    let mut ia = InputArchive::new(d);
    let short = |_| bad("short REQUEST".into());
    let session_id = ia.read_long().map_err(short)?;
    let cxid = ia.read_int().map_err(short)?;
    let op = ia.read_int().map_err(short)?;
    let body = ia.read_bytes(ia.remaining()).map_err(short)?;
    Ok((session_id, cxid, op, body))
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
    use crate::jute::records::Id;

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
    fn negative_lengths_follow_java() {
        let head = |len: i32| {
            let mut b = Vec::new();
            b.extend_from_slice(&PING.to_be_bytes());
            b.extend_from_slice(&0i64.to_be_bytes());
            b.extend_from_slice(&len.to_be_bytes());
            b
        };
        // Data length -2: Java's checkLength refuses it (this reader once
        // took every negative length for null).
        let mut b = head(-2);
        b.extend_from_slice(&0i32.to_be_bytes());
        let e = read_packet(&mut b.as_slice()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "Unreasonable length = -2");
        // An auth id whose scheme length is -2 is refused too (it once read
        // as empty).
        let mut b = head(-1);
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&(-2i32).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(read_packet(&mut b.as_slice()).is_err());
        // ... while -1 is a null string, read as empty.
        let n = b.len();
        b[n - 8..n - 4].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(read_packet(&mut b.as_slice()).unwrap().authinfo, vec![Id::new("", "")]);
        // An auth count below -1 is an empty list, as Java's startVector.
        let mut b = head(-1);
        b.extend_from_slice(&(-7i32).to_be_bytes());
        assert!(read_packet(&mut b.as_slice()).unwrap().authinfo.is_empty());
    }

    #[test]
    fn auth_info_count_does_not_size_an_allocation() {
        // Found by the quorum_packet fuzz target: an auth count of 65535
        // with no ids behind it reserved 65535 Ids (3 MiB) up front. The
        // target's bounded allocator replays this input from its corpus
        // (fuzz/corpus/quorum_packet/regression-auth-count).
        let crash = [
            0x0f, 0xff, 0xff, 0xff, 0xff, 0x00, 0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0xff, 0xff,
        ];
        assert!(read_packet(&mut &crash[..]).is_err());
    }

    #[test]
    fn zxid_halves() {
        assert_eq!(make_zxid(3, 7), 0x3_0000_0007);
        assert_eq!(epoch_of(0x3_0000_0007), 3);
        assert_eq!(counter_of(0x3_0000_0007), 7);
        assert_eq!(type_name(42), "UNKNOWN42");
    }
}
