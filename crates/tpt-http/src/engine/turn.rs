//! Who runs the engine's runtime: its own thread, or a host thread waiting in `News::wait`
//! (DESIGN.md, "The host drives while it waits").
//!
//! A host entering its wait takes the runtime (waking the engine thread's `block_on` once if it
//! had it). When the host leaves, it does not hand the runtime back: it sets an alarm one
//! [`LEASE`] ahead (at most once per half lease, so a fast loop pays one system call per
//! millisecond, not one per wait), and later leaves push the alarm on, so a host that keeps
//! coming back (a `--fps 0` loop) never wakes the engine thread. Only when no host has been in
//! its wait for half a lease to a lease does the alarm ring, and the engine thread runs the
//! runtime again, so transfers and timers go on without the host. On Linux the alarm is a
//! timerfd, whose deadline can move without waking the thread that sleeps on it; elsewhere the
//! engine thread looks once per lease while hosts come and go.

use std::sync::{Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// A host that left its wait gets this long to come back before the engine thread takes the
/// runtime again. It bounds how late I/O and timers are handled while a host that waits is
/// busy elsewhere (tokio's timers are 1 ms coarse); DESIGN.md has the numbers that chose it.
pub(super) const LEASE: Duration = Duration::from_millis(2);

/// The engine thread takes the runtime back once no host has been in its wait for this long
/// (the alarm, set at most this often, rings between this and [`LEASE`] after the last leave).
const HALF_LEASE: Duration = Duration::from_millis(1);

thread_local! {
    pub(super) static ON_ENGINE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The hand-over state between the engine thread and waiting hosts.
pub(super) struct Turn {
    state: Mutex<TurnState>,
    /// Without an alarm: the engine thread sleeps here while hosts run the runtime.
    cv: Condvar,
    /// Rings one lease after the last host left (`None`: no timerfd, use `cv`).
    alarm: Option<alarm::Alarm>,
}

impl Default for Turn {
    fn default() -> Turn {
        Turn {
            state: Mutex::new(TurnState::default()),
            cv: Condvar::new(),
            alarm: alarm::Alarm::new(),
        }
    }
}

#[derive(Default)]
struct TurnState {
    /// Hosts inside (or entering) their wait, running the runtime or about to.
    hosts_in: usize,
    /// When the last host left its wait.
    left_at: Option<Instant>,
    /// When the first of the hosts now inside entered.
    entered_at: Option<Instant>,
    /// When a leave last set the alarm (one lease ahead); `None` once a host took it off.
    armed_at: Option<Instant>,
    /// The alarm is set and has not rung yet (as far as we know).
    armed: bool,
    /// The last wait lasted half a lease or more: the next one probably will too.
    long_waits: bool,
    /// (Without an alarm.) The engine thread sleeps without a deadline and wants a wake-up when
    /// the last host leaves (only after a host stayed in for a whole lease).
    wake_on_leave: bool,
    /// Wakes the engine thread's `block_on` so that it hands the runtime over.
    engine_waker: Option<Waker>,
}

impl Turn {
    fn lock(&self) -> std::sync::MutexGuard<'_, TurnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A host enters its wait: the engine thread hands the runtime over.
    pub(super) fn host_enters(&self) {
        let waker = {
            let mut st = self.lock();
            st.hosts_in += 1;
            if st.hosts_in == 1 {
                st.entered_at = Some(Instant::now());
                // Waits that outlast the alarm would each ring it, and wake the engine thread,
                // while the host is inside: after a long wait, take the alarm off for this one
                // (the leave sets it again). Short waits leave it be (no system call).
                if st.long_waits
                    && st.armed
                    && let Some(alarm) = &self.alarm
                {
                    alarm.disarm();
                    st.armed = false;
                    st.armed_at = None;
                }
            }
            st.engine_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// A host leaves its wait.
    fn host_leaves(&self) {
        let mut st = self.lock();
        st.hosts_in -= 1;
        if st.hosts_in == 0 {
            let now = Instant::now();
            st.left_at = Some(now);
            st.long_waits = st
                .entered_at
                .is_some_and(|t| now.saturating_duration_since(t) >= HALF_LEASE);
            st.entered_at = None;
            match &self.alarm {
                // Set less than half a lease ago: it rings at least half a lease from now.
                Some(_)
                    if st
                        .armed_at
                        .is_some_and(|t| now.saturating_duration_since(t) < HALF_LEASE) => {}
                Some(alarm) => {
                    alarm.ring_in(LEASE);
                    st.armed_at = Some(now);
                    st.armed = true;
                }
                None if st.wake_on_leave => {
                    st.wake_on_leave = false;
                    self.cv.notify_one();
                }
                None => {}
            }
        }
    }

    /// On the engine thread, after handing the runtime over: sleep until no host has been in
    /// its wait for half a lease (with the alarm; a lease without it).
    pub(super) fn wait_for_hosts_to_leave(&self) {
        let enough = if self.alarm.is_some() { HALF_LEASE } else { LEASE };
        let mut st = self.lock();
        loop {
            let now = Instant::now();
            if st.hosts_in == 0 {
                let away = st.left_at.map_or(LEASE, |t| now.saturating_duration_since(t));
                if away >= enough {
                    return;
                }
                if let Some(alarm) = &self.alarm {
                    // Normally set already by a leave; make sure it rings for this absence.
                    alarm.ring_in(enough - away);
                    st.armed = true;
                }
            }
            // With hosts inside, the last one to leave sets the alarm.
            if let Some(alarm) = &self.alarm {
                drop(st);
                let rang = alarm.wait();
                st = self.lock();
                if rang {
                    st.armed = false;
                    continue;
                }
                // The alarm failed (it should not): look again after a lease.
                st = self
                    .cv
                    .wait_timeout(st, LEASE)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                continue;
            }
            let timeout = if st.hosts_in == 0 {
                let away = st.left_at.map_or(LEASE, |t| now.saturating_duration_since(t));
                Some(LEASE.saturating_sub(away))
            } else if st
                .entered_at
                .is_some_and(|t| now.saturating_duration_since(t) >= LEASE)
            {
                // A long wait (a slow transfer): sleep until the host leaves it, rather than
                // look every lease.
                st.wake_on_leave = true;
                None
            } else {
                Some(LEASE)
            };
            st = match timeout {
                Some(t) => self.cv.wait_timeout(st, t).unwrap_or_else(|e| e.into_inner()).0,
                None => self.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// The engine thread's turn at running the runtime: ends when a host wants it.
pub(super) struct EngineTurn<'a>(pub(super) &'a Turn);

impl std::future::Future for EngineTurn<'_> {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut st = self.0.lock();
        if st.hosts_in > 0 {
            st.engine_waker = None;
            return Poll::Ready(());
        }
        if !st.engine_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.engine_waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Leaves the turn even if the wait unwinds.
pub(super) struct HostInside<'a>(pub(super) &'a Turn);

impl Drop for HostInside<'_> {
    fn drop(&mut self) {
        self.0.host_leaves();
    }
}

#[cfg(target_os = "linux")]
mod alarm {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    /// A one-shot timer whose deadline can move while a thread sleeps on it (a timerfd).
    pub(super) struct Alarm(OwnedFd);

    impl Alarm {
        pub(super) fn new() -> Option<Alarm> {
            // SAFETY: timerfd_create takes no pointers; it returns a new descriptor or -1.
            let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            // SAFETY: `fd` was just created and nothing else owns it.
            Some(Alarm(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        /// Ring once, `after` from now, replacing any earlier deadline (at least 1 ns: a zero
        /// deadline would disarm it).
        pub(super) fn ring_in(&self, after: Duration) {
            let after = after.max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: after.as_secs() as libc::time_t,
                    tv_nsec: after.subsec_nanos() as libc::c_long,
                },
            };
            // SAFETY: `spec` is a valid itimerspec that outlives the call, and a null pointer
            // for the old value is allowed; the descriptor is ours and open.
            unsafe { libc::timerfd_settime(self.0.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        }

        /// Take the alarm off (a ring already due stays readable).
        pub(super) fn disarm(&self) {
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
            };
            // SAFETY: as in `ring_in`; a zero `it_value` disarms the timer.
            unsafe { libc::timerfd_settime(self.0.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        }

        /// Sleep until it rings (or rang since the last wait); false if the read failed.
        pub(super) fn wait(&self) -> bool {
            let mut expirations = 0u64;
            loop {
                // SAFETY: a timerfd read writes exactly 8 bytes, into `expirations`, which is 8
                // writable bytes that outlive the call.
                let n = unsafe {
                    libc::read(
                        self.0.as_raw_fd(),
                        (&raw mut expirations).cast::<libc::c_void>(),
                        std::mem::size_of::<u64>(),
                    )
                };
                if n == 8 {
                    return true;
                }
                if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return false;
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod alarm {
    use std::time::Duration;

    /// No movable timer here: the engine thread looks once per lease instead.
    pub(super) enum Alarm {}

    impl Alarm {
        pub(super) fn new() -> Option<Alarm> {
            None
        }
        pub(super) fn ring_in(&self, _after: Duration) {
            match *self {}
        }
        pub(super) fn disarm(&self) {
            match *self {}
        }
        pub(super) fn wait(&self) -> bool {
            match *self {}
        }
    }
}
