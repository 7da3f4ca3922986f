//! The follower and observer conversations of ZooKeeper's Zab1_0Test and
//! LearnerTest, played against the core: the leader's packets in, the
//! actions (and the disk completions the driver would report) checked.

use super::*;
use crate::jute::txn::{CreateSessionTxn, TxnBody, TxnHeader};
use crate::zoo_defs::op_code;

const EPOCH1: i64 = 1 << 32;

fn core(learner_type: LearnerType, accepted_epoch: i64, current_epoch: i64, last_logged_zxid: i64) -> LearnerCore {
    LearnerCore::new(LearnerState { my_id: 7, learner_type, accepted_epoch, current_epoch, last_logged_zxid, config_version: 0 })
}

fn follower() -> LearnerCore {
    core(LearnerType::Participant, 0, 0, 0)
}

fn observer() -> LearnerCore {
    core(LearnerType::Observer, 0, 0, 0)
}

fn txn(zxid: i64) -> TxnLogEntry {
    TxnLogEntry {
        hdr: TxnHeader { client_id: 0x333, cxid: 0, zxid, time: 0, r#type: op_code::CREATE_SESSION },
        txn: Some(TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 })),
        digest: None,
    }
}

fn pkt(r#type: i32, zxid: i64) -> QuorumPacket {
    QuorumPacket { r#type, zxid, data: None, authinfo: Vec::new() }
}

fn with_txn(r#type: i32, zxid: i64) -> QuorumPacket {
    QuorumPacket { r#type, zxid, data: Some(txn(zxid).to_bytes()), authinfo: Vec::new() }
}

fn acks(actions: &[Action]) -> Vec<i64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(qp) if qp.r#type == packet::ACK => Some(qp.zxid),
            _ => None,
        })
        .collect()
}

fn feed(core: &mut LearnerCore, qp: QuorumPacket) -> Vec<Action> {
    core.packet(qp).expect("packet accepted")
}

/// FOLLOWERINFO, LEADERINFO of epoch 1, ACKEPOCH: where every
/// conversation of Zab1_0Test starts.
fn registered(mut c: LearnerCore) -> LearnerCore {
    c.start();
    feed(&mut c, pkt(packet::LEADERINFO, EPOCH1));
    c
}

#[test]
fn registration_reports_the_accepted_epoch() {
    let mut c = core(LearnerType::Participant, 3, 2, 0x3_0000_0005);
    let out = c.start();
    let [Action::Send(qp)] = &out[..] else { panic!("{out:?}") };
    assert_eq!(qp.r#type, packet::FOLLOWERINFO);
    assert_eq!(qp.zxid, 3 << 32);
    let (sid, version, config_version) = packet::decode_learner_info(qp.data.as_deref().unwrap());
    assert_eq!((sid, version, config_version), (Some(7), Some(0x10000), Some(0)));
    let out = observer().start();
    assert!(matches!(&out[..], [Action::Send(qp)] if qp.r#type == packet::OBSERVERINFO));
}

#[test]
fn a_new_epoch_is_written_before_ackepoch_carries_the_current_one() {
    let mut c = core(LearnerType::Participant, 1, 1, 0x1_0000_0004);
    c.start();
    let out = feed(&mut c, pkt(packet::LEADERINFO, 2 << 32));
    let [Action::WriteAcceptedEpoch(2), Action::Send(ack)] = &out[..] else { panic!("{out:?}") };
    assert_eq!(ack.r#type, packet::ACKEPOCH);
    assert_eq!(ack.zxid, 0x1_0000_0004);
    assert_eq!(ack.data.as_deref(), Some(&1i32.to_be_bytes()[..]));
    assert_eq!(c.new_epoch(), 2);
}

#[test]
fn the_accepted_epoch_again_is_answered_with_minus_one() {
    let mut c = core(LearnerType::Participant, 2, 1, 0);
    c.start();
    let out = feed(&mut c, pkt(packet::LEADERINFO, 2 << 32));
    let [Action::Send(ack)] = &out[..] else { panic!("{out:?}") };
    assert_eq!(ack.data.as_deref(), Some(&(-1i32).to_be_bytes()[..]));
}

#[test]
fn a_leaderinfo_of_an_older_epoch_is_refused() {
    let mut c = core(LearnerType::Participant, 3, 3, 0);
    c.start();
    assert!(c.packet(pkt(packet::LEADERINFO, 2 << 32)).is_err());
}

#[test]
fn a_first_newleader_of_an_older_epoch_is_refused() {
    let mut c = core(LearnerType::Participant, 3, 3, 0);
    c.start();
    assert!(c.packet(pkt(packet::NEWLEADER, 2 << 32)).is_err());
    // A pre-1.0 leader's NEWLEADER of a newer epoch is taken as LEADERINFO.
    let mut c = core(LearnerType::Participant, 3, 3, 0);
    c.start();
    assert_eq!(feed(&mut c, pkt(packet::NEWLEADER, 4 << 32)), vec![Action::WriteAcceptedEpoch(4)]);
    assert_eq!(c.new_epoch(), 4);
}

#[test]
fn the_first_packet_must_be_leaderinfo_or_newleader() {
    let mut c = follower();
    c.start();
    assert!(c.packet(pkt(packet::DIFF, 0)).is_err());
}

#[test]
fn mutation_accept_older_newleader_takes_an_older_epoch() {
    let mut c = core(LearnerType::Participant, 3, 3, 0);
    c.mutate_accept_older_newleader();
    c.start();
    let out = feed(&mut c, pkt(packet::LEADERINFO, 2 << 32));
    assert!(matches!(&out[..], [Action::Send(qp)] if qp.r#type == packet::ACKEPOCH));
    assert_eq!(c.new_epoch(), 2);
}

/// testNormalFollowerRun: SNAP, NEWLEADER (the snapshot taken only now,
/// then currentEpoch, then the ACK), a proposal and its commit, UPTODATE.
#[test]
fn normal_follower_run_with_snap() {
    let mut c = registered(follower());
    let first = EPOCH1 | 1;
    assert_eq!(feed(&mut c, pkt(packet::SNAP, first)), vec![Action::ReadSnapshot(first)]);
    assert_eq!(c.snapshot_installed().unwrap(), vec![Action::InitConfig]);
    assert_eq!(feed(&mut c, pkt(packet::NEWLEADER, EPOCH1)), vec![Action::TakeSnapshot]);
    assert_eq!(c.snapshot_taken().unwrap(), vec![Action::LogAndSync(Vec::new())]);
    assert_eq!(c.txns_durable().unwrap(), vec![Action::WriteCurrentEpoch(1), Action::Send(pkt(packet::ACK, EPOCH1))]);
    let proposal = EPOCH1 | 1000;
    assert!(feed(&mut c, with_txn(packet::PROPOSAL, proposal)).is_empty());
    assert!(feed(&mut c, pkt(packet::COMMIT, proposal)).is_empty());
    assert!(!c.is_serving());
    let out = feed(&mut c, pkt(packet::UPTODATE, 0));
    assert_eq!(
        out,
        vec![
            Action::Send(pkt(packet::ACK, EPOCH1)),
            Action::StartServer(1),
            Action::LogRequest(txn(proposal)),
            Action::Commit(txn(proposal)),
            Action::Serve,
        ]
    );
    assert!(c.is_serving());
    let ping = pkt(packet::PING, proposal);
    assert_eq!(feed(&mut c, ping.clone()), vec![Action::AnswerPing(ping)]);
}

/// testNormalFollowerRunWithDiff: the DIFF's proposal is logged and
/// fsynced at NEWLEADER, before currentEpoch; it is acknowledged after
/// UPTODATE's ACK and committed then.
#[test]
fn normal_follower_run_with_diff() {
    let mut c = registered(follower());
    assert_eq!(feed(&mut c, pkt(packet::DIFF, EPOCH1 | 1)), vec![Action::InitConfig]);
    let session = EPOCH1 | 2;
    assert!(feed(&mut c, with_txn(packet::PROPOSAL, session)).is_empty());
    assert!(feed(&mut c, pkt(packet::COMMIT, session)).is_empty());
    assert_eq!(feed(&mut c, pkt(packet::NEWLEADER, EPOCH1)), vec![Action::LogAndSync(vec![txn(session)])]);
    assert_eq!(c.txns_durable().unwrap(), vec![Action::WriteCurrentEpoch(1), Action::Send(pkt(packet::ACK, EPOCH1))]);
    let out = feed(&mut c, pkt(packet::UPTODATE, 0));
    assert_eq!(
        out,
        vec![
            Action::Send(pkt(packet::ACK, EPOCH1)),
            Action::StartServer(1),
            Action::Send(pkt(packet::ACK, session)),
            Action::Commit(txn(session)),
            Action::Serve,
        ]
    );
}

/// No ACK, and no currentEpoch, before the sync's proposals are durable
/// (ZOOKEEPER-4643); the proposals come after NEWLEADER's ACK.
#[test]
fn proposals_during_sync_are_acknowledged_only_once_logged() {
    let mut c = registered(follower());
    feed(&mut c, pkt(packet::DIFF, 0));
    let mut before_durable = Vec::new();
    for z in 1..=3 {
        before_durable.extend(feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | z)));
    }
    before_durable.extend(feed(&mut c, pkt(packet::NEWLEADER, EPOCH1)));
    assert!(acks(&before_durable).is_empty(), "{before_durable:?}");
    assert!(!before_durable.iter().any(|a| matches!(a, Action::WriteCurrentEpoch(_))));
    assert!(matches!(&before_durable[..], [Action::LogAndSync(v)] if v.len() == 3));
    // A packet while the disk works is a driver bug, not something to act on.
    assert!(c.packet(pkt(packet::UPTODATE, 0)).is_err());
}

#[test]
fn proposals_logged_at_newleader_are_acked_after_uptodate_one_by_one() {
    let mut c = registered(follower());
    feed(&mut c, pkt(packet::DIFF, 0));
    for z in 1..=3 {
        feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | z));
    }
    feed(&mut c, pkt(packet::NEWLEADER, EPOCH1));
    let durable = c.txns_durable().unwrap();
    assert_eq!(acks(&durable), vec![EPOCH1]);
    // Proposed after NEWLEADER: logged (and acked) by the SyncThread.
    feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 4));
    feed(&mut c, pkt(packet::COMMIT, EPOCH1 | 1));
    let out = feed(&mut c, pkt(packet::UPTODATE, 0));
    assert_eq!(acks(&out), vec![EPOCH1, EPOCH1 | 1, EPOCH1 | 2, EPOCH1 | 3]);
    assert!(out.contains(&Action::LogRequest(txn(EPOCH1 | 4))));
    assert!(out.contains(&Action::Commit(txn(EPOCH1 | 1))));
    // The rest commit in order.
    assert_eq!(feed(&mut c, pkt(packet::COMMIT, EPOCH1 | 2)), vec![Action::Commit(txn(EPOCH1 | 2))]);
}

/// LearnerTest.syncTest: a SNAP and a proposal, then the leader is gone
/// before NEWLEADER: nothing may have been logged.
#[test]
fn nothing_is_logged_before_newleader() {
    let mut c = registered(follower());
    let mut out = feed(&mut c, pkt(packet::SNAP, 0));
    out.extend(c.snapshot_installed().unwrap());
    out.extend(feed(&mut c, with_txn(packet::PROPOSAL, 1)));
    assert!(!out.iter().any(|a| matches!(a, Action::LogAndSync(_) | Action::LogRequest(_) | Action::Send(_))), "{out:?}");
}

/// LearnerTest.truncFailTest's first half: TRUNC cuts the log; the state
/// it leaves is snapshotted at NEWLEADER.
#[test]
fn trunc_then_snapshot_at_newleader() {
    let mut c = registered(follower());
    assert_eq!(feed(&mut c, pkt(packet::TRUNC, 5)), vec![Action::Truncate(5), Action::InitConfig]);
    assert_eq!(feed(&mut c, pkt(packet::NEWLEADER, EPOCH1)), vec![Action::TakeSnapshot]);
}

#[test]
fn commits_before_newleader_after_a_snap_are_applied_at_once() {
    let mut c = registered(follower());
    feed(&mut c, pkt(packet::SNAP, 0));
    c.snapshot_installed().unwrap();
    feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 1));
    feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 2));
    // Not the oldest proposal: ignored, with a warning, as Java.
    assert!(feed(&mut c, pkt(packet::COMMIT, EPOCH1 | 2)).is_empty());
    assert_eq!(feed(&mut c, pkt(packet::COMMIT, EPOCH1 | 1)), vec![Action::Apply(txn(EPOCH1 | 1))]);
    assert_eq!(feed(&mut c, pkt(packet::NEWLEADER, EPOCH1)), vec![Action::TakeSnapshot]);
    assert_eq!(c.snapshot_taken().unwrap(), vec![Action::LogAndSync(vec![txn(EPOCH1 | 2)])]);
}

fn serving_follower() -> LearnerCore {
    let mut c = registered(follower());
    feed(&mut c, pkt(packet::DIFF, 0));
    feed(&mut c, pkt(packet::NEWLEADER, EPOCH1));
    c.txns_durable().unwrap();
    feed(&mut c, pkt(packet::UPTODATE, 0));
    c
}

#[test]
fn a_commit_of_an_unknown_zxid_is_an_error() {
    let mut c = serving_follower();
    assert_eq!(feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 1)), vec![Action::LogRequest(txn(EPOCH1 | 1))]);
    assert!(c.packet(pkt(packet::COMMIT, EPOCH1 | 9)).is_err());
    // With nothing pending Java only warns.
    let mut c = serving_follower();
    assert!(feed(&mut c, pkt(packet::COMMIT, EPOCH1 | 9)).is_empty());
}

#[test]
fn following_the_broadcast() {
    let mut c = serving_follower();
    assert_eq!(feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 1)), vec![Action::LogRequest(txn(EPOCH1 | 1))]);
    assert_eq!(feed(&mut c, pkt(packet::COMMIT, EPOCH1 | 1)), vec![Action::Commit(txn(EPOCH1 | 1))]);
    assert_eq!(feed(&mut c, pkt(packet::SYNC, 0)), vec![Action::Sync]);
    assert!(feed(&mut c, with_txn(packet::INFORM, EPOCH1 | 2)).is_empty());
    assert!(feed(&mut c, pkt(packet::UPTODATE, 0)).is_empty());
    assert!(c.packet(pkt(packet::COMMITANDACTIVATE, EPOCH1 | 2)).is_err());
}

/// testNormalObserverRun: no log at NEWLEADER; the PROPOSAL/COMMIT pair
/// and the INFORM after it are committed after UPTODATE; later INFORMs
/// go straight to the commit side, proposals are not for an observer.
#[test]
fn normal_observer_run() {
    let mut c = registered(observer());
    feed(&mut c, pkt(packet::SNAP, EPOCH1 | 2));
    c.snapshot_installed().unwrap();
    assert_eq!(feed(&mut c, pkt(packet::NEWLEADER, EPOCH1)), vec![Action::TakeSnapshot]);
    assert_eq!(c.snapshot_taken().unwrap(), vec![Action::WriteCurrentEpoch(1), Action::Send(pkt(packet::ACK, EPOCH1))]);
    feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 3));
    feed(&mut c, pkt(packet::COMMIT, EPOCH1 | 3));
    feed(&mut c, with_txn(packet::INFORM, EPOCH1 | 4));
    let out = feed(&mut c, pkt(packet::UPTODATE, 0));
    assert_eq!(
        out,
        vec![
            Action::Send(pkt(packet::ACK, EPOCH1)),
            Action::StartServer(1),
            Action::CommitRequest(txn(EPOCH1 | 3)),
            Action::CommitRequest(txn(EPOCH1 | 4)),
            Action::Serve,
        ]
    );
    assert_eq!(feed(&mut c, with_txn(packet::INFORM, EPOCH1 | 5)), vec![Action::CommitRequest(txn(EPOCH1 | 5))]);
    assert!(feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 6)).is_empty());
    assert!(feed(&mut c, pkt(packet::COMMIT, EPOCH1 | 6)).is_empty());
}

#[test]
fn an_observer_applies_informs_before_newleader_after_a_snap() {
    let mut c = registered(observer());
    feed(&mut c, pkt(packet::SNAP, 0));
    c.snapshot_installed().unwrap();
    assert_eq!(feed(&mut c, with_txn(packet::INFORM, EPOCH1 | 1)), vec![Action::Apply(txn(EPOCH1 | 1))]);
}

#[test]
fn the_sync_must_start_with_diff_trunc_or_snap() {
    let mut c = registered(follower());
    assert!(c.packet(with_txn(packet::PROPOSAL, EPOCH1 | 1)).is_err());
}

#[test]
fn completions_nobody_asked_for_are_errors() {
    let mut c = registered(follower());
    assert!(c.snapshot_installed().is_err());
    assert!(c.snapshot_taken().is_err());
    assert!(c.txns_durable().is_err());
}

#[test]
fn a_garbled_txn_is_an_error_not_a_panic() {
    let mut c = registered(follower());
    feed(&mut c, pkt(packet::DIFF, 0));
    let garbled = QuorumPacket { r#type: packet::PROPOSAL, zxid: 1, data: Some(vec![0xff; 3]), authinfo: Vec::new() };
    assert!(c.packet(garbled.clone()).is_err());
    assert!(c.packet(QuorumPacket { data: None, ..garbled }).is_err());
}

#[test]
fn mutation_ack_before_durable_acks_on_arrival() {
    let mut c = registered(follower());
    c.mutate_ack_before_durable();
    feed(&mut c, pkt(packet::DIFF, 0));
    assert_eq!(acks(&feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 1))), vec![EPOCH1 | 1]);
    feed(&mut c, pkt(packet::NEWLEADER, EPOCH1));
    c.txns_durable().unwrap();
    assert_eq!(acks(&feed(&mut c, pkt(packet::UPTODATE, 0))), vec![EPOCH1]);
    let out = feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 2));
    assert_eq!(out, vec![Action::Send(pkt(packet::ACK, EPOCH1 | 2)), Action::LogRequest(txn(EPOCH1 | 2))]);
}

#[test]
fn mutation_forget_to_ack_logged_proposals_acks_only_uptodate() {
    let mut c = registered(follower());
    c.mutate_forget_to_ack_logged_proposals();
    feed(&mut c, pkt(packet::DIFF, 0));
    feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 1));
    feed(&mut c, pkt(packet::NEWLEADER, EPOCH1));
    assert_eq!(acks(&c.txns_durable().unwrap()), vec![EPOCH1]);
    assert_eq!(acks(&feed(&mut c, pkt(packet::UPTODATE, 0))), vec![EPOCH1]);
}

#[test]
fn an_observer_acks_newleader_after_a_diff_without_logging() {
    let mut c = registered(observer());
    feed(&mut c, pkt(packet::DIFF, 0));
    feed(&mut c, with_txn(packet::PROPOSAL, EPOCH1 | 1));
    assert_eq!(
        feed(&mut c, pkt(packet::NEWLEADER, EPOCH1)),
        vec![Action::WriteCurrentEpoch(1), Action::Send(pkt(packet::ACK, EPOCH1))]
    );
}

const CONFIG: &[u8] = b"server.1=h:1:2:participant\nserver.2=h:3:4:participant\nversion=100000001";

fn reconfig_txn(zxid: i64) -> TxnLogEntry {
    TxnLogEntry {
        hdr: TxnHeader { client_id: 0x333, cxid: 1, zxid, time: 0, r#type: op_code::RECONFIG },
        txn: Some(TxnBody::SetData(crate::jute::txn::SetDataTxn {
            path: "/zookeeper/config".into(),
            data: Some(CONFIG.to_vec()),
            version: -1,
        })),
        digest: None,
    }
}

#[test]
fn newleader_config_is_seen_then_activated_at_uptodate() {
    let mut c = registered(follower());
    feed(&mut c, pkt(packet::DIFF, 0));
    let newleader = QuorumPacket { data: Some(CONFIG.to_vec()), ..pkt(packet::NEWLEADER, EPOCH1) };
    assert_eq!(feed(&mut c, newleader), vec![Action::SeeConfig(CONFIG.to_vec()), Action::LogAndSync(Vec::new())]);
    c.txns_durable().unwrap();
    let actions = feed(&mut c, pkt(packet::UPTODATE, 0));
    assert_eq!(actions[0], Action::ActivateConfig { config: CONFIG.to_vec(), leader: None, zxid: None });
}

#[test]
fn a_reconfig_is_seen_when_proposed_and_activated_by_its_commit() {
    let mut c = serving_follower();
    let e = reconfig_txn(EPOCH1 | 1);
    let proposal = QuorumPacket { data: Some(e.to_bytes()), ..pkt(packet::PROPOSAL, EPOCH1 | 1) };
    assert_eq!(feed(&mut c, proposal), vec![Action::SeeConfig(CONFIG.to_vec()), Action::LogRequest(e.clone())]);
    let commit = QuorumPacket { data: Some(2i64.to_be_bytes().to_vec()), ..pkt(packet::COMMITANDACTIVATE, EPOCH1 | 1) };
    assert_eq!(
        feed(&mut c, commit),
        vec![Action::ActivateConfig { config: CONFIG.to_vec(), leader: Some(2), zxid: Some(EPOCH1 | 1) }, Action::Commit(e)]
    );
    // Without the designated leader the packet is refused.
    assert!(c.packet(pkt(packet::COMMITANDACTIVATE, EPOCH1 | 2)).is_err());
}

#[test]
fn an_observer_commits_then_activates_an_informed_reconfig() {
    let mut c = registered(observer());
    feed(&mut c, pkt(packet::DIFF, 0));
    feed(&mut c, pkt(packet::NEWLEADER, EPOCH1));
    feed(&mut c, pkt(packet::UPTODATE, 0));
    let e = reconfig_txn(EPOCH1 | 1);
    let mut data = 3i64.to_be_bytes().to_vec();
    data.extend(e.to_bytes());
    let inform = QuorumPacket { data: Some(data), ..pkt(packet::INFORMANDACTIVATE, EPOCH1 | 1) };
    assert_eq!(
        feed(&mut c, inform),
        vec![Action::CommitRequest(e), Action::ActivateConfig { config: CONFIG.to_vec(), leader: Some(3), zxid: Some(EPOCH1 | 1) }]
    );
    let short = QuorumPacket { data: Some(vec![0, 0, 3]), ..pkt(packet::INFORMANDACTIVATE, EPOCH1 | 2) };
    assert!(c.packet(short).is_err(), "a truncated packet is an error, not a panic");
}
