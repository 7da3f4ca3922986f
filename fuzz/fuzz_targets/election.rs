//! The election port's bytes: the initial message a connecting peer sends
//! (`InitialMessage::read_from`), and a notification as the WorkerReceiver
//! parses it (`Notification::parse`, the membership's version, the state).

#![no_main]

use libfuzzer_sys::fuzz_target;
use zkserver::quorum::fast_leader_election::Notification;
use zkserver::quorum::quorum_cnx_manager::InitialMessage;
use zkserver::quorum::quorum_maj::version_of_config_string;
use zkserver::quorum::vote::ServerState;
use zkserver_fuzz::set_alloc_limit;

fuzz_target!(|data: &[u8]| {
    // The initial message's addresses and a notification (a frame of at
    // most 512 KiB) are read whole.
    set_alloc_limit(512 * 1024 + 64 * 1024);
    let _ = InitialMessage::read_from(&mut &data[..]);
    if let Ok(n) = Notification::parse(data, 1) {
        let _ = n.config.as_deref().and_then(version_of_config_string);
        let _ = ServerState::from_wire(n.state);
    }
});
