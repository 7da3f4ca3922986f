//! MultiOperationRecord and MultiResponse: the bodies of multi and
//! multiRead. Each op is a MultiHeader then its request record; a header
//! with done=true ends the list.

use super::records::*;
use super::{InputArchive, JuteError, OutputArchive, Record};
use crate::zoo_defs::{op_code, CreateMode};

/// One op of a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// create, create2 and createContainer requests; `op_type` is what Java's
    /// Op.create derives from the flags (create, createContainer or createTTL).
    Create { op_type: i32, req: CreateTtlRequest },
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(GetChildrenRequest),
    GetData(GetDataRequest),
}

impl Op {
    pub fn op_type(&self) -> i32 {
        match self {
            Op::Create { op_type, .. } => *op_type,
            Op::Delete(_) => op_code::DELETE,
            Op::SetData(_) => op_code::SET_DATA,
            Op::Check(_) => op_code::CHECK,
            Op::GetChildren(_) => op_code::GET_CHILDREN,
            Op::GetData(_) => op_code::GET_DATA,
        }
    }

    fn is_read(&self) -> bool {
        matches!(self, Op::GetChildren(_) | Op::GetData(_))
    }
}

/// Java's Op.create: the flags choose the op; only a TTL mode keeps the
/// ttl (a createTTL entry with other flags becomes a plain create).
fn create_op(path: String, data: Option<Vec<u8>>, acl: Vec<Acl>, flags: i32, ttl: i64) -> Op {
    let op_type = match CreateMode::from_flag(flags) {
        Some(m) if m.is_ttl() => op_code::CREATE_TTL,
        Some(m) if m.is_container() => op_code::CREATE_CONTAINER,
        _ => op_code::CREATE,
    };
    let ttl = if op_type == op_code::CREATE_TTL { ttl } else { -1 };
    Op::Create { op_type, req: CreateTtlRequest { path, data, acl, flags, ttl } }
}

/// Why a multi body could not be decoded (Java answers MARSHALLINGERROR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiError {
    Jute(JuteError),
    InvalidOpType(i32),
    MixedReadAndWrite,
}

impl From<JuteError> for MultiError {
    fn from(e: JuteError) -> Self {
        MultiError::Jute(e)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultiOperationRecord {
    pub ops: Vec<Op>,
}

impl MultiOperationRecord {
    pub fn deserialize(ia: &mut InputArchive<'_>) -> Result<MultiOperationRecord, MultiError> {
        let mut ops: Vec<Op> = Vec::new();
        let mut h = MultiHeader::deserialize(ia)?;
        while !h.done {
            let op = match h.r#type {
                op_code::CREATE | op_code::CREATE2 | op_code::CREATE_CONTAINER => {
                    let r = CreateRequest::deserialize(ia)?;
                    create_op(r.path, r.data, r.acl, r.flags, -1)
                }
                op_code::CREATE_TTL => {
                    let r = CreateTtlRequest::deserialize(ia)?;
                    create_op(r.path, r.data, r.acl, r.flags, r.ttl)
                }
                op_code::DELETE => Op::Delete(DeleteRequest::deserialize(ia)?),
                op_code::SET_DATA => Op::SetData(SetDataRequest::deserialize(ia)?),
                op_code::CHECK => Op::Check(CheckVersionRequest::deserialize(ia)?),
                op_code::GET_CHILDREN => Op::GetChildren(GetChildrenRequest::deserialize(ia)?),
                op_code::GET_DATA => Op::GetData(GetDataRequest::deserialize(ia)?),
                t => return Err(MultiError::InvalidOpType(t)),
            };
            if let Some(first) = ops.first() {
                if first.is_read() != op.is_read() {
                    return Err(MultiError::MixedReadAndWrite);
                }
            }
            ops.push(op);
            h = MultiHeader::deserialize(ia)?;
        }
        Ok(MultiOperationRecord { ops })
    }

    pub fn serialize(&self, oa: &mut OutputArchive) {
        for op in &self.ops {
            MultiHeader { r#type: op.op_type(), done: false, err: -1 }.serialize(oa);
            match op {
                Op::Create { op_type, req } if *op_type == op_code::CREATE_TTL => req.serialize(oa),
                Op::Create { req, .. } => CreateRequest {
                    path: req.path.clone(),
                    data: req.data.clone(),
                    acl: req.acl.clone(),
                    flags: req.flags,
                }
                .serialize(oa),
                Op::Delete(r) => r.serialize(oa),
                Op::SetData(r) => r.serialize(oa),
                Op::Check(r) => r.serialize(oa),
                Op::GetChildren(r) => r.serialize(oa),
                Op::GetData(r) => r.serialize(oa),
            }
        }
        MultiHeader { r#type: -1, done: true, err: -1 }.serialize(oa);
    }
}

/// One result of a multi (OpResult).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Create { path: String },
    Create2 { path: String, stat: Stat },
    Delete,
    SetData { stat: Stat },
    Check,
    GetChildren { children: Vec<String> },
    GetData { data: Option<Vec<u8>>, stat: Stat },
    Error { err: i32 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultiResponse {
    pub results: Vec<OpResult>,
}

impl MultiResponse {
    pub fn serialize(&self, oa: &mut OutputArchive) {
        for r in &self.results {
            let (ty, err) = match r {
                OpResult::Create { .. } => (op_code::CREATE, 0),
                OpResult::Create2 { .. } => (op_code::CREATE2, 0),
                OpResult::Delete => (op_code::DELETE, 0),
                OpResult::SetData { .. } => (op_code::SET_DATA, 0),
                OpResult::Check => (op_code::CHECK, 0),
                OpResult::GetChildren { .. } => (op_code::GET_CHILDREN, 0),
                OpResult::GetData { .. } => (op_code::GET_DATA, 0),
                OpResult::Error { err } => (op_code::ERROR, *err),
            };
            MultiHeader { r#type: ty, done: false, err }.serialize(oa);
            match r {
                OpResult::Create { path } => CreateResponse { path: path.clone() }.serialize(oa),
                OpResult::Create2 { path, stat } => {
                    Create2Response { path: path.clone(), stat: stat.clone() }.serialize(oa)
                }
                OpResult::Delete | OpResult::Check => {}
                OpResult::SetData { stat } => SetDataResponse { stat: stat.clone() }.serialize(oa),
                OpResult::GetChildren { children } => {
                    GetChildrenResponse { children: children.clone() }.serialize(oa)
                }
                OpResult::GetData { data, stat } => {
                    GetDataResponse { data: data.clone(), stat: stat.clone() }.serialize(oa)
                }
                OpResult::Error { err } => ErrorResponse { err: *err }.serialize(oa),
            }
        }
        MultiHeader { r#type: -1, done: true, err: -1 }.serialize(oa);
    }

    pub fn deserialize(ia: &mut InputArchive<'_>) -> Result<MultiResponse, MultiError> {
        let mut results = Vec::new();
        let mut h = MultiHeader::deserialize(ia)?;
        while !h.done {
            results.push(match h.r#type {
                op_code::CREATE => OpResult::Create { path: CreateResponse::deserialize(ia)?.path },
                op_code::CREATE2 => {
                    let r = Create2Response::deserialize(ia)?;
                    OpResult::Create2 { path: r.path, stat: r.stat }
                }
                op_code::DELETE => OpResult::Delete,
                op_code::SET_DATA => OpResult::SetData { stat: SetDataResponse::deserialize(ia)?.stat },
                op_code::CHECK => OpResult::Check,
                op_code::GET_CHILDREN => {
                    OpResult::GetChildren { children: GetChildrenResponse::deserialize(ia)?.children }
                }
                op_code::GET_DATA => {
                    let r = GetDataResponse::deserialize(ia)?;
                    OpResult::GetData { data: r.data, stat: r.stat }
                }
                op_code::ERROR => OpResult::Error { err: ErrorResponse::deserialize(ia)?.err },
                t => return Err(MultiError::InvalidOpType(t)),
            });
            h = MultiHeader::deserialize(ia)?;
        }
        Ok(MultiResponse { results })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_ttl_entry_with_plain_flags_is_a_plain_create() {
        let req = CreateTtlRequest { path: "/t".into(), data: None, acl: vec![], flags: 0, ttl: 10 };
        let rec = MultiOperationRecord { ops: vec![Op::Create { op_type: op_code::CREATE_TTL, req }] };
        let mut oa = OutputArchive::new();
        rec.serialize(&mut oa);
        let bytes = oa.into_inner();
        let back = MultiOperationRecord::deserialize(&mut InputArchive::new(&bytes)).unwrap();
        match &back.ops[..] {
            [Op::Create { op_type, req }] => {
                assert_eq!(*op_type, op_code::CREATE);
                assert_eq!(req.ttl, -1);
            }
            other => panic!("{other:?}"),
        }
    }
}
