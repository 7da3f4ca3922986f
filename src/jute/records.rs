//! The records of `zookeeper.jute`'s `data`, `proto`, `quorum` and
//! `persistence` modules, field for field in the order Java writes them.

use super::jute_record;

// ---- org.apache.zookeeper.data ----
jute_record!(Id { scheme: ustring, id: ustring });
jute_record!(Acl { perms: int, id: record(Id) });
jute_record!(
    /// What clients see of a node.
    Stat {
        czxid: long,
        mzxid: long,
        ctime: long,
        mtime: long,
        version: int,
        cversion: int,
        aversion: int,
        ephemeral_owner: long,
        data_length: int,
        num_children: int,
        pzxid: long,
    }
);
jute_record!(
    /// What the server stores of a node (Stat less the derived fields).
    StatPersisted {
        czxid: long,
        mzxid: long,
        ctime: long,
        mtime: long,
        version: int,
        cversion: int,
        aversion: int,
        ephemeral_owner: long,
        pzxid: long,
    }
);
jute_record!(ClientInfo { auth_scheme: ustring, user: ustring });

// ---- org.apache.zookeeper.proto ----
jute_record!(ConnectRequest {
    protocol_version: int,
    last_zxid_seen: long,
    time_out: int,
    session_id: long,
    passwd: buffer,
});
jute_record!(ConnectResponse { protocol_version: int, time_out: int, session_id: long, passwd: buffer });
jute_record!(SetWatches {
    relative_zxid: long,
    data_watches: vector(String),
    exist_watches: vector(String),
    child_watches: vector(String),
});
jute_record!(SetWatches2 {
    relative_zxid: long,
    data_watches: vector(String),
    exist_watches: vector(String),
    child_watches: vector(String),
    persistent_watches: vector(String),
    persistent_recursive_watches: vector(String),
});
jute_record!(RequestHeader { xid: int, r#type: int });
jute_record!(MultiHeader { r#type: int, done: boolean, err: int });
jute_record!(AuthPacket { r#type: int, scheme: ustring, auth: buffer });
jute_record!(ReplyHeader { xid: int, zxid: long, err: int });
jute_record!(GetDataRequest { path: ustring, watch: boolean });
jute_record!(SetDataRequest { path: ustring, data: nbuffer, version: int });
// The three strings may be null, which Java tells apart from empty: null
// new members make a reconfig incremental, empty ones do not.
jute_record!(ReconfigRequest {
    joining_servers: nstring,
    leaving_servers: nstring,
    new_members: nstring,
    cur_config_id: long,
});
jute_record!(SetDataResponse { stat: record(Stat) });
jute_record!(GetSaslRequest { token: buffer });
jute_record!(SetSaslRequest { token: buffer });
jute_record!(SetSaslResponse { token: buffer });
jute_record!(CreateRequest { path: ustring, data: nbuffer, acl: vector(Acl), flags: int });
jute_record!(CreateTtlRequest { path: ustring, data: nbuffer, acl: vector(Acl), flags: int, ttl: long });
jute_record!(DeleteRequest { path: ustring, version: int });
jute_record!(GetChildrenRequest { path: ustring, watch: boolean });
jute_record!(GetAllChildrenNumberRequest { path: ustring });
jute_record!(GetChildren2Request { path: ustring, watch: boolean });
jute_record!(CheckVersionRequest { path: ustring, version: int });
jute_record!(SyncRequest { path: ustring });
jute_record!(SyncResponse { path: ustring });
jute_record!(GetAclRequest { path: ustring });
jute_record!(SetAclRequest { path: ustring, acl: vector(Acl), version: int });
jute_record!(SetAclResponse { stat: record(Stat) });
jute_record!(AddWatchRequest { path: ustring, mode: int });
jute_record!(WatcherEvent { r#type: int, state: int, path: ustring });
jute_record!(ErrorResponse { err: int });
jute_record!(CreateResponse { path: ustring });
jute_record!(Create2Response { path: ustring, stat: record(Stat) });
jute_record!(ExistsRequest { path: ustring, watch: boolean });
jute_record!(ExistsResponse { stat: record(Stat) });
jute_record!(GetDataResponse { data: nbuffer, stat: record(Stat) });
jute_record!(GetChildrenResponse { children: vector(String) });
jute_record!(GetAllChildrenNumberResponse { total_number: int });
jute_record!(GetChildren2Response { children: vector(String), stat: record(Stat) });
jute_record!(GetAclResponse { acl: vector(Acl), stat: record(Stat) });
jute_record!(CheckWatchesRequest { path: ustring, r#type: int });
jute_record!(RemoveWatchesRequest { path: ustring, r#type: int });
jute_record!(GetEphemeralsRequest { prefix_path: ustring });
jute_record!(GetEphemeralsResponse { ephemerals: vector(String) });
jute_record!(WhoAmIResponse { client_info: vector(ClientInfo) });

// ---- org.apache.zookeeper.server.quorum ----
jute_record!(LearnerInfo { serverid: long, protocol_version: int, config_version: long });
jute_record!(QuorumPacket { r#type: int, zxid: long, data: nbuffer, authinfo: vector(Id) });
jute_record!(QuorumAuthPacket { magic: long, status: int, token: buffer });

// ---- org.apache.zookeeper.server.persistence ----
jute_record!(FileHeader { magic: int, version: int, dbid: long });

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id { scheme: scheme.to_string(), id: id.to_string() }
    }
}
