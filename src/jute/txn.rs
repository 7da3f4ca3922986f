//! The records of `zookeeper.jute`'s `txn` module: what the transaction log
//! stores after each TxnHeader.

use super::jute_record;
use super::records::Acl;

jute_record!(TxnDigest { version: int, tree_digest: long });
jute_record!(TxnHeader { client_id: long, cxid: int, zxid: long, time: long, r#type: int });
jute_record!(CreateTxnV0 { path: ustring, data: nbuffer, acl: vector(Acl), ephemeral: boolean });
jute_record!(CreateTxn {
    path: ustring,
    data: nbuffer,
    acl: vector(Acl),
    ephemeral: boolean,
    parent_c_version: int,
});
jute_record!(CreateTtlTxn {
    path: ustring,
    data: nbuffer,
    acl: vector(Acl),
    parent_c_version: int,
    ttl: long,
});
jute_record!(CreateContainerTxn { path: ustring, data: nbuffer, acl: vector(Acl), parent_c_version: int });
jute_record!(DeleteTxn { path: ustring });
jute_record!(SetDataTxn { path: ustring, data: nbuffer, version: int });
jute_record!(CheckVersionTxn { path: ustring, version: int });
jute_record!(SetAclTxn { path: ustring, acl: vector(Acl), version: int });
jute_record!(SetMaxChildrenTxn { path: ustring, max: int });
jute_record!(CreateSessionTxn { time_out: int });
jute_record!(CloseSessionTxn { paths2_delete: vector(String) });
jute_record!(ErrorTxn { err: int });
jute_record!(
    /// One sub-transaction of a MultiTxn: its opcode and serialised body.
    Txn { r#type: int, data: buffer }
);
jute_record!(MultiTxn { txns: vector(Txn) });

use super::{InputArchive, JuteError, OutputArchive, Record};
use crate::zoo_defs::op_code;

/// The body of a transaction, by the opcode in its TxnHeader
/// (what SerializeUtils.deserializeTxn picks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    /// create and create2.
    Create(CreateTxn),
    CreateTtl(CreateTtlTxn),
    CreateContainer(CreateContainerTxn),
    /// delete and deleteContainer.
    Delete(DeleteTxn),
    /// setData and reconfig.
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    Check(CheckVersionTxn),
    CreateSession(CreateSessionTxn),
    CloseSession(CloseSessionTxn),
    Error(ErrorTxn),
    Multi(MultiTxn),
}

impl TxnBody {
    pub fn serialize(&self, oa: &mut OutputArchive) {
        match self {
            TxnBody::Create(t) => t.serialize(oa),
            TxnBody::CreateTtl(t) => t.serialize(oa),
            TxnBody::CreateContainer(t) => t.serialize(oa),
            TxnBody::Delete(t) => t.serialize(oa),
            TxnBody::SetData(t) => t.serialize(oa),
            TxnBody::SetAcl(t) => t.serialize(oa),
            TxnBody::Check(t) => t.serialize(oa),
            TxnBody::CreateSession(t) => t.serialize(oa),
            TxnBody::CloseSession(t) => t.serialize(oa),
            TxnBody::Error(t) => t.serialize(oa),
            TxnBody::Multi(t) => t.serialize(oa),
        }
    }

    /// How many bytes `serialize` writes.
    pub fn serialized_len(&self) -> usize {
        match self {
            TxnBody::Create(t) => t.serialized_len(),
            TxnBody::CreateTtl(t) => t.serialized_len(),
            TxnBody::CreateContainer(t) => t.serialized_len(),
            TxnBody::Delete(t) => t.serialized_len(),
            TxnBody::SetData(t) => t.serialized_len(),
            TxnBody::SetAcl(t) => t.serialized_len(),
            TxnBody::Check(t) => t.serialized_len(),
            TxnBody::CreateSession(t) => t.serialized_len(),
            TxnBody::CloseSession(t) => t.serialized_len(),
            TxnBody::Error(t) => t.serialized_len(),
            TxnBody::Multi(t) => t.serialized_len(),
        }
    }

    /// Serialized into a buffer of the exact size.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut oa = OutputArchive::with_capacity(self.serialized_len());
        self.serialize(&mut oa);
        oa.into_inner()
    }

    /// Decodes the body of a txn of opcode `ty`. `Ok(None)` for a
    /// closeSession written before CloseSessionTxn existed.
    pub fn deserialize(ty: i32, ia: &mut InputArchive<'_>) -> Result<Option<TxnBody>, JuteError> {
        let start = ia.position();
        Ok(Some(match ty {
            op_code::CREATE_SESSION => TxnBody::CreateSession(CreateSessionTxn::deserialize(ia)?),
            op_code::CLOSE_SESSION => match CloseSessionTxn::deserialize(ia) {
                Ok(t) => TxnBody::CloseSession(t),
                Err(JuteError::Eof { .. }) => return Ok(None),
                Err(e) => return Err(e),
            },
            op_code::CREATE | op_code::CREATE2 => match CreateTxn::deserialize(ia) {
                Ok(t) => TxnBody::Create(t),
                Err(JuteError::Eof { .. }) if ty == op_code::CREATE => {
                    // A version-0 create: no parentCVersion (-1 asks
                    // processTxn to fix the parent's cversion up).
                    ia.reset(start);
                    let v0 = CreateTxnV0::deserialize(ia)?;
                    TxnBody::Create(CreateTxn {
                        path: v0.path,
                        data: v0.data,
                        acl: v0.acl,
                        ephemeral: v0.ephemeral,
                        parent_c_version: -1,
                    })
                }
                Err(e) => return Err(e),
            },
            op_code::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn::deserialize(ia)?),
            op_code::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn::deserialize(ia)?),
            op_code::DELETE | op_code::DELETE_CONTAINER => TxnBody::Delete(DeleteTxn::deserialize(ia)?),
            op_code::RECONFIG | op_code::SET_DATA => TxnBody::SetData(SetDataTxn::deserialize(ia)?),
            op_code::SET_ACL => TxnBody::SetAcl(SetAclTxn::deserialize(ia)?),
            op_code::CHECK => TxnBody::Check(CheckVersionTxn::deserialize(ia)?),
            op_code::ERROR => TxnBody::Error(ErrorTxn::deserialize(ia)?),
            op_code::MULTI => TxnBody::Multi(MultiTxn::deserialize(ia)?),
            _ => return Err(JuteError::UnknownTxnType(ty)),
        }))
    }
}

/// One transaction as the log stores it: header, body, optional digest
/// (TxnLogEntry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogEntry {
    pub hdr: TxnHeader,
    pub txn: Option<TxnBody>,
    pub digest: Option<TxnDigest>,
}

/// A txn's header, body and digest borrowed from wherever they live (a
/// `Request`, a `TxnLogEntry`), to be serialised without copying them.
#[derive(Debug, Clone, Copy)]
pub struct TxnLogEntryRef<'a> {
    pub hdr: &'a TxnHeader,
    pub txn: Option<&'a TxnBody>,
    pub digest: Option<&'a TxnDigest>,
}

impl TxnLogEntryRef<'_> {
    /// Header, body and digest appended to `oa` (Util.marshallTxnEntry).
    pub fn serialize(&self, oa: &mut OutputArchive) {
        self.hdr.serialize(oa);
        if let Some(t) = self.txn {
            t.serialize(oa);
        }
        if let Some(d) = self.digest {
            d.serialize(oa);
        }
    }

    /// The same as one byte string.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut oa = OutputArchive::with_capacity(128);
        self.serialize(&mut oa);
        oa.into_inner()
    }

    pub fn to_owned(&self) -> TxnLogEntry {
        TxnLogEntry { hdr: self.hdr.clone(), txn: self.txn.cloned(), digest: self.digest.cloned() }
    }
}

impl<'a> From<&'a TxnLogEntry> for TxnLogEntryRef<'a> {
    fn from(e: &'a TxnLogEntry) -> Self {
        e.as_ref()
    }
}

impl TxnLogEntry {
    pub fn as_ref(&self) -> TxnLogEntryRef<'_> {
        TxnLogEntryRef { hdr: &self.hdr, txn: self.txn.as_ref(), digest: self.digest.as_ref() }
    }

    /// Header, body and digest as one byte string (Util.marshallTxnEntry).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.as_ref().to_bytes()
    }

    /// The inverse of `to_bytes` (SerializeUtils.deserializeTxn); a missing
    /// digest is not an error.
    pub fn from_bytes(buf: &[u8]) -> Result<TxnLogEntry, JuteError> {
        let mut ia = InputArchive::new(buf);
        let hdr = TxnHeader::deserialize(&mut ia)?;
        let txn = TxnBody::deserialize(hdr.r#type, &mut ia)?;
        let digest = if ia.remaining() > 0 { TxnDigest::deserialize(&mut ia).ok() } else { None };
        Ok(TxnLogEntry { hdr, txn, digest })
    }
}
