//! The few GSS-API calls (RFC 2744; the JDK's org.ietf.jgss) a Kerberos
//! acceptor and initiator need, from MIT Kerberos' libgssapi_krb5.so.2
//! loaded with dlopen the first time a JAAS section (`Server`,
//! `QuorumServer`, `QuorumLearner`) asks for Kerberos: a server without
//! Kerberos neither links nor loads it, and one configured for it on a
//! machine without the library refuses to start with a line saying so.
//! Credentials are acquired once at start-up (main thread) and shared;
//! each security context lives in one negotiation and is used only by the
//! thread running it (the NIO worker serving a client connection, or the
//! thread owning a quorum socket).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

type OmUint32 = u32;

#[repr(C)]
struct OidDesc {
    length: OmUint32,
    elements: *const c_void,
}

#[repr(C)]
struct OidSetDesc {
    count: usize,
    elements: *const OidDesc,
}

#[repr(C)]
struct BufferDesc {
    length: usize,
    value: *mut c_void,
}

impl BufferDesc {
    fn empty() -> BufferDesc {
        BufferDesc { length: 0, value: std::ptr::null_mut() }
    }

    /// A descriptor of `bytes`, which the library only reads.
    fn of(bytes: &[u8]) -> BufferDesc {
        BufferDesc { length: bytes.len(), value: bytes.as_ptr() as *mut c_void }
    }
}

#[repr(C)]
struct KeyValueElement {
    key: *const c_char,
    value: *const c_char,
}

#[repr(C)]
struct KeyValueSet {
    count: OmUint32,
    elements: *const KeyValueElement,
}

type Name = *mut c_void;
type Cred = *mut c_void;
type Ctx = *mut c_void;

/// GSS_KRB5_NT_PRINCIPAL_NAME, 1.2.840.113554.1.2.2.1: a Kerberos
/// principal as written, with no host name canonicalization.
const NT_KRB5_PRINCIPAL_NAME: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
/// GSS_C_NT_HOSTBASED_SERVICE, 1.2.840.113554.1.2.1.4: `service@host`,
/// as the JDK names the acceptor a SASL client asks for.
const NT_HOSTBASED_SERVICE: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04";
/// The Kerberos V5 mechanism, 1.2.840.113554.1.2.2.
const KRB5_MECHANISM: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
const GSS_C_INITIATE: c_int = 1;
const GSS_C_ACCEPT: c_int = 2;
/// The context flags the JDK's GSSAPI SASL client asks for with no
/// security layer: replay and sequence detection, confidentiality and
/// integrity available, no mutual authentication, no delegation.
const GSS_C_REPLAY_FLAG: OmUint32 = 4;
const GSS_C_SEQUENCE_FLAG: OmUint32 = 8;
const GSS_C_CONF_FLAG: OmUint32 = 16;
const GSS_C_INTEG_FLAG: OmUint32 = 32;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;
/// The routine and calling error fields of a major status.
const GSS_ERROR_MASK: OmUint32 = 0xffff_0000;
/// gss_unwrap's supplementary bits: duplicate, old, unsequenced, gap token.
const GSS_S_SUPPLEMENTARY_TOKEN_BITS: OmUint32 = 0b11110;

type ImportName = unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc, *const OidDesc, *mut Name) -> OmUint32;
type AcquireCredFrom = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    OmUint32,
    *const c_void,
    c_int,
    *const KeyValueSet,
    *mut Cred,
    *mut *mut c_void,
    *mut OmUint32,
) -> OmUint32;
type AcceptSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    *mut Ctx,
    Cred,
    *mut BufferDesc,
    *const c_void,
    *mut Name,
    *mut *mut OidDesc,
    *mut BufferDesc,
    *mut OmUint32,
    *mut OmUint32,
    *mut Cred,
) -> OmUint32;
type InitSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    Cred,
    *mut Ctx,
    Name,
    *const OidDesc,
    OmUint32,
    OmUint32,
    *const c_void,
    *mut BufferDesc,
    *mut *mut OidDesc,
    *mut BufferDesc,
    *mut OmUint32,
    *mut OmUint32,
) -> OmUint32;
type DisplayName = unsafe extern "C" fn(*mut OmUint32, Name, *mut BufferDesc, *mut *mut OidDesc) -> OmUint32;
type Wrap =
    unsafe extern "C" fn(*mut OmUint32, Ctx, c_int, OmUint32, *mut BufferDesc, *mut c_int, *mut BufferDesc) -> OmUint32;
type Unwrap =
    unsafe extern "C" fn(*mut OmUint32, Ctx, *mut BufferDesc, *mut BufferDesc, *mut c_int, *mut OmUint32) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc) -> OmUint32;
type ReleaseName = unsafe extern "C" fn(*mut OmUint32, *mut Name) -> OmUint32;
type ReleaseCred = unsafe extern "C" fn(*mut OmUint32, *mut Cred) -> OmUint32;
type DeleteSecContext = unsafe extern "C" fn(*mut OmUint32, *mut Ctx, *mut BufferDesc) -> OmUint32;
type DisplayStatus =
    unsafe extern "C" fn(*mut OmUint32, OmUint32, c_int, *const OidDesc, *mut OmUint32, *mut BufferDesc) -> OmUint32;

/// The library's entry points.
struct Library {
    import_name: ImportName,
    acquire_cred_from: AcquireCredFrom,
    accept_sec_context: AcceptSecContext,
    init_sec_context: InitSecContext,
    display_name: DisplayName,
    wrap: Wrap,
    unwrap: Unwrap,
    release_buffer: ReleaseBuffer,
    release_name: ReleaseName,
    release_cred: ReleaseCred,
    delete_sec_context: DeleteSecContext,
    display_status: DisplayStatus,
}

const LIBRARY: &CStr = c"libgssapi_krb5.so.2";

fn library() -> Result<&'static Library, String> {
    static LIB: OnceLock<Result<Library, String>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Library, String> {
    // SAFETY: dlopen with a constant name; the handle is never closed, so
    // the symbols stay valid for the life of the process.
    let handle = unsafe { libc::dlopen(LIBRARY.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        return Err(format!(
            "cannot load {} (MIT Kerberos' GSS-API library, Debian's libgssapi-krb5-2)",
            LIBRARY.to_string_lossy()
        ));
    }
    let sym = |name: &CStr| -> Result<*mut c_void, String> {
        // SAFETY: a valid handle and a NUL-terminated name.
        let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if p.is_null() {
            Err(format!("{} has no {}", LIBRARY.to_string_lossy(), name.to_string_lossy()))
        } else {
            Ok(p)
        }
    };
    // SAFETY: each symbol is the RFC 2744 / MIT function of that name, whose
    // C signature the matching type spells out.
    unsafe {
        Ok(Library {
            import_name: std::mem::transmute::<*mut c_void, ImportName>(sym(c"gss_import_name")?),
            acquire_cred_from: std::mem::transmute::<*mut c_void, AcquireCredFrom>(sym(c"gss_acquire_cred_from")?),
            accept_sec_context: std::mem::transmute::<*mut c_void, AcceptSecContext>(sym(c"gss_accept_sec_context")?),
            init_sec_context: std::mem::transmute::<*mut c_void, InitSecContext>(sym(c"gss_init_sec_context")?),
            display_name: std::mem::transmute::<*mut c_void, DisplayName>(sym(c"gss_display_name")?),
            wrap: std::mem::transmute::<*mut c_void, Wrap>(sym(c"gss_wrap")?),
            unwrap: std::mem::transmute::<*mut c_void, Unwrap>(sym(c"gss_unwrap")?),
            release_buffer: std::mem::transmute::<*mut c_void, ReleaseBuffer>(sym(c"gss_release_buffer")?),
            release_name: std::mem::transmute::<*mut c_void, ReleaseName>(sym(c"gss_release_name")?),
            release_cred: std::mem::transmute::<*mut c_void, ReleaseCred>(sym(c"gss_release_cred")?),
            delete_sec_context: std::mem::transmute::<*mut c_void, DeleteSecContext>(sym(c"gss_delete_sec_context")?),
            display_status: std::mem::transmute::<*mut c_void, DisplayStatus>(sym(c"gss_display_status")?),
        })
    }
}

impl Library {
    /// The library's words for a major/minor status.
    fn status_text(&self, major: OmUint32, minor: OmUint32) -> String {
        let mut parts = Vec::new();
        for (code, kind) in [(major, GSS_C_GSS_CODE), (minor, GSS_C_MECH_CODE)] {
            if code == 0 {
                continue;
            }
            let mut context: OmUint32 = 0;
            // At most a few messages per code (bounded against a library
            // that never ends the list).
            for _ in 0..8 {
                let mut m: OmUint32 = 0;
                let mut buf = BufferDesc::empty();
                // SAFETY: valid out-pointers; the buffer is released below.
                let st = unsafe { (self.display_status)(&mut m, code, kind, std::ptr::null(), &mut context, &mut buf) };
                if st & GSS_ERROR_MASK != 0 {
                    break;
                }
                parts.push(String::from_utf8_lossy(&self.take(&mut buf)).into_owned());
                if context == 0 {
                    break;
                }
            }
        }
        parts.join("; ")
    }

    /// Copies a library-owned buffer out and releases it.
    fn take(&self, buf: &mut BufferDesc) -> Vec<u8> {
        let bytes = if buf.value.is_null() || buf.length == 0 {
            Vec::new()
        } else {
            // SAFETY: the library filled `buf` with `length` readable bytes.
            unsafe { std::slice::from_raw_parts(buf.value as *const u8, buf.length) }.to_vec()
        };
        let mut m: OmUint32 = 0;
        // SAFETY: a buffer the library allocated (or an empty one).
        unsafe { (self.release_buffer)(&mut m, buf) };
        bytes
    }

    fn check(&self, what: &str, major: OmUint32, minor: OmUint32) -> Result<(), String> {
        if major & GSS_ERROR_MASK != 0 {
            Err(format!("{what}: {}", self.status_text(major, minor)))
        } else {
            Ok(())
        }
    }
}

/// An imported name, released on drop.
struct OwnedName {
    lib: &'static Library,
    name: Name,
}

impl OwnedName {
    /// gss_import_name of `text` as a name of type `oid`.
    fn import(lib: &'static Library, text: &str, oid: &'static [u8]) -> Result<OwnedName, String> {
        let mut minor: OmUint32 = 0;
        let mut name: Name = std::ptr::null_mut();
        let oid = OidDesc { length: oid.len() as OmUint32, elements: oid.as_ptr().cast() };
        let mut buf = BufferDesc::of(text.as_bytes());
        // SAFETY: valid descriptors that outlive the call; `name` is released on drop.
        let major = unsafe { (lib.import_name)(&mut minor, &mut buf, &oid, &mut name) };
        lib.check(&format!("gss_import_name({text})"), major, minor)?;
        Ok(OwnedName { lib, name })
    }

    /// gss_display_name: the name as the library writes it (a Kerberos
    /// principal with its realm).
    fn display(&self) -> Result<String, String> {
        display_name(self.lib, self.name)
    }
}

impl Drop for OwnedName {
    fn drop(&mut self) {
        let mut m: OmUint32 = 0;
        // SAFETY: the name imported in `import`, released once.
        unsafe { (self.lib.release_name)(&mut m, &mut self.name) };
    }
}

fn display_name(lib: &Library, name: Name) -> Result<String, String> {
    let mut buf = BufferDesc::empty();
    let mut minor: OmUint32 = 0;
    // SAFETY: a valid name; the buffer is taken (released) below.
    let major = unsafe { (lib.display_name)(&mut minor, name, &mut buf, std::ptr::null_mut()) };
    let text = lib.take(&mut buf);
    lib.check("gss_display_name", major, minor)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// Credentials acquired once with gss_acquire_cred_from and shared.
struct Credential {
    lib: &'static Library,
    cred: Cred,
}

// SAFETY: MIT's credential handles lock internally; the handle is only
// read by the context calls and released once, on drop.
unsafe impl Send for Credential {}
unsafe impl Sync for Credential {}

impl Credential {
    /// gss_acquire_cred_from for `name` with `usage` and the credential
    /// store `store` (key, value), Kerberos only.
    fn acquire(
        lib: &'static Library,
        name: &OwnedName,
        usage: c_int,
        store: &[(&CStr, &str)],
        what: &str,
    ) -> Result<Credential, String> {
        let values = store
            .iter()
            .map(|(_, v)| std::ffi::CString::new(*v).map_err(|_| format!("{what}: {v:?} holds a NUL")))
            .collect::<Result<Vec<_>, String>>()?;
        let elements: Vec<KeyValueElement> =
            store.iter().zip(&values).map(|((k, _), v)| KeyValueElement { key: k.as_ptr(), value: v.as_ptr() }).collect();
        let store = KeyValueSet { count: elements.len() as OmUint32, elements: elements.as_ptr() };
        let mut minor: OmUint32 = 0;
        let mut cred: Cred = std::ptr::null_mut();
        let mech = OidDesc { length: KRB5_MECHANISM.len() as OmUint32, elements: KRB5_MECHANISM.as_ptr().cast() };
        let mechs = OidSetDesc { count: 1, elements: &mech };
        // SAFETY: the name, the store and its strings outlive the call;
        // `cred` is released on drop.
        let major = unsafe {
            (lib.acquire_cred_from)(
                &mut minor,
                name.name,
                0,
                (&mechs as *const OidSetDesc).cast(),
                usage,
                &store,
                &mut cred,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        lib.check(what, major, minor)?;
        Ok(Credential { lib, cred })
    }
}

impl Drop for Credential {
    fn drop(&mut self) {
        let mut m: OmUint32 = 0;
        // SAFETY: the handle acquired in `acquire`, released once.
        unsafe { (self.lib.release_cred)(&mut m, &mut self.cred) };
    }
}

/// Acceptor credentials for one principal from `keytab`.
pub struct AcceptorCredential(Credential);

impl std::fmt::Debug for AcceptorCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptorCredential")
    }
}

impl AcceptorCredential {
    /// gss_acquire_cred_from for `principal` (`service/host@REALM`, taken
    /// as written) with the keys of `keytab`.
    pub fn acquire(principal: &str, keytab: &str) -> Result<AcceptorCredential, String> {
        let lib = library()?;
        let name = OwnedName::import(lib, principal, NT_KRB5_PRINCIPAL_NAME)?;
        let what = format!("acquiring acceptor credentials for {principal} from {keytab}");
        Credential::acquire(lib, &name, GSS_C_ACCEPT, &[(c"keytab", keytab)], &what).map(AcceptorCredential)
    }
}

/// Initiator credentials: a principal's tickets, got with the keys of its
/// keytab (Java's Krb5LoginModule with useKeyTab=true, and its Login
/// thread that logs in again from the keytab before the ticket expires).
///
/// How: gss_acquire_cred_from with MIT's credential store, `client_keytab`
/// naming the keytab and `ccache` a MEMORY cache private to this process.
/// Finding the cache empty and keys for the principal in the keytab, the
/// library gets the ticket-granting ticket from the KDC at once, so a wrong
/// keytab or principal refuses start-up as Java's login does; it notes a
/// refresh time at half the ticket's life, and the first
/// gss_init_sec_context after it gets a fresh ticket from the keytab (the
/// old one serves on if the KDC cannot be reached). This is what works
/// reliably: KRB5_CLIENT_KTNAME is one environment variable for
/// the whole process (read only when the library initializes, unsafe to set
/// once threads run) and would also write tickets to the default cache that
/// other programs share; gss_krb5_import_cred needs a krb5_context and a
/// ccache handled through libkrb5 directly, i.e. re-implementing the
/// refresh. The MEMORY cache keeps the tickets out of the user's cache.
pub struct InitiatorCredential {
    cred: Credential,
    principal: String,
}

impl std::fmt::Debug for InitiatorCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorCredential").field("principal", &self.principal).finish()
    }
}

/// The process's cache for initiator tickets (MEMORY caches are private to
/// the process).
const INITIATOR_CCACHE: &str = "MEMORY:zkserver-initiator";

impl InitiatorCredential {
    /// Tickets for `principal` (realm optional: the default realm) from
    /// `keytab`, got from the KDC now.
    pub fn acquire(principal: &str, keytab: &str) -> Result<InitiatorCredential, String> {
        let lib = library()?;
        let name = OwnedName::import(lib, principal, NT_KRB5_PRINCIPAL_NAME)?;
        let full = name.display()?;
        let what = format!("logging in as {full} with the keys of {keytab}");
        let store = [(c"client_keytab", keytab), (c"ccache", INITIATOR_CCACHE)];
        let cred = Credential::acquire(lib, &name, GSS_C_INITIATE, &store, &what)?;
        Ok(InitiatorCredential { cred, principal: full })
    }

    /// The principal with its realm (Java's Subject principal name).
    pub fn principal(&self) -> &str {
        &self.principal
    }
}

/// One security context handle, deleted on drop; wraps and unwraps once
/// established.
struct Context {
    lib: &'static Library,
    ctx: Ctx,
}

impl Context {
    /// wrap without confidentiality (integrity only), as MessageProp(0, false).
    fn wrap(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let lib = self.lib;
        let mut minor: OmUint32 = 0;
        let mut input = BufferDesc::of(message);
        let mut output = BufferDesc::empty();
        // SAFETY: an established context and valid descriptors.
        let major =
            unsafe { (lib.wrap)(&mut minor, self.ctx, 0, 0, &mut input, std::ptr::null_mut(), &mut output) };
        let out = lib.take(&mut output);
        lib.check("gss_wrap", major, minor)?;
        Ok(out)
    }

    /// unwrap; a replayed, old or out-of-sequence token is an error
    /// (checkMessageProp).
    fn unwrap(&self, token: &[u8]) -> Result<Vec<u8>, String> {
        let lib = self.lib;
        if self.ctx.is_null() {
            return Err("gss_unwrap: no security context".to_string());
        }
        let mut minor: OmUint32 = 0;
        let mut input = BufferDesc::of(token);
        let mut output = BufferDesc::empty();
        // SAFETY: an established context and valid descriptors.
        let major = unsafe {
            (lib.unwrap)(&mut minor, self.ctx, &mut input, &mut output, std::ptr::null_mut(), std::ptr::null_mut())
        };
        let out = lib.take(&mut output);
        lib.check("gss_unwrap", major, minor)?;
        if major & GSS_S_SUPPLEMENTARY_TOKEN_BITS != 0 {
            return Err(format!("gss_unwrap: token out of sequence (status 0x{major:x})"));
        }
        Ok(out)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.ctx.is_null() {
            let mut m: OmUint32 = 0;
            // SAFETY: the context the library created, deleted once.
            unsafe { (self.lib.delete_sec_context)(&mut m, &mut self.ctx, std::ptr::null_mut()) };
        }
    }
}

/// One security context being accepted (GSSContext on the server side).
pub struct AcceptContext {
    ctx: Context,
    established: bool,
    peer: Option<String>,
}

// SAFETY: the context is used by one thread at a time (its connection's
// lock, or the thread owning the socket) and deleted once, on drop.
unsafe impl Send for AcceptContext {}

impl std::fmt::Debug for AcceptContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptContext").field("established", &self.established).field("peer", &self.peer).finish()
    }
}

impl AcceptContext {
    pub fn new() -> Result<AcceptContext, String> {
        let ctx = Context { lib: library()?, ctx: std::ptr::null_mut() };
        Ok(AcceptContext { ctx, established: false, peer: None })
    }

    pub fn is_established(&self) -> bool {
        self.established
    }

    /// The initiator's principal (getSrcName), once established.
    pub fn peer(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// acceptSecContext: the token to send back (maybe empty).
    pub fn accept(&mut self, cred: &AcceptorCredential, token: &[u8]) -> Result<Vec<u8>, String> {
        let lib = self.ctx.lib;
        let mut minor: OmUint32 = 0;
        let mut input = BufferDesc::of(token);
        let mut output = BufferDesc::empty();
        let mut src: Name = std::ptr::null_mut();
        // SAFETY: valid handles and descriptors; the output buffer and the
        // source name are released below.
        let major = unsafe {
            (lib.accept_sec_context)(
                &mut minor,
                &mut self.ctx.ctx,
                cred.0.cred,
                &mut input,
                std::ptr::null(),
                &mut src,
                std::ptr::null_mut(),
                &mut output,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let out = lib.take(&mut output);
        let result = lib.check("GSS initiate failed", major, minor);
        if result.is_ok() && major & GSS_S_CONTINUE_NEEDED == 0 {
            self.established = true;
            self.peer = display_name(lib, src).ok();
        }
        if !src.is_null() {
            let mut m: OmUint32 = 0;
            // SAFETY: the name the library gave, released once.
            unsafe { (lib.release_name)(&mut m, &mut src) };
        }
        result?;
        if self.established && self.peer.is_none() {
            return Err("GSS initiate failed: the initiator has no displayable name".to_string());
        }
        Ok(out)
    }

    pub fn wrap(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.ctx.wrap(message)
    }

    pub fn unwrap(&self, token: &[u8]) -> Result<Vec<u8>, String> {
        self.ctx.unwrap(token)
    }
}

/// One security context being initiated (GSSContext on the client side)
/// towards the acceptor `service@host`.
pub struct InitContext {
    ctx: Context,
    target: OwnedName,
    established: bool,
}

// SAFETY: the context is used by the one thread running its negotiation
// and deleted once, on drop.
unsafe impl Send for InitContext {}

impl std::fmt::Debug for InitContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitContext").field("established", &self.established).finish()
    }
}

impl InitContext {
    /// A context for the host-based service `service@host` (the library
    /// maps it to `service/host@REALM`, the realm from krb5.conf's
    /// domain_realm or the default realm, as the JDK does).
    pub fn new(service: &str, host: &str) -> Result<InitContext, String> {
        let lib = library()?;
        let target = OwnedName::import(lib, &format!("{service}@{host}"), NT_HOSTBASED_SERVICE)?;
        Ok(InitContext { ctx: Context { lib, ctx: std::ptr::null_mut() }, target, established: false })
    }

    pub fn is_established(&self) -> bool {
        self.established
    }

    /// initSecContext: the token for the acceptor (maybe empty).
    pub fn step(&mut self, cred: &InitiatorCredential, token: &[u8]) -> Result<Vec<u8>, String> {
        let lib = self.ctx.lib;
        let mut minor: OmUint32 = 0;
        let mut input = BufferDesc::of(token);
        let mut output = BufferDesc::empty();
        let mech = OidDesc { length: KRB5_MECHANISM.len() as OmUint32, elements: KRB5_MECHANISM.as_ptr().cast() };
        let flags = GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
        // SAFETY: valid handles and descriptors that outlive the call; the
        // output buffer is taken (released) below.
        let major = unsafe {
            (lib.init_sec_context)(
                &mut minor,
                cred.cred.cred,
                &mut self.ctx.ctx,
                self.target.name,
                &mech,
                flags,
                0,
                std::ptr::null(),
                &mut input,
                std::ptr::null_mut(),
                &mut output,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let out = lib.take(&mut output);
        lib.check("GSS initiate failed", major, minor)?;
        self.established = major & GSS_S_CONTINUE_NEEDED == 0;
        Ok(out)
    }

    pub fn wrap(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.ctx.wrap(message)
    }

    pub fn unwrap(&self, token: &[u8]) -> Result<Vec<u8>, String> {
        self.ctx.unwrap(token)
    }
}
