//! The quorum port's bytes, either way: QuorumPackets back to back as
//! `read_packet` reads them on a leader or a learner, each payload decoded
//! as its receiver decodes it (txns in PROPOSAL/INFORM, FOLLOWERINFO,
//! ACKEPOCH, PING's session touches, REVALIDATE and its answer, REQUEST).

#![no_main]

use libfuzzer_sys::fuzz_target;
use zkserver::jute::records::LearnerInfo;
use zkserver::jute::{read_limit, Record};
use zkserver::quorum::quorum_packet::{self as qp, read_packet};
use zkserver_fuzz::set_alloc_limit;

fuzz_target!(|data: &[u8]| {
    // Every length a packet carries is within the jute read limit.
    set_alloc_limit(read_limit() + 64 * 1024);
    let mut r = data;
    while let Ok(p) = read_packet(&mut r) {
        let d = p.data.as_deref().unwrap_or_default();
        match p.r#type {
            qp::PROPOSAL | qp::INFORM => {
                let _ = qp::decode_txn(&p);
            }
            qp::FOLLOWERINFO | qp::OBSERVERINFO => {
                let _ = qp::decode_learner_info(d);
                let _ = LearnerInfo::from_bytes(d);
            }
            qp::ACKEPOCH => {
                let _ = qp::decode_ack_epoch(p.data.as_deref());
            }
            qp::PING => {
                let _ = qp::decode_session_touches(d).count();
            }
            qp::REVALIDATE => {
                let _ = qp::decode_revalidate(d);
                let _ = qp::decode_revalidate_answer(d);
            }
            qp::REQUEST => {
                let _ = qp::decode_request(d);
            }
            _ => {}
        }
        let _ = qp::packet_to_string(&p);
    }
});
