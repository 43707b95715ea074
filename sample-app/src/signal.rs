//! SIGTERM/SIGINT: the shutdown flag, and waiting for "a connection or a signal".
//!
//! std has no signal API, so this is the one file with FFI (libc's `signal`, `write`, `poll`).
//! The handler only does async-signal-safe things: store an atomic and `write` one byte to a
//! self-pipe. The accept loop `poll`s the listener and that pipe together, so a signal stops
//! accepting at once, with no timed polling and no lost wake-up.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::raw::{c_int, c_short, c_void};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

// Same values on Linux and macOS.
const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;
const POLLIN: c_short = 0x1;
/// `SIG_ERR`, what `signal` returns on failure.
const SIG_ERR: usize = usize::MAX;

#[cfg(target_os = "linux")]
type Nfds = std::os::raw::c_ulong;
#[cfg(not(target_os = "linux"))]
type Nfds = std::os::raw::c_uint;

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

extern "C" {
    // `signal` rather than `sigaction`: no struct layout to mirror, and glibc and musl give it
    // BSD semantics (handler stays installed, SA_RESTART), which is what we want.
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn poll(fds: *mut PollFd, nfds: Nfds, timeout: c_int) -> c_int;
}

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// Write end of the self-pipe, -1 until `install`.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Both ends of the self-pipe, kept open for the life of the process.
static WAKE_PAIR: OnceLock<(UnixStream, UnixStream)> = OnceLock::new();

extern "C" fn on_signal(_signum: c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: `write` is async-signal-safe; `fd` is the non-blocking write end of a socket
        // pair that is never closed, and `byte` outlives the call. A full buffer only means a
        // wake-up is already pending, so the result is ignored.
        unsafe { write(fd, std::ptr::addr_of!(byte).cast(), 1) };
    }
}

/// Routes SIGTERM and SIGINT to the shutdown flag. Call once, before serving.
pub fn install() -> io::Result<()> {
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    WAKE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
    // A second call keeps the first pair; the handler already points at it.
    let _ = WAKE_PAIR.set((read, write));
    for signum in [SIGTERM, SIGINT] {
        // SAFETY: `on_signal` is an `extern "C" fn(c_int)` that only touches atomics and
        // calls `write`, both async-signal-safe.
        if unsafe { signal(signum, on_signal) } == SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether SIGTERM or SIGINT has arrived.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Blocks until `listener` has a connection to accept or a shutdown signal has arrived; the
/// caller checks `requested()` afterwards. An interrupted wait returns early, which is harmless.
pub fn wait_for_connection_or_signal(listener: RawFd) -> io::Result<()> {
    let wake = WAKE_PAIR.get().map_or(-1, |(read, _)| read.as_raw_fd());
    // A negative fd is ignored by `poll`, so this works before `install` too.
    let mut fds = [
        PollFd {
            fd: listener,
            events: POLLIN,
            revents: 0,
        },
        PollFd {
            fd: wake,
            events: POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a valid, writable array of two `struct pollfd`s for the whole call.
    let ready = unsafe { poll(fds.as_mut_ptr(), 2, -1) };
    if ready < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}
