//! Addresses as Java's networking prints and binds them (NetUtils, and what
//! InetAddress/InetSocketAddress do on their own): the IPv6 wildcard that
//! also takes IPv4 connections, IPv4-mapped peers seen as IPv4, IPv6
//! written out in full, and an address's host name by reverse lookup
//! (InetAddress.getHostName, on a short-lived "ReverseLookup" thread so its
//! caller waits a bounded time).

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long a caller of `host_name` waits for the lookup.
pub const REVERSE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// Reverse lookups under way at once; more get no name.
const MAX_REVERSE_LOOKUPS: usize = 4;
static REVERSE_LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// InetAddress.getHostName for an address that has no name yet: the name
/// the resolver (hosts file or DNS PTR) gives `ip`, kept only if that name
/// resolves back to `ip` (as Java checks), else None. None too when no
/// answer came within `timeout` (the lookup then finishes on its own) or
/// MAX_REVERSE_LOOKUPS are already under way.
pub fn host_name(ip: IpAddr, timeout: Duration) -> Option<String> {
    if REVERSE_LOOKUPS.fetch_add(1, Ordering::AcqRel) >= MAX_REVERSE_LOOKUPS {
        REVERSE_LOOKUPS.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!("No reverse lookup of {ip}: {MAX_REVERSE_LOOKUPS} are already under way");
        return None;
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new().name("ReverseLookup".into()).spawn(move || {
        let name = name_info(ip).filter(|name| {
            (name.as_str(), 0).to_socket_addrs().map(|mut addrs| addrs.any(|a| canonical(a).ip() == ip)).unwrap_or(false)
        });
        REVERSE_LOOKUPS.fetch_sub(1, Ordering::AcqRel);
        let _ = tx.send(name);
    });
    if let Err(e) = spawned {
        REVERSE_LOOKUPS.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!("No reverse lookup of {ip}: cannot start a thread: {e}");
        return None;
    }
    match rx.recv_timeout(timeout) {
        Ok(name) => name,
        Err(_) => {
            tracing::warn!("No host name for {ip}: the reverse lookup took over {timeout:?}");
            None
        }
    }
}

/// getnameinfo with NI_NAMEREQD: the name, or None when there is none.
fn name_info(ip: IpAddr) -> Option<String> {
    let addr = socket2::SockAddr::from(SocketAddr::new(ip, 0));
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `addr` is a valid socket address of `addr.len()` bytes and
    // `host` a writable buffer of the length given; both outlive the call,
    // which writes a NUL-terminated name into `host` on success.
    let rc = unsafe {
        libc::getnameinfo(
            addr.as_ptr(),
            addr.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo left a NUL-terminated string in `host`.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    name.to_str().ok().map(str::to_string)
}

/// A peer address as Java sees it: an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4 peer)
/// becomes the IPv4 address, as InetAddress.getByAddress makes an
/// Inet4Address of it. Every other address is kept.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

/// InetAddress.getHostAddress: dotted IPv4, or the eight groups of an IPv6
/// address in lower-case hex without leading zeros and never compressed
/// (`0:0:0:0:0:0:0:1`).
pub fn host_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.segments().iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":"),
    }
}

/// InetSocketAddress.toString for an address without a host name, as the
/// JDK the Java server runs on prints it (since JDK 14 an IPv6 address is
/// bracketed): `/127.0.0.1:2181`, `/[0:0:0:0:0:0:0:1]:2181`.
pub fn java_socket_address(addr: SocketAddr) -> String {
    format!("/{}", format_inet_addr(&addr))
}

/// NetUtils.formatInetAddr: `127.0.0.1:3888`, `[0:0:0:0:0:0:0:1]:3888`.
pub fn format_inet_addr(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(_) => format!("{}:{}", host_address(addr.ip()), addr.port()),
        IpAddr::V6(_) => format!("[{}]:{}", host_address(addr.ip()), addr.port()),
    }
}

/// The address a server socket really binds for `addr`. Java binds its
/// server sockets on an IPv6 socket whenever the host has IPv6, so the
/// wildcard (`0.0.0.0`, what no address or `clientPortAddress=0.0.0.0`
/// means) takes connections to `::1` and to `127.0.0.1` alike: the
/// wildcard becomes `[::]` with IPV6_V6ONLY off. Where the host has no
/// IPv6 (the socket cannot be made) it stays `0.0.0.0`. A named address is
/// bound as it is. `backlog` goes to listen() as it is; the kernel caps it
/// at net.core.somaxconn.
pub fn bind_listener(addr: SocketAddr, backlog: i32, reuse_address: bool) -> io::Result<TcpListener> {
    if let IpAddr::V4(v4) = addr.ip() {
        if v4.is_unspecified() {
            if let Some(sock) = dual_stack_socket() {
                let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), addr.port());
                return finish(sock, any, backlog, reuse_address);
            }
        }
    }
    let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    finish(sock, addr, backlog, reuse_address)
}

/// An IPv6 stream socket that also takes IPv4, or None where the host
/// cannot make one (no IPv6 in the kernel: EAFNOSUPPORT, or the option
/// refused).
fn dual_stack_socket() -> Option<socket2::Socket> {
    let sock = match socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("no IPv6 socket ({e}); binding the IPv4 wildcard");
            return None;
        }
    };
    match sock.set_only_v6(false) {
        Ok(()) => Some(sock),
        Err(e) => {
            tracing::debug!("cannot clear IPV6_V6ONLY ({e}); binding the IPv4 wildcard");
            None
        }
    }
}

fn finish(sock: socket2::Socket, addr: SocketAddr, backlog: i32, reuse_address: bool) -> io::Result<TcpListener> {
    if reuse_address {
        sock.set_reuse_address(true)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    Ok(sock.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn the_loopback_address_has_a_name_that_leads_back_to_it() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let name = host_name(ip, Duration::from_secs(10)).expect("127.0.0.1 has a name (/etc/hosts)");
        assert!((name.as_str(), 0).to_socket_addrs().unwrap().any(|a| a.ip() == ip), "{name}");
    }

    #[test]
    fn java_forms() {
        let v6: SocketAddr = "[::1]:2181".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:2181".parse().unwrap();
        assert_eq!(java_socket_address(v6), "/[0:0:0:0:0:0:0:1]:2181");
        assert_eq!(java_socket_address(v4), "/127.0.0.1:2181");
        assert_eq!(format_inet_addr(&v6), "[0:0:0:0:0:0:0:1]:2181");
        assert_eq!(format_inet_addr(&v4), "127.0.0.1:2181");
        assert_eq!(host_address("fe80::a:b0".parse().unwrap()), "fe80:0:0:0:0:0:a:b0");
        assert_eq!(canonical("[::ffff:127.0.0.1]:5".parse().unwrap()), "127.0.0.1:5".parse().unwrap());
        assert_eq!(canonical(v6), v6);
    }

    #[test]
    fn the_wildcard_takes_both_families() {
        let l = bind_listener("0.0.0.0:0".parse().unwrap(), 5, true).unwrap();
        let port = l.local_addr().unwrap().port();
        TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_, from) = l.accept().unwrap();
        assert_eq!(canonical(from).ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
        if l.local_addr().unwrap().is_ipv6() {
            TcpStream::connect(("::1", port)).unwrap();
            let (_, from) = l.accept().unwrap();
            assert_eq!(canonical(from).ip(), "::1".parse::<IpAddr>().unwrap());
        }
    }
}
