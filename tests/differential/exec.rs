//! Runs scenarios against one server and writes each as a normalised
//! transcript: one line per request and reply, one per watch event, with
//! zxids, session ids and times replaced by placeholders so that two servers
//! doing the same thing print the same lines.
//!
//! Runs on the test thread that owns the `Runner`; each server gets its own
//! thread and runs its scenarios one after another (so the zxid a read's
//! reply header carries, the server's newest, is the same on both sides).

use crate::common::{Flavor, ServerOpts, TestServer};
use crate::script::{perm_letters, Group, Rel, Req, Scenario, Step};
use std::collections::HashMap;
use std::io;
use std::time::Duration;
use zkserver::client::{code_name, ConnectOptions, Reply, ZkClient};
use zkserver::jute::multi::{MultiOperationRecord, MultiResponse, Op, OpResult};
use zkserver::jute::records::*;
use zkserver::jute::{InputArchive, OutputArchive, Record};
use zkserver::watcher::WatchedEvent;
use zkserver::zoo_defs::{ids, op_code, xid, CreateMode};

/// The session timeout every scenario session asks for.
pub const SESSION_TIMEOUT_MS: i32 = 30000;
/// How long a request may wait for its reply before the transcript says so.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// jute.maxbuffer of every test server: small, so the size checks are cheap
/// to reach.
pub const MAX_BUFFER: usize = 65536;
/// The password whose digest is the super digest of every test server.
pub const SUPER_AUTH: &str = "super:secret";

/// The configuration of a server group; the same for both flavors.
pub fn server_opts(group: Group) -> ServerOpts {
    let super_digest = zkserver::server::auth::digest_authentication_provider::generate_digest(SUPER_AUTH);
    let mut o = ServerOpts::default()
        .cfg("forceSync", "no")
        .prop("jute.maxbuffer", &MAX_BUFFER.to_string())
        .prop("zookeeper.DigestAuthenticationProvider.superDigest", &super_digest)
        // Container and TTL sweeps run on a timer; keep them out of the
        // run so that every zxid comes from a scenario step.
        .prop("znode.container.checkIntervalMs", "3600000");
    match group {
        Group::Std => {}
        Group::Ext => o = o.prop("zookeeper.extendedTypesEnabled", "true"),
        Group::SkipAcl => o = o.prop("zookeeper.skipACL", "yes"),
    }
    o
}

/// One server plus the session that creates each scenario's subtree.
pub struct Runner {
    pub server: TestServer,
    admin: ZkClient,
    scenarios_run: usize,
    /// Set once the admin session has failed (reported once).
    admin_lost: bool,
}

impl Runner {
    pub fn start(flavor: Flavor, group: Group) -> Runner {
        let server = TestServer::start_with(flavor, server_opts(group));
        let admin = server.client();
        // Super, so that the final walk reads every node whatever its ACL.
        admin.add_auth("digest", SUPER_AUTH.as_bytes()).expect("super auth");
        Runner { server, admin, scenarios_run: 0, admin_lost: false }
    }

    /// Every node of the server with its data and normalised Stat, in path
    /// order: what all the scenarios left behind.
    pub fn final_tree(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut all = Vec::new();
        let mut level = vec!["/".to_string()];
        while !level.is_empty() {
            let replies = self.pipelined_reads(op_code::GET_CHILDREN, &level);
            let mut next = Vec::new();
            for (path, reply) in level.iter().zip(replies) {
                match reply.and_then(|b| GetChildrenResponse::from_bytes(&b).map_err(|e| e.to_string())) {
                    Ok(r) => next.extend(r.children.iter().map(|c| {
                        if path == "/" {
                            format!("/{c}")
                        } else {
                            format!("{path}/{c}")
                        }
                    })),
                    Err(e) => out.push(format!("{path}: getChildren failed: {e}")),
                }
            }
            all.append(&mut level);
            level = next;
        }
        all.sort();
        let mut norm = Norm::new("\0");
        for (path, reply) in all.iter().zip(self.pipelined_reads(op_code::GET_DATA, &all)) {
            match reply.and_then(|b| GetDataResponse::from_bytes(&b).map_err(|e| e.to_string())) {
                Ok(r) => out.push(format!("{path} data={} stat={}", show_data(&r.data), norm.stat(&r.stat))),
                Err(e) => out.push(format!("{path}: getData failed: {e}")),
            }
        }
        out
    }

    /// One read (getChildren or getData, no watch) per path, pipelined on
    /// the admin session; each reply's body, or why there is none.
    fn pipelined_reads(&self, op: i32, paths: &[String]) -> Vec<Result<Vec<u8>, String>> {
        let mut xids = Vec::new();
        for p in paths {
            // GetChildrenRequest has the same two fields.
            let body = GetDataRequest { path: p.clone(), watch: false }.to_bytes();
            match self.admin.send_bytes(op, &body) {
                Ok(x) => xids.push(x),
                Err(e) => return paths.iter().map(|_| Err(format!("send: {e}"))).collect(),
            }
        }
        xids.iter()
            .map(|&x| match self.admin.recv() {
                Ok(r) if r.header.xid != x => Err(format!("reply xid {} for {x}", r.header.xid)),
                Ok(r) if r.header.err != 0 => Err(code_name(r.header.err)),
                Ok(r) => Ok(r.body),
                Err(e) => Err(e.to_string()),
            })
            .collect()
    }

    /// Runs one scenario in a fresh subtree; returns its transcript.
    pub fn run(&mut self, sc: &Scenario) -> Vec<String> {
        self.scenarios_run += 1;
        let root = format!("/s{}", self.scenarios_run);
        let mut out = Vec::new();
        if let Err(e) = self.admin.create(&root, None, &ids::open_acl_unsafe(), CreateMode::Persistent) {
            out.push(format!("!! cannot create the scenario root {root}: {e}"));
            if !self.admin_lost {
                self.admin_lost = true;
                eprintln!(
                    "{:?} server lost its admin session before {}: {e}; log:\n{}",
                    self.server.flavor,
                    sc.name,
                    self.server.log_tail(40)
                );
            }
            return out;
        }
        let mut ex = Exec { addr: self.server.addr(), norm: Norm::new(&root), sessions: Vec::new(), out };
        for step in &sc.steps {
            ex.step(step);
            ex.barrier();
        }
        ex.cleanup();
        ex.out
    }
}

/// A scenario session: its current connection, if any, and what a
/// reconnect needs.
struct Sess {
    client: Option<ZkClient>,
    id: i64,
    passwd: Vec<u8>,
    last_zxid: i64,
    closed: bool,
    /// This step already had a probe answered (see `pipelined`).
    probed: bool,
    /// The server closed the connection during this step.
    lost: bool,
    /// Events read off a connection that is gone, not yet written out.
    events: Vec<WatchedEvent>,
}

struct Exec {
    addr: String,
    norm: Norm,
    sessions: Vec<Sess>,
    out: Vec<String>,
}

impl Exec {
    fn sess(&mut self, s: usize) -> &mut Sess {
        while self.sessions.len() <= s {
            self.sessions.push(Sess {
                client: None,
                id: 0,
                passwd: Vec::new(),
                last_zxid: 0,
                closed: false,
                probed: false,
                lost: false,
                events: Vec::new(),
            });
        }
        &mut self.sessions[s]
    }

    fn connect(&mut self, s: usize, opts: &ConnectOptions) -> String {
        match ZkClient::connect_with(self.addr.as_str(), opts) {
            Ok(c) => {
                let line = format!(
                    "timeout={} session={} ro={:?}",
                    c.negotiated_timeout(),
                    self.norm.new_session(c.session_id(), s),
                    c.server_read_only()
                );
                let sess = self.sess(s);
                sess.id = c.session_id();
                sess.passwd = c.session_passwd().to_vec();
                sess.last_zxid = c.last_zxid();
                sess.client = Some(c);
                line
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => "refused (timeout 0)".to_string(),
            Err(e) => format!("connection failed: {}", io_kind(&e)),
        }
    }

    fn options(read_only: Option<bool>, last_zxid: i64) -> ConnectOptions {
        let mut o = ConnectOptions::new(SESSION_TIMEOUT_MS);
        o.read_only = read_only;
        o.last_zxid_seen = last_zxid;
        o.reply_timeout = REPLY_TIMEOUT;
        o
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Connect { s, read_only, last_zxid } => {
                let r = self.connect(*s, &Self::options(*read_only, *last_zxid));
                let lz = if *last_zxid == 0 { String::new() } else { format!(" lastZxid={last_zxid:#x}") };
                self.out.push(format!("s{s}> connect ro={read_only:?}{lz} => {r}"));
            }
            Step::Req { s, req } => {
                let line = format!("s{s}> {}", self.norm.describe(req));
                let result = self.one(*s, req);
                self.out.push(format!("{line} => {result}"));
            }
            Step::Pipeline { s, reqs } => self.pipeline(*s, reqs),
            Step::Disconnect { s } => {
                self.drop_connection(*s);
                self.out.push(format!("s{s}> disconnect"));
            }
            Step::Reconnect { s, bad_passwd } => {
                self.drop_connection(*s);
                let sess = self.sess(*s);
                let mut o = Self::options(Some(false), sess.last_zxid);
                o.session_id = sess.id;
                o.passwd = sess.passwd.clone();
                if *bad_passwd {
                    if let Some(b) = o.passwd.first_mut() {
                        *b ^= 0xff;
                    }
                }
                let r = self.connect(*s, &o);
                // No probe now: its reply would raise the zxid this client
                // has seen, and a setWatches that follows must report the
                // one from before the disconnect, as a real client does.
                self.sess(*s).probed = true;
                self.out.push(format!("s{s}> reconnect bad_passwd={bad_passwd} => {r}"));
            }
            Step::ResumeUnknown { s } => {
                let mut o = Self::options(Some(false), 0);
                o.session_id = 0x0123_4567_89ab_cdef;
                o.passwd = vec![0; 16];
                let r = match ZkClient::connect_with(self.addr.as_str(), &o) {
                    Ok(c) => format!("accepted timeout={}", c.negotiated_timeout()),
                    Err(e) if e.kind() == io::ErrorKind::PermissionDenied => "refused (timeout 0)".into(),
                    Err(e) => format!("connection failed: {}", io_kind(&e)),
                };
                self.out.push(format!("s{s}> resume an unknown session => {r}"));
            }
            Step::Close { s } => {
                let result = match self.sess(*s).client.take() {
                    None => "not connected".to_string(),
                    Some(c) => {
                        let r = c.submit_bytes(op_code::CLOSE_SESSION, &[]);
                        c.disconnect();
                        while let Some(ev) = c.next_event(Duration::ZERO) {
                            self.sess(*s).events.push(ev);
                        }
                        match r {
                            Ok(reply) => self.norm.header(&reply.header),
                            Err(e) => format!("connection failed: {}", io_kind(&e)),
                        }
                    }
                };
                self.sess(*s).closed = true;
                self.out.push(format!("s{s}> closeSession => {result}"));
            }
        }
    }

    /// Closes our side of session `s`'s connection, keeping the events
    /// that arrived on it.
    fn drop_connection(&mut self, s: usize) {
        let sess = self.sess(s);
        if let Some(c) = sess.client.take() {
            sess.last_zxid = sess.last_zxid.max(c.last_zxid());
            c.disconnect();
            while let Some(ev) = c.next_event(Duration::ZERO) {
                sess.events.push(ev);
            }
        }
    }

    /// Sends `req` on session `s`; returns its xid (or why it could not).
    fn send(&mut self, s: usize, req: &Req) -> Result<i32, String> {
        let req = self.expand_req(req);
        let last_zxid = self.sess(s).last_zxid;
        let Some(c) = self.sess(s).client.as_ref() else {
            return Err("not connected".into());
        };
        let (xid, op, body) = encode(&req, c.last_zxid().max(last_zxid));
        let sent = match xid {
            Some(x) => c.send_with_xid(x, op, &body).map(|_| x),
            None => c.send_bytes(op, &body),
        };
        sent.map_err(|e| format!("send failed: {}", io_kind(&e)))
    }

    /// The next reply on session `s`, or a description of what went wrong
    /// (a broken connection is dropped).
    fn recv(&mut self, s: usize) -> Result<Reply, String> {
        let Some(c) = self.sess(s).client.as_ref() else {
            return Err("not connected".into());
        };
        match c.recv_timeout(REPLY_TIMEOUT) {
            Ok(r) => Ok(r),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                Err(format!("no reply within {REPLY_TIMEOUT:?}"))
            }
            Err(e) => {
                self.drop_connection(s);
                self.sess(s).lost = true;
                Err(format!("connection {}", io_kind(&e)))
            }
        }
    }

    /// Sends the probe (exists "/" without a watch) that follows every
    /// request: the server answers in order, so the probe's reply arriving
    /// first means the request got none.
    fn send_probe(&mut self, s: usize) -> Option<i32> {
        let c = self.sess(s).client.as_ref()?;
        c.send(op_code::EXISTS, &ExistsRequest { path: "/".into(), watch: false }).ok()
    }

    fn one(&mut self, s: usize, req: &Req) -> String {
        self.pipelined(s, std::slice::from_ref(req)).pop().unwrap_or_default()
    }

    /// Sends the requests and a probe, then reads replies up to the probe's.
    /// Returns one line per request in order: its reply, or why none came.
    /// Auth replies may overtake earlier requests (the server answers them
    /// as it reads them), so replies are matched to requests by xid; the
    /// order of the others is checked separately by `pipeline`.
    fn pipelined(&mut self, s: usize, reqs: &[Req]) -> Vec<String> {
        let mut xids = Vec::new();
        let mut results: Vec<Option<String>> = vec![None; reqs.len()];
        for (i, req) in reqs.iter().enumerate() {
            match self.send(s, req) {
                Ok(x) => xids.push(x),
                Err(e) => {
                    results[i] = Some(e);
                    break;
                }
            }
        }
        // A request the server may close the connection after (a raw one)
        // gets its probe only once its reply is in: whether a probe sent
        // along with it is still answered is a race in both servers.
        let early = xids.len() == reqs.len() && !reqs.iter().any(|r| matches!(r, Req::Raw { .. }));
        let mut probe = if early { self.send_probe(s) } else { None };
        let mut order = Vec::new();
        let mut end = None;
        loop {
            match self.recv(s) {
                Ok(reply) => {
                    if Some(reply.header.xid) == probe {
                        self.sess(s).probed = true;
                        break;
                    }
                    // Auth replies share one xid: the first request still
                    // waiting with that xid gets it.
                    let i = (0..xids.len()).find(|&i| xids[i] == reply.header.xid && results[i].is_none());
                    match i {
                        Some(i) => {
                            results[i] = Some(self.norm.reply(&reqs[i], &reply));
                            if reply.header.xid >= 0 {
                                order.push(i);
                            }
                        }
                        None => order.push(usize::MAX),
                    }
                    if probe.is_none() && results.iter().take(xids.len()).all(Option::is_some) {
                        if early || xids.len() < reqs.len() {
                            break;
                        }
                        probe = self.send_probe(s);
                        if probe.is_none() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    end = Some(e);
                    break;
                }
            }
        }
        let missing = end.unwrap_or_else(|| "no reply (the server answered a later request)".into());
        let mut lines: Vec<String> =
            results.into_iter().map(|r| r.unwrap_or_else(|| missing.clone())).collect();
        if order.windows(2).any(|w| w[0] > w[1]) {
            if let Some(last) = lines.last_mut() {
                last.push_str(&format!(" [replies out of order: {order:?}]"));
            }
        }
        lines
    }

    /// Sends all, then reads all replies (see `pipelined`).
    fn pipeline(&mut self, s: usize, reqs: &[Req]) {
        let described: Vec<String> = reqs.iter().map(|r| self.norm.describe(r)).collect();
        let results = self.pipelined(s, reqs);
        for (i, (d, r)) in described.iter().zip(results).enumerate() {
            self.out.push(format!("s{s}> [{i}] {d} => {r}"));
        }
    }

    /// Makes every connected session round-trip one request, then records
    /// the watch events that arrived before its reply. The server sends a
    /// notification before the reply to any later request of the same
    /// connection, so this catches every event the last step caused.
    fn barrier(&mut self) {
        for s in 0..self.sessions.len() {
            if let Some(c) = self.sessions[s].client.as_ref() {
                if !self.sessions[s].probed
                    && c.submit(op_code::EXISTS, &ExistsRequest { path: "/".into(), watch: false }).is_err()
                {
                    self.drop_connection(s);
                    self.sessions[s].lost = true;
                }
            }
            let sess = &mut self.sessions[s];
            if let Some(c) = sess.client.as_ref() {
                while let Some(ev) = c.next_event(Duration::ZERO) {
                    sess.events.push(ev);
                }
            }
            sess.probed = false;
            let lost = std::mem::take(&mut sess.lost);
            for ev in std::mem::take(&mut sess.events) {
                let line = format!(
                    "s{s}  event {} state={} path={} zxid={}",
                    event_name(ev.event_type),
                    ev.state,
                    self.norm.path(&ev.path),
                    self.norm.zxid(ev.zxid)
                );
                self.out.push(line);
            }
            if lost {
                self.out.push(format!("s{s}  connection closed by the server"));
            }
        }
    }

    /// Closes every session the scenario left open (reconnecting if its
    /// connection is gone), so none expires during a later scenario.
    fn cleanup(&mut self) {
        for s in 0..self.sessions.len() {
            if self.sessions[s].closed || self.sessions[s].id == 0 {
                continue;
            }
            let client = match self.sessions[s].client.take() {
                Some(c) => Some(c),
                None => {
                    let sess = &self.sessions[s];
                    let mut o = Self::options(Some(false), sess.last_zxid);
                    o.session_id = sess.id;
                    o.passwd = sess.passwd.clone();
                    ZkClient::connect_with(self.addr.as_str(), &o).ok()
                }
            };
            if let Some(c) = client {
                let _ = c.close();
            }
        }
    }
}

/// How an I/O failure reads in a transcript: the several ways a socket
/// reports that the peer closed it are one ("closed"), as which one a
/// client sees depends on timing.
fn io_kind(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => "closed".into(),
        k => format!("{k:?}"),
    }
}

/// The xid (None: the next one), opcode and body bytes of a request.
fn encode(req: &Req, last_zxid: i64) -> (Option<i32>, i32, Vec<u8>) {
    match req {
        Req::Create { op, path, data, acl, flags, ttl } => {
            let body = if *op == op_code::CREATE_TTL {
                CreateTtlRequest {
                    path: path.clone(),
                    data: data.clone(),
                    acl: acl.clone(),
                    flags: *flags,
                    ttl: *ttl,
                }
                .to_bytes()
            } else {
                CreateRequest { path: path.clone(), data: data.clone(), acl: acl.clone(), flags: *flags }
                    .to_bytes()
            };
            (None, *op, body)
        }
        Req::Delete { path, version } => {
            (None, op_code::DELETE, DeleteRequest { path: path.clone(), version: *version }.to_bytes())
        }
        Req::Exists { path, watch } => {
            (None, op_code::EXISTS, ExistsRequest { path: path.clone(), watch: *watch }.to_bytes())
        }
        Req::GetData { path, watch } => {
            (None, op_code::GET_DATA, GetDataRequest { path: path.clone(), watch: *watch }.to_bytes())
        }
        Req::SetData { path, data, version } => (
            None,
            op_code::SET_DATA,
            SetDataRequest { path: path.clone(), data: data.clone(), version: *version }.to_bytes(),
        ),
        Req::GetAcl { path } => (None, op_code::GET_ACL, GetAclRequest { path: path.clone() }.to_bytes()),
        Req::SetAcl { path, acl, version } => (
            None,
            op_code::SET_ACL,
            SetAclRequest { path: path.clone(), acl: acl.clone(), version: *version }.to_bytes(),
        ),
        Req::GetChildren { path, watch } => {
            (None, op_code::GET_CHILDREN, GetChildrenRequest { path: path.clone(), watch: *watch }.to_bytes())
        }
        Req::GetChildren2 { path, watch } => (
            None,
            op_code::GET_CHILDREN2,
            GetChildren2Request { path: path.clone(), watch: *watch }.to_bytes(),
        ),
        Req::Check { path, version } => {
            (None, op_code::CHECK, CheckVersionRequest { path: path.clone(), version: *version }.to_bytes())
        }
        Req::Sync { path } => (None, op_code::SYNC, SyncRequest { path: path.clone() }.to_bytes()),
        Req::Multi(ops) => (None, op_code::MULTI, multi_body(ops)),
        Req::MultiRead(ops) => (None, op_code::MULTI_READ, multi_body(ops)),
        Req::AddWatch { path, mode } => {
            (None, op_code::ADD_WATCH, AddWatchRequest { path: path.clone(), mode: *mode }.to_bytes())
        }
        Req::CheckWatches { path, wtype } => (
            None,
            op_code::CHECK_WATCHES,
            CheckWatchesRequest { path: path.clone(), r#type: *wtype }.to_bytes(),
        ),
        Req::RemoveWatches { path, wtype } => (
            None,
            op_code::REMOVE_WATCHES,
            RemoveWatchesRequest { path: path.clone(), r#type: *wtype }.to_bytes(),
        ),
        Req::SetWatches { v2, rel, data, exist, child, persistent, recursive } => {
            let relative_zxid = match rel {
                Rel::LastSeen => last_zxid,
                Rel::Zero => 0,
            };
            if *v2 {
                let r = SetWatches2 {
                    relative_zxid,
                    data_watches: data.clone(),
                    exist_watches: exist.clone(),
                    child_watches: child.clone(),
                    persistent_watches: persistent.clone(),
                    persistent_recursive_watches: recursive.clone(),
                };
                (Some(xid::SET_WATCHES), op_code::SET_WATCHES2, r.to_bytes())
            } else {
                let r = SetWatches {
                    relative_zxid,
                    data_watches: data.clone(),
                    exist_watches: exist.clone(),
                    child_watches: child.clone(),
                };
                (Some(xid::SET_WATCHES), op_code::SET_WATCHES, r.to_bytes())
            }
        }
        Req::GetEphemerals { prefix } => {
            (None, op_code::GET_EPHEMERALS, GetEphemeralsRequest { prefix_path: prefix.clone() }.to_bytes())
        }
        Req::GetAllChildrenNumber { path } => (
            None,
            op_code::GET_ALL_CHILDREN_NUMBER,
            GetAllChildrenNumberRequest { path: path.clone() }.to_bytes(),
        ),
        Req::WhoAmI => (None, op_code::WHO_AM_I, Vec::new()),
        Req::Auth { scheme, auth } => (
            Some(xid::AUTH),
            op_code::AUTH,
            AuthPacket { r#type: 0, scheme: scheme.clone(), auth: auth.clone() }.to_bytes(),
        ),
        Req::Sasl { token } => (None, op_code::SASL, GetSaslRequest { token: token.clone() }.to_bytes()),
        Req::Raw { op, body } => (None, *op, body.clone()),
    }
}

fn multi_body(ops: &[Op]) -> Vec<u8> {
    let mut oa = OutputArchive::new();
    MultiOperationRecord { ops: ops.to_vec() }.serialize(&mut oa);
    oa.into_inner()
}

fn event_name(t: i32) -> String {
    match t {
        -1 => "None".into(),
        1 => "NodeCreated".into(),
        2 => "NodeDeleted".into(),
        3 => "NodeDataChanged".into(),
        4 => "NodeChildrenChanged".into(),
        5 => "DataWatchRemoved".into(),
        6 => "ChildWatchRemoved".into(),
        7 => "PersistentWatchRemoved".into(),
        other => format!("type{other}"),
    }
}

/// Placeholders: zxids as Z1, Z2... in order of first appearance; session
/// ids as S<n> after the scenario session that owns them (S? for one the
/// scenario never opened); times as T; the scenario root as `~`.
struct Norm {
    root: String,
    zxids: HashMap<i64, usize>,
    sessions: HashMap<i64, String>,
}

impl Norm {
    fn new(root: &str) -> Norm {
        Norm { root: root.to_string(), zxids: HashMap::new(), sessions: HashMap::new() }
    }

    fn new_session(&mut self, id: i64, s: usize) -> String {
        self.sessions.entry(id).or_insert_with(|| format!("S{s}")).clone()
    }

    fn zxid(&mut self, z: i64) -> String {
        if z <= 0 {
            return z.to_string();
        }
        let n = self.zxids.len() + 1;
        format!("Z{}", self.zxids.entry(z).or_insert(n))
    }

    fn time(t: i64) -> &'static str {
        if t == 0 {
            "0"
        } else {
            "T"
        }
    }

    /// ephemeralOwner: 0, a session placeholder, or the raw value when it
    /// encodes a node type (container: i64::MIN; TTL: high byte 0xff).
    fn owner(&self, o: i64) -> String {
        if o == 0 {
            "0".into()
        } else if o == i64::MIN || (o as u64) >> 56 == 0xff {
            format!("{:#x}", o as u64)
        } else {
            self.sessions.get(&o).cloned().unwrap_or_else(|| "S?".into())
        }
    }

    fn path(&self, p: &str) -> String {
        match p.strip_prefix(self.root.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("~{rest}"),
            _ => p.to_string(),
        }
    }

    /// `~` in a scenario path stands for the root.
    fn expand(&self, p: &str) -> String {
        match p.strip_prefix('~') {
            Some(rest) => format!("{}{rest}", self.root),
            None => p.to_string(),
        }
    }

    fn stat(&mut self, st: &Stat) -> String {
        format!(
            "{{czxid={} mzxid={} pzxid={} ctime={} mtime={} v={} cv={} av={} owner={} len={} nc={}}}",
            self.zxid(st.czxid),
            self.zxid(st.mzxid),
            self.zxid(st.pzxid),
            Self::time(st.ctime),
            Self::time(st.mtime),
            st.version,
            st.cversion,
            st.aversion,
            self.owner(st.ephemeral_owner),
            st.data_length,
            st.num_children
        )
    }

    fn header(&mut self, h: &ReplyHeader) -> String {
        let err = if h.err == 0 { "OK".to_string() } else { format!("{}({})", code_name(h.err), h.err) };
        format!("{err} zxid={}", self.zxid(h.zxid))
    }

    fn names(&self, v: Vec<String>) -> String {
        // Java keeps children and ephemerals in hash sets and lists them in
        // their iteration order, which zkserver reproduces: the order is
        // compared too.
        let v: Vec<String> = v.iter().map(|p| self.path(p)).collect();
        format!("[{}]", v.join(","))
    }

    fn describe(&self, req: &Req) -> String {
        match req {
            Req::Create { op, path, data, acl, flags, ttl } => {
                let ttl = if *op == op_code::CREATE_TTL { format!(" ttl={ttl}") } else { String::new() };
                format!(
                    "{} {path} data={} acl={} flags={flags}{ttl}",
                    op_code::name(*op),
                    show_data(data),
                    show_acl(acl)
                )
            }
            Req::Delete { path, version } => format!("delete {path} v={version}"),
            Req::Exists { path, watch } => format!("exists {path} watch={watch}"),
            Req::GetData { path, watch } => format!("getData {path} watch={watch}"),
            Req::SetData { path, data, version } => {
                format!("setData {path} data={} v={version}", show_data(data))
            }
            Req::GetAcl { path } => format!("getACL {path}"),
            Req::SetAcl { path, acl, version } => {
                format!("setACL {path} acl={} v={version}", show_acl(acl))
            }
            Req::GetChildren { path, watch } => format!("getChildren {path} watch={watch}"),
            Req::GetChildren2 { path, watch } => format!("getChildren2 {path} watch={watch}"),
            Req::Check { path, version } => format!("check {path} v={version}"),
            Req::Sync { path } => format!("sync {path}"),
            Req::Multi(ops) => format!("multi [{}]", describe_ops(ops)),
            Req::MultiRead(ops) => format!("multiRead [{}]", describe_ops(ops)),
            Req::AddWatch { path, mode } => format!("addWatch {path} mode={mode}"),
            Req::CheckWatches { path, wtype } => format!("checkWatches {path} type={wtype}"),
            Req::RemoveWatches { path, wtype } => format!("removeWatches {path} type={wtype}"),
            Req::SetWatches { v2, rel, data, exist, child, persistent, recursive } => {
                let mut s = format!(
                    "{} rel={rel:?} data={data:?} exist={exist:?} child={child:?}",
                    if *v2 { "setWatches2" } else { "setWatches" }
                );
                if *v2 {
                    s.push_str(&format!(" persistent={persistent:?} recursive={recursive:?}"));
                }
                s
            }
            Req::GetEphemerals { prefix } => format!("getEphemerals {prefix:?}"),
            Req::GetAllChildrenNumber { path } => format!("getAllChildrenNumber {path}"),
            Req::WhoAmI => "whoAmI".into(),
            Req::Auth { scheme, auth } => format!("auth {scheme} {}", show_bytes(auth)),
            Req::Sasl { token } => format!("sasl token={}", show_bytes(token)),
            Req::Raw { op, body } => format!("raw op={op} body={}", show_bytes(body)),
        }
    }

    /// A reply, decoded as the request's answer.
    fn reply(&mut self, req: &Req, reply: &Reply) -> String {
        if matches!(req, Req::Raw { op, .. } if *op == op_code::CREATE_SESSION) {
            // Both servers answer this one with a connect response, whose
            // timeout, session id and password fill the "header".
            return format!("a {}-byte frame", 16 + reply.body.len());
        }
        let mut line = self.header(&reply.header);
        if reply.body.is_empty() {
            return line;
        }
        let mut ia = InputArchive::new(&reply.body);
        let body = if reply.header.err != 0 && !matches!(req, Req::Multi(_) | Req::MultiRead(_)) {
            // Java sends no body with an error; say so if one comes.
            Err("a body with an error".to_string())
        } else {
            self.body(req, &mut ia).map_err(|e| format!("undecodable body: {e}"))
        };
        match body {
            Ok(b) => {
                if !b.is_empty() {
                    line.push(' ');
                    line.push_str(&b);
                }
                if ia.remaining() > 0 {
                    line.push_str(&format!(" +{} trailing bytes", ia.remaining()));
                }
            }
            Err(e) => {
                line.push_str(&format!(" {e} ({} bytes: {})", reply.body.len(), show_bytes(&reply.body)))
            }
        }
        line
    }

    fn body(&mut self, req: &Req, ia: &mut InputArchive<'_>) -> Result<String, String> {
        let e = |e: zkserver::jute::JuteError| e.to_string();
        Ok(match req {
            Req::Create { op, .. } if *op == op_code::CREATE => {
                format!("path={}", self.path(&CreateResponse::deserialize(ia).map_err(e)?.path))
            }
            Req::Create { .. } => {
                let r = Create2Response::deserialize(ia).map_err(e)?;
                format!("path={} stat={}", self.path(&r.path), self.stat(&r.stat))
            }
            Req::Exists { .. } | Req::SetData { .. } | Req::SetAcl { .. } => {
                format!("stat={}", self.stat(&Stat::deserialize(ia).map_err(e)?))
            }
            Req::GetData { .. } => {
                let r = GetDataResponse::deserialize(ia).map_err(e)?;
                format!("data={} stat={}", show_data(&r.data), self.stat(&r.stat))
            }
            Req::GetAcl { .. } => {
                let r = GetAclResponse::deserialize(ia).map_err(e)?;
                format!("acl={} stat={}", show_acl(&r.acl), self.stat(&r.stat))
            }
            Req::GetChildren { .. } => self.names(GetChildrenResponse::deserialize(ia).map_err(e)?.children),
            Req::GetChildren2 { .. } => {
                let r = GetChildren2Response::deserialize(ia).map_err(e)?;
                format!("{} stat={}", self.names(r.children), self.stat(&r.stat))
            }
            Req::Sync { .. } => {
                format!("path={}", self.path(&SyncResponse::deserialize(ia).map_err(e)?.path))
            }
            Req::Multi(_) | Req::MultiRead(_) => {
                let r = MultiResponse::deserialize(ia).map_err(|m| format!("{m:?}"))?;
                let parts: Vec<String> = r.results.iter().map(|res| self.op_result(res)).collect();
                format!("[{}]", parts.join(" | "))
            }
            Req::GetEphemerals { .. } => {
                self.names(GetEphemeralsResponse::deserialize(ia).map_err(e)?.ephemerals)
            }
            Req::GetAllChildrenNumber { .. } => {
                format!("total={}", GetAllChildrenNumberResponse::deserialize(ia).map_err(e)?.total_number)
            }
            Req::WhoAmI => {
                let r = WhoAmIResponse::deserialize(ia).map_err(e)?;
                let mut v: Vec<String> =
                    r.client_info.iter().map(|c| format!("{}:{}", c.auth_scheme, c.user)).collect();
                v.sort();
                format!("[{}]", v.join(","))
            }
            Req::Sasl { .. } => {
                format!("token={}", show_bytes(&SetSaslResponse::deserialize(ia).map_err(e)?.token))
            }
            Req::AddWatch { .. } => format!("err={}", ErrorResponse::deserialize(ia).map_err(e)?.err),
            Req::Delete { .. }
            | Req::Check { .. }
            | Req::CheckWatches { .. }
            | Req::RemoveWatches { .. }
            | Req::SetWatches { .. }
            | Req::Auth { .. }
            | Req::Raw { .. } => String::new(),
        })
    }

    fn op_result(&mut self, r: &OpResult) -> String {
        match r {
            OpResult::Create { path } => format!("create {}", self.path(path)),
            OpResult::Create2 { path, stat } => {
                format!("create2 {} {}", self.path(path), self.stat(stat))
            }
            OpResult::Delete => "delete".into(),
            OpResult::SetData { stat } => format!("setData {}", self.stat(stat)),
            OpResult::Check => "check".into(),
            OpResult::GetChildren { children } => {
                format!("getChildren {}", self.names(children.clone()))
            }
            OpResult::GetData { data, stat } => {
                format!("getData {} {}", show_data(data), self.stat(stat))
            }
            OpResult::Error { err } => format!("error {}({err})", code_name(*err)),
        }
    }
}

impl Exec {
    /// Paths in a scenario are written with `~` for its root; the request
    /// actually sent has them expanded.
    fn expand_req(&self, req: &Req) -> Req {
        let x = |p: &String| self.norm.expand(p);
        let xs = |v: &Vec<String>| v.iter().map(|p| self.norm.expand(p)).collect::<Vec<_>>();
        let mut r = req.clone();
        match &mut r {
            Req::Create { path, .. }
            | Req::Delete { path, .. }
            | Req::Exists { path, .. }
            | Req::GetData { path, .. }
            | Req::SetData { path, .. }
            | Req::GetAcl { path }
            | Req::SetAcl { path, .. }
            | Req::GetChildren { path, .. }
            | Req::GetChildren2 { path, .. }
            | Req::Check { path, .. }
            | Req::Sync { path }
            | Req::AddWatch { path, .. }
            | Req::CheckWatches { path, .. }
            | Req::RemoveWatches { path, .. }
            | Req::GetAllChildrenNumber { path } => *path = x(path),
            Req::GetEphemerals { prefix } => *prefix = x(prefix),
            Req::Multi(ops) | Req::MultiRead(ops) => {
                for op in ops.iter_mut() {
                    match op {
                        Op::Create { req, .. } => req.path = x(&req.path),
                        Op::Delete(q) => q.path = x(&q.path),
                        Op::SetData(q) => q.path = x(&q.path),
                        Op::Check(q) => q.path = x(&q.path),
                        Op::GetChildren(q) => q.path = x(&q.path),
                        Op::GetData(q) => q.path = x(&q.path),
                    }
                }
            }
            Req::SetWatches { data, exist, child, persistent, recursive, .. } => {
                *data = xs(data);
                *exist = xs(exist);
                *child = xs(child);
                *persistent = xs(persistent);
                *recursive = xs(recursive);
            }
            Req::WhoAmI | Req::Auth { .. } | Req::Sasl { .. } | Req::Raw { .. } => {}
        }
        r
    }
}

fn describe_ops(ops: &[Op]) -> String {
    let v: Vec<String> = ops
        .iter()
        .map(|op| match op {
            Op::Create { op_type, req } => {
                let ttl =
                    if *op_type == op_code::CREATE_TTL { format!(" ttl={}", req.ttl) } else { String::new() };
                format!(
                    "{} {} {} flags={}{ttl}{}",
                    op_code::name(*op_type),
                    req.path,
                    show_data(&req.data),
                    req.flags,
                    if req.acl == ids::open_acl_unsafe() {
                        String::new()
                    } else {
                        format!(" acl={}", show_acl(&req.acl))
                    }
                )
            }
            Op::Delete(q) => format!("delete {} v={}", q.path, q.version),
            Op::SetData(q) => format!("setData {} {} v={}", q.path, show_data(&q.data), q.version),
            Op::Check(q) => format!("check {} v={}", q.path, q.version),
            Op::GetChildren(q) => format!("getChildren {}", q.path),
            Op::GetData(q) => format!("getData {}", q.path),
        })
        .collect();
    v.join("; ")
}

fn show_acl(acl: &[Acl]) -> String {
    let v: Vec<String> =
        acl.iter().map(|a| format!("{}:{}={}", a.id.scheme, a.id.id, perm_letters(a.perms))).collect();
    format!("[{}]", v.join(","))
}

fn show_data(d: &Option<Vec<u8>>) -> String {
    match d {
        None => "null".into(),
        Some(b) => show_bytes(b),
    }
}

/// Short printable data as a string, anything else as its length and an
/// FNV-1a hash.
fn show_bytes(b: &[u8]) -> String {
    if b.len() <= 40 && b.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'"') {
        return format!("\"{}\"", String::from_utf8_lossy(b));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h = (h ^ c as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("<{} bytes fnv={h:016x}>", b.len())
}
