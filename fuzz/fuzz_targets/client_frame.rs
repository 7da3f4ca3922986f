//! Client bytes through the server's request path: the frames of one
//! connection, split by their length prefix as the NIO worker splits them;
//! the first is the ConnectRequest (`process_connect_request_to`), the rest
//! go through `process_packet_to` (header, auth, SASL) into
//! PrepRequestProcessor and FinalRequestProcessor, run inline on a fresh
//! server so that every input starts from the same empty tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock, Weak};
use zkserver::server::command::four_letter_word;
use zkserver::server::final_request_processor::FinalRequestProcessor;
use zkserver::server::nio_server_cnxn::NioServerCnxn;
use zkserver::server::nio_server_cnxn_factory::CnxnSlot;
use zkserver::server::prep_request_processor::PrepRequestProcessor;
use zkserver::server::request_processor::RequestProcessor;
use zkserver::server::server_cnxn::ServerCnxn;
use zkserver::jute::max_buffer;
use zkserver_fuzz::{fresh_server, server_settings, set_alloc_limit};

/// A connected loopback socket for the connections to stand on; nothing
/// is read from it or written to it (replies stay queued).
struct Loopback {
    sock: TcpStream,
    remote: SocketAddr,
    _listener: TcpListener,
}

fn loopback() -> &'static Loopback {
    static L: OnceLock<Loopback> = OnceLock::new();
    L.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let sock = TcpStream::connect(listener.local_addr().expect("local addr")).expect("connect loopback");
        let remote = sock.local_addr().expect("local addr");
        Loopback { sock, remote, _listener: listener }
    })
}

fuzz_target!(|data: &[u8]| {
    // A frame is at most jute.maxbuffer; the server copies it once.
    set_alloc_limit(max_buffer() + 64 * 1024);
    let l = loopback();
    let zks = fresh_server();
    let sock = l.sock.try_clone().expect("dup the loopback socket");
    let cnxn: Arc<dyn ServerCnxn> = NioServerCnxn::new(
        1,
        sock,
        l.remote,
        Weak::new(),
        Weak::new(),
        Arc::clone(&zks),
        &server_settings().nio,
        CnxnSlot::uncounted(l.remote.ip()),
        None,
    );
    let next: Arc<dyn RequestProcessor> = Arc::new(FinalRequestProcessor::new(Arc::clone(&zks)));
    let submit = |req| PrepRequestProcessor::process_now(&zks, &next, req);
    let max = max_buffer();
    let mut rest = data;
    let mut first = true;
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = i32::from_be_bytes(*len);
        if first && four_letter_word(len).is_some() {
            break;
        }
        let Some(frame) = usize::try_from(len).ok().filter(|n| *n <= max).and_then(|n| tail.get(..n)) else {
            break;
        };
        rest = &tail[frame.len()..];
        let res = if first {
            zks.process_connect_request_to(&cnxn, frame, submit)
        } else {
            zks.process_packet_to(&cnxn, frame, submit)
        };
        first = false;
        if res.is_err() || cnxn.is_stale() {
            break;
        }
    }
    // Drops the connection's watches, which hold it (and so the server).
    cnxn.close("end of input");
});
