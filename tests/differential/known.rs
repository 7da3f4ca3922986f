//! Scenarios where zkserver is known to answer differently from Java 3.8,
//! each with the reason. The test prints their differences and fails if one
//! of them starts to match (then it belongs out of this list).

/// Java 3.8 answers a successful stand-alone `check` (opcode 13 outside a
/// multi, which no Java client sends) with SetDataResponse(null): the null
/// Stat throws while the reply is serialised, so Java sends nothing and the
/// request waits forever. zkserver answers it with the node's Stat.
const STANDALONE_CHECK: &str = "Java never answers a successful stand-alone check (NPE on a null Stat)";

/// exists() on a node the caller may not READ: Java 3.8.0 returns its
/// Stat to anyone; from 3.8.4 (ZOOKEEPER-2590) Java answers NOAUTH, and so
/// does zkserver.
const EXISTS_NEEDS_READ: &str = "exists() needs READ, as from Java 3.8.4 (ZOOKEEPER-2590); 3.8.0 answers anyone";

/// (scenario name, why zkserver differs).
///
/// createSession (-10) from a client: Java 3.8 takes it as a request (this
/// malformed body happens to make it close the connection; a well-formed
/// one re-tracks the client's session with any timeout it names).
/// zkserver refuses it like an unknown opcode: UNIMPLEMENTED, then close.
pub const DIVERGENCES: &[(&str, &str)] = &[
    ("op/check/subtree", STANDALONE_CHECK),
    ("op/check/node", STANDALONE_CHECK),
    ("op/check/child", STANDALONE_CHECK),
    ("op/check/ephemeral", STANDALONE_CHECK),
    ("op/check/zookeeper", STANDALONE_CHECK),
    ("version/check/-1", STANDALONE_CHECK),
    ("version/check/2", STANDALONE_CHECK),
    ("acl/world/Std/only-read/check", STANDALONE_CHECK),
    ("acl/world/Std/all-but-write/check", STANDALONE_CHECK),
    ("acl/world/Std/all-but-create/check", STANDALONE_CHECK),
    ("acl/world/Std/all-but-delete/check", STANDALONE_CHECK),
    ("acl/world/Std/all-but-admin/check", STANDALONE_CHECK),
    ("acl/world/SkipAcl/none/check", STANDALONE_CHECK),
    ("acl/world/SkipAcl/only-read/check", STANDALONE_CHECK),
    ("acl/world/Std/none/exists", EXISTS_NEEDS_READ),
    ("acl/world/Std/only-write/exists", EXISTS_NEEDS_READ),
    ("acl/world/Std/only-create/exists", EXISTS_NEEDS_READ),
    ("acl/world/Std/only-delete/exists", EXISTS_NEEDS_READ),
    ("acl/world/Std/only-admin/exists", EXISTS_NEEDS_READ),
    ("acl/world/Std/all-but-read/exists", EXISTS_NEEDS_READ),
    ("raw/op/createSession", "zkserver refuses createSession from a client (UNIMPLEMENTED, then close)"),
];
