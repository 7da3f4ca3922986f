//! The scenario language of the differential test: a scenario is a named
//! list of steps (connect, one request, a pipelined group of requests,
//! disconnect/reconnect, close) run by several numbered sessions against one
//! server. Paths written with a leading `~` are relative to the scenario's
//! own subtree, which the executor creates before the first step.
//!
//! Plain data plus constructors; `exec` runs it, `cases_*` generate it.

use zkserver::jute::multi::Op;
use zkserver::jute::records::*;
use zkserver::zoo_defs::{ids, op_code, perms};

/// Which server configuration a scenario needs (all three run side by side,
/// one Java and one zkserver server each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Defaults plus a super digest, a small jute.maxbuffer, no container
    /// sweeps (see `exec::server_opts`).
    Std,
    /// `Std` plus zookeeper.extendedTypesEnabled=true (TTL nodes).
    Ext,
    /// `Std` plus zookeeper.skipACL=yes.
    SkipAcl,
}

pub const GROUPS: [Group; 3] = [Group::Std, Group::Ext, Group::SkipAcl];

/// The zxid a setWatches request reports as the client's newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    /// The newest zxid the session saw before it disconnected.
    LastSeen,
    Zero,
}

/// One request, sent with its own xid (auth and setWatches use Java's
/// reserved xids).
#[derive(Debug, Clone)]
pub enum Req {
    /// create (1), create2 (15), createContainer (19) or createTTL (21):
    /// `op` chooses the opcode, `ttl` is sent only by createTTL.
    Create {
        op: i32,
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetChildren2 {
        path: String,
        watch: bool,
    },
    /// The check opcode outside a multi.
    Check {
        path: String,
        version: i32,
    },
    Sync {
        path: String,
    },
    Multi(Vec<Op>),
    MultiRead(Vec<Op>),
    AddWatch {
        path: String,
        mode: i32,
    },
    CheckWatches {
        path: String,
        wtype: i32,
    },
    RemoveWatches {
        path: String,
        wtype: i32,
    },
    /// setWatches (101), or setWatches2 (105) when `v2`; the persistent
    /// lists are only sent by setWatches2.
    SetWatches {
        v2: bool,
        rel: Rel,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
        persistent: Vec<String>,
        recursive: Vec<String>,
    },
    GetEphemerals {
        prefix: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    WhoAmI,
    /// The auth packet (xid -4).
    Auth {
        scheme: String,
        auth: Vec<u8>,
    },
    /// A GetSASLRequest with this token.
    Sasl {
        token: Vec<u8>,
    },
    /// Any opcode with any body bytes.
    Raw {
        op: i32,
        body: Vec<u8>,
    },
}

/// What a step does; `s` numbers the session within the scenario.
#[derive(Debug, Clone)]
pub enum Step {
    /// Opens session `s` (timeout 30 s). `read_only` is the trailing byte of
    /// the connect request (`None`: no byte); `last_zxid` the zxid the
    /// client claims to have seen.
    Connect {
        s: usize,
        read_only: Option<bool>,
        last_zxid: i64,
    },
    Req {
        s: usize,
        req: Req,
    },
    /// Sends every request before reading any reply.
    Pipeline {
        s: usize,
        reqs: Vec<Req>,
    },
    /// Drops the TCP connection; the session lives on.
    Disconnect {
        s: usize,
    },
    /// A new connection for the same session (same id and password, the
    /// newest zxid seen); with `bad_passwd` the password is altered.
    Reconnect {
        s: usize,
        bad_passwd: bool,
    },
    /// A connection asking to resume a session id the server never issued.
    ResumeUnknown {
        s: usize,
    },
    /// closeSession, then the connection goes.
    Close {
        s: usize,
    },
}

/// A named scenario for one server group.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub group: Group,
    pub steps: Vec<Step>,
    sessions: usize,
}

impl Scenario {
    pub fn new(group: Group, name: impl Into<String>) -> Scenario {
        Scenario { name: name.into(), group, steps: Vec::new(), sessions: 0 }
    }

    /// A scenario in `Std` whose session 0 is already connected.
    pub fn std(name: impl Into<String>) -> (Scenario, usize) {
        let mut sc = Scenario::new(Group::Std, name);
        let s = sc.connect();
        (sc, s)
    }

    /// Connects a new session; returns its number.
    pub fn connect(&mut self) -> usize {
        self.connect_with(Some(false), 0)
    }

    pub fn connect_with(&mut self, read_only: Option<bool>, last_zxid: i64) -> usize {
        let s = self.sessions;
        self.sessions += 1;
        self.steps.push(Step::Connect { s, read_only, last_zxid });
        s
    }

    pub fn req(&mut self, s: usize, req: Req) -> &mut Scenario {
        self.steps.push(Step::Req { s, req });
        self
    }

    pub fn reqs(&mut self, s: usize, reqs: impl IntoIterator<Item = Req>) -> &mut Scenario {
        for req in reqs {
            self.req(s, req);
        }
        self
    }

    pub fn pipeline(&mut self, s: usize, reqs: Vec<Req>) -> &mut Scenario {
        self.steps.push(Step::Pipeline { s, reqs });
        self
    }

    pub fn step(&mut self, step: Step) -> &mut Scenario {
        self.steps.push(step);
        self
    }
}

// ---- request constructors ----

pub fn open() -> Vec<Acl> {
    ids::open_acl_unsafe()
}

pub fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl { perms, id: Id::new(scheme, id) }
}

pub fn world(perms: i32) -> Vec<Acl> {
    vec![acl(perms, "world", "anyone")]
}

/// A persistent node with open ACL.
pub fn create(path: &str, data: &[u8]) -> Req {
    create_full(op_code::CREATE, path, Some(data), open(), 0, -1)
}

pub fn create_flags(path: &str, data: &[u8], flags: i32) -> Req {
    create_full(op_code::CREATE, path, Some(data), open(), flags, -1)
}

pub fn create_acl(path: &str, acl: Vec<Acl>) -> Req {
    create_full(op_code::CREATE, path, Some(b"d"), acl, 0, -1)
}

pub fn create2(path: &str, data: &[u8], flags: i32) -> Req {
    create_full(op_code::CREATE2, path, Some(data), open(), flags, -1)
}

pub fn create_full(op: i32, path: &str, data: Option<&[u8]>, acl: Vec<Acl>, flags: i32, ttl: i64) -> Req {
    Req::Create { op, path: path.into(), data: data.map(<[u8]>::to_vec), acl, flags, ttl }
}

pub fn delete(path: &str, version: i32) -> Req {
    Req::Delete { path: path.into(), version }
}

pub fn exists(path: &str, watch: bool) -> Req {
    Req::Exists { path: path.into(), watch }
}

pub fn get_data(path: &str, watch: bool) -> Req {
    Req::GetData { path: path.into(), watch }
}

pub fn set_data(path: &str, data: &[u8], version: i32) -> Req {
    Req::SetData { path: path.into(), data: Some(data.to_vec()), version }
}

pub fn get_acl(path: &str) -> Req {
    Req::GetAcl { path: path.into() }
}

pub fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> Req {
    Req::SetAcl { path: path.into(), acl, version }
}

pub fn get_children(path: &str, watch: bool) -> Req {
    Req::GetChildren { path: path.into(), watch }
}

pub fn get_children2(path: &str, watch: bool) -> Req {
    Req::GetChildren2 { path: path.into(), watch }
}

pub fn check(path: &str, version: i32) -> Req {
    Req::Check { path: path.into(), version }
}

pub fn sync(path: &str) -> Req {
    Req::Sync { path: path.into() }
}

pub fn add_watch(path: &str, mode: i32) -> Req {
    Req::AddWatch { path: path.into(), mode }
}

pub fn check_watches(path: &str, wtype: i32) -> Req {
    Req::CheckWatches { path: path.into(), wtype }
}

pub fn remove_watches(path: &str, wtype: i32) -> Req {
    Req::RemoveWatches { path: path.into(), wtype }
}

pub fn get_ephemerals(prefix: &str) -> Req {
    Req::GetEphemerals { prefix: prefix.into() }
}

pub fn all_children_number(path: &str) -> Req {
    Req::GetAllChildrenNumber { path: path.into() }
}

pub fn auth(scheme: &str, auth: &str) -> Req {
    Req::Auth { scheme: scheme.into(), auth: auth.as_bytes().to_vec() }
}

pub fn digest_auth(user_pw: &str) -> Req {
    auth("digest", user_pw)
}

// ---- multi ops ----

pub fn m_create(path: &str, data: &[u8], flags: i32) -> Op {
    m_create_full(op_code::CREATE, path, data, open(), flags, -1)
}

pub fn m_create2(path: &str, data: &[u8], flags: i32) -> Op {
    m_create_full(op_code::CREATE2, path, data, open(), flags, -1)
}

pub fn m_create_full(op_type: i32, path: &str, data: &[u8], acl: Vec<Acl>, flags: i32, ttl: i64) -> Op {
    Op::Create {
        op_type,
        req: CreateTtlRequest { path: path.into(), data: Some(data.to_vec()), acl, flags, ttl },
    }
}

pub fn m_delete(path: &str, version: i32) -> Op {
    Op::Delete(DeleteRequest { path: path.into(), version })
}

pub fn m_set_data(path: &str, data: &[u8], version: i32) -> Op {
    Op::SetData(SetDataRequest { path: path.into(), data: Some(data.to_vec()), version })
}

pub fn m_check(path: &str, version: i32) -> Op {
    Op::Check(CheckVersionRequest { path: path.into(), version })
}

pub fn m_get_data(path: &str) -> Op {
    Op::GetData(GetDataRequest { path: path.into(), watch: false })
}

pub fn m_get_children(path: &str) -> Op {
    Op::GetChildren(GetChildrenRequest { path: path.into(), watch: false })
}

/// The perms letters of ZooKeeper's CLI (`cdrwa`).
pub fn perm_letters(p: i32) -> String {
    let mut s = String::new();
    for (bit, ch) in [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ] {
        if p & bit != 0 {
            s.push(ch);
        }
    }
    if p & !perms::ALL != 0 {
        s.push_str(&format!("+0x{:x}", p & !perms::ALL));
    }
    s
}
