//! The Lua binding: the only part of the crate that touches the Lua C API.
//!
//! It is written against the raw C API (through `mlua::ffi`) rather than mlua's userdata layer for
//! two reasons: TPT's argument errors must reach scripts as plain strings carrying the caller's
//! `chunk:line:` prefix (mlua raises its own error objects), and `status()` is called for every
//! request every frame, so it must cost no more than TPT's own C function.
//!
//! Layout, as in TPT: a table with `get`, `post` and `getAuthToken` (each a C closure whose one
//! upvalue is the per-state context), and request objects that are full userdata with the
//! `HTTPRequest` metatable (`__gc` and an `__index` table of `status`, `progress`, `cancel`,
//! `finish`).
//!
//! **Unwinding rule:** a Lua error unwinds (or long-jumps) through our frames without running
//! Rust destructors, so every function raises only from [`raise`], after all its Rust values are
//! dropped.

use crate::IdentityProvider;
use crate::auth;
use crate::engine::{Client, InFlightLimit, Pending};
use crate::spec::{self, FormItem, HeaderList, PostBody, RequestSpec};
use crate::state::{News, Watcher};
use mlua::ffi;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ffi::{CStr, c_char, c_int};
use std::rc::Rc;
use std::sync::Arc;

const REQUEST_META: &CStr = c"HTTPRequest";
const CTX_META: &CStr = c"tpt_http.context";

/// Per-`http`-table context, shared by the `http` functions and every request object they made.
///
/// **Lifetime.** Lua runs finalizers in reverse order of marking, at close and whenever it likes,
/// and a finalizer may call anything it can reach. So nothing here relies on finalizer order:
/// - The context box (a full userdata holding `Option<Rc<Ctx>>`, the one upvalue of `get`,
///   `post` and `getAuthToken`) is anchored in the registry, so no collection can finalize it
///   while the state is open: its `__gc` ([`ctx_gc`]) runs only when the state closes (or when a
///   script with the `debug` library calls it by hand). It then [`Ctx::close`]s the context:
///   every request it made is ended and its transfer aborted, and the box is left empty.
/// - The `http` functions read the box after their last allocation and treat an empty box as a
///   closed state: they return a request that is dead at once (no transfer is started).
/// - Every request holds its own `Rc<Ctx>`, and the context holds the address of every live
///   request's slot ([`Ctx::live`]), so that closing can end requests whose own `__gc` will never
///   run (Lua 5.1 and 5.4 do not finalize objects created by a finalizer during `lua_close`).
///   A request's `__gc` takes its slot out of that set; closing empties it.
pub(crate) struct Ctx {
    pub(crate) client: RefCell<Client>,
    /// TPT's tick gating is on (starts as `Config::tick_gating`).
    pub(crate) gating: Cell<bool>,
    /// A request was made; the client can no longer be replaced.
    pub(crate) used: Cell<bool>,
    /// `Config::max_in_flight`, shared by this state's transfers.
    pub(crate) limit: RefCell<Option<InFlightLimit>>,
    pub(crate) news: News,
    pub(crate) tick: Cell<u64>,
    pub(crate) identity: RefCell<Option<Arc<dyn IdentityProvider>>>,
    /// When set, new transfers wait in `pending` until the host calls `Http::flush`.
    pub(crate) batch: Cell<bool>,
    pub(crate) pending: RefCell<Vec<Pending>>,
    /// How many times `pending` was flushed: a request queued at flush count `n` has been
    /// started once the count moved past `n`.
    pub(crate) flushes: Cell<u64>,
    /// The host runs a callback that is not an interface event: every `http` function and
    /// request method (but `__gc`) raises TPT's "restricted to interface events" error.
    pub(crate) restricted: Cell<bool>,
    /// The slots of the requests made through this context whose `__gc` has not run.
    live: RefCell<HashSet<*mut RequestSlot>>,
}

impl Ctx {
    pub(crate) fn new(client: Client) -> Ctx {
        Ctx {
            gating: Cell::new(client.config().tick_gating),
            used: Cell::new(false),
            limit: RefCell::new(InFlightLimit::of(client.config())),
            client: RefCell::new(client),
            news: News::new(),
            tick: Cell::new(0),
            identity: RefCell::new(None),
            batch: Cell::new(false),
            pending: RefCell::new(Vec::new()),
            flushes: Cell::new(0),
            restricted: Cell::new(false),
            live: RefCell::new(HashSet::new()),
        }
    }

    /// Start every request queued by batched starts.
    pub(crate) fn flush(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        self.flushes.set(self.flushes.get() + 1);
        Pending::start_all(pending);
    }

    /// The state is closing: end every request made through this context (their transfers are
    /// aborted and their objects read as dead) and drop queued starts. Its box is empty by then,
    /// so nothing more can start through it.
    ///
    /// # Safety
    /// Only from [`ctx_gc`]: every slot in `live` must still be the memory of a userdata
    /// (see the proof there).
    unsafe fn close(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        let live = std::mem::take(&mut *self.live.borrow_mut());
        // Each taken request drops its `Rc<Ctx>`; our caller holds another, so `self` lives on.
        let ended: Vec<RequestSlot> = live
            .into_iter()
            // SAFETY: per this function's contract each slot is live userdata memory holding
            // an initialised `RequestSlot`, and no reference to it is held anywhere (every
            // C function of this module drops its `&mut Request` before it returns or
            // allocates, and `close` runs inside a finalizer, never inside such a function).
            .map(|slot| unsafe { (*slot).take() })
            .collect();
        drop(pending);
        drop(ended);
    }

    /// TPT's check at the top of every `http` function and request method.
    fn check_interface_event(&self) -> Result<(), LuaErr> {
        if self.restricted.get() {
            return Err(LuaErr::Msg(
                "this functionality is restricted to interface events".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Running,
    Done,
    Dead,
}

/// Where a request object is in its life. Every method reads this one enum.
///
/// ```text
///   Live(watcher) ──finish()──▶ Finished(reason)      (status "dead")
///        │
///        └──────cancel()──────▶ Cancelled              (status "dead", error() "cancelled")
/// ```
/// A `Live` request reads "running" until its watcher is done, then "done" (and, with tick
/// gating, "running" at least until the tick after it was first seen running).
enum Phase {
    /// The transfer runs, or has finished with its outcome not taken yet.
    Live(Watcher),
    /// `finish()` took the outcome; why the transfer failed, if it did.
    Finished(Option<String>),
    /// `cancel()` ended it.
    Cancelled,
}

/// What a request object holds.
struct Request {
    phase: Phase,
    /// The tick at which the script last saw it running (TPT's "seen running this tick").
    seen_tick: u64,
    /// Made by `getAuthToken`: `finish()` reads the auth server's answer.
    auth: bool,
    /// Queued in `Ctx::pending` at this flush count (see `Ctx::flushes`).
    queued: Option<u64>,
    ctx: Rc<Ctx>,
}

impl Request {
    /// TPT's `GetStatus`, with the "seen running this tick" flag as a tick number.
    fn status(&mut self) -> Status {
        let gating = self.ctx.gating.get();
        let tick = self.ctx.tick.get();
        if gating && self.seen_tick == tick {
            return Status::Running;
        }
        match &self.phase {
            Phase::Finished(_) | Phase::Cancelled => Status::Dead,
            Phase::Live(w) if w.is_done() => Status::Done,
            Phase::Live(_) => {
                self.seen_tick = tick;
                Status::Running
            }
        }
    }

    fn cancel(&mut self) {
        self.phase = Phase::Cancelled;
    }

    /// The watcher while the request is live.
    fn watcher(&self) -> Option<&Watcher> {
        match &self.phase {
            Phase::Live(w) => Some(w),
            _ => None,
        }
    }
}

/// The userdata payload: `None` once collected.
type RequestSlot = Option<Request>;

/// An error to raise once every Rust value of the failing call is dropped.
enum LuaErr {
    /// `bad argument #n to 'f' (<expected> expected, got <type>)`.
    ArgType(c_int, &'static CStr),
    /// A `luaL_error`-style message, prefixed with the caller's position.
    Msg(String),
}

/// Raise `err` as TPT would. Nothing of ours may be live on the Rust stack above this call.
/// # Safety
/// `l` is the running C function's state; the caller holds no Rust value that needs dropping.
unsafe fn raise(l: *mut ffi::lua_State, err: LuaErr) -> ! {
    // SAFETY: `l` is the running C function's state (contract). luaL_typename reads argument
    // `n`, which exists (ArgType is made only for arguments that were checked). The message
    // String is copied into Lua and dropped before lua_error, so nothing of ours is left on the
    // Rust stack when it unwinds or long-jumps.
    unsafe {
        match err {
            LuaErr::ArgType(n, expected) => {
                let got = ffi::luaL_typename(l, n);
                let msg = ffi::lua_pushfstring(l, c"%s expected, got %s".as_ptr(), expected.as_ptr(), got);
                ffi::luaL_argerror(l, n, msg);
                ffi::lua_error(l)
            }
            LuaErr::Msg(msg) => {
                ffi::luaL_where(l, 1);
                ffi::lua_pushlstring(l, msg.as_ptr() as *const c_char, msg.len());
                drop(msg);
                ffi::lua_concat(l, 2);
                ffi::lua_error(l)
            }
        }
    }
}

/// The bytes of the string or number at `idx` (numbers are converted in place, as Lua does).
/// # Safety
/// `idx` is a valid stack index of the running C function; the slice must be copied before the
/// value at `idx` is popped.
unsafe fn bytes_at<'a>(l: *mut ffi::lua_State, idx: c_int) -> Option<&'a [u8]> {
    // SAFETY: lua_tolstring on a valid index returns NULL or a pointer to `len` bytes owned by
    // the Lua string at `idx`, which stays valid while that value stays on the stack; every
    // caller copies the slice before it pops the value.
    unsafe {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, idx, &mut len);
        if p.is_null() {
            None
        } else {
            Some(std::slice::from_raw_parts(p as *const u8, len))
        }
    }
}

/// # Safety
/// `l` is the running C function's state.
unsafe fn is_string(l: *mut ffi::lua_State, idx: c_int) -> bool {
    // SAFETY: lua_isstring accepts any acceptable index.
    unsafe { ffi::lua_isstring(l, idx) != 0 }
}

/// # Safety
/// `l` is the running C function's state.
unsafe fn check_string(l: *mut ffi::lua_State, idx: c_int) -> Result<Vec<u8>, LuaErr> {
    // SAFETY: `idx` is an argument index of the running C function (acceptable even when absent);
    // the bytes are copied at once.
    unsafe {
        if !is_string(l, idx) {
            return Err(LuaErr::ArgType(idx, c"string"));
        }
        Ok(bytes_at(l, idx).unwrap_or_default().to_vec())
    }
}

/// Read field `i` of the table at the top of the stack as a string, or `None` when nil.
/// # Safety
/// A table is at the top of `l`'s stack, with a free slot above it.
unsafe fn item_field(
    l: *mut ffi::lua_State,
    i: ffi::lua_Integer,
    err: impl Fn() -> String,
) -> Result<Option<Vec<u8>>, LuaErr> {
    // SAFETY: the table is at the top (contract); one value is pushed and popped on every path,
    // and its bytes are copied before the pop.
    unsafe {
        ffi::lua_rawgeti(l, -1, i);
        let out = if ffi::lua_isnil(l, -1) != 0 {
            Ok(None)
        } else if is_string(l, -1) {
            Ok(Some(bytes_at(l, -1).unwrap_or_default().to_vec()))
        } else {
            Err(LuaErr::Msg(err()))
        };
        ffi::lua_pop(l, 1);
        out
    }
}

/// Collect a `{name = value}` table at `idx`; values that are not strings or numbers become "".
/// # Safety
/// `idx` is an absolute stack index holding a table, with three free slots above the top.
unsafe fn dictionary(l: *mut ffi::lua_State, idx: c_int) -> Vec<(Vec<u8>, Vec<u8>)> {
    // SAFETY: `idx` is an absolute index of a table (contract). The lua_next loop keeps the key
    // at the top between iterations; the key is converted through a copy, so lua_next never sees
    // a key changed by lua_tolstring. Each iteration pops what it pushed.
    unsafe {
        let mut out = Vec::new();
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, idx) != 0 {
            ffi::lua_pushvalue(l, -2);
            let name = bytes_at(l, -1).unwrap_or_default().to_vec();
            let value = bytes_at(l, -2).unwrap_or_default().to_vec();
            ffi::lua_pop(l, 2);
            out.push((name, value));
        }
        out
    }
}

/// # Safety
/// `idx` is an absolute stack index holding a table, with free slots above the top.
unsafe fn form(l: *mut ffi::lua_State, idx: c_int) -> Result<PostBody, LuaErr> {
    // SAFETY: `idx` is an absolute index of a table (contract); every push is popped on every
    // path, including the early returns.
    unsafe {
        let size = ffi::lua_rawlen(l, idx);
        if size == 0 {
            let items: Vec<FormItem> = dictionary(l, idx)
                .into_iter()
                .map(|(name, value)| FormItem {
                    name,
                    value,
                    filename: None,
                    content_type: None,
                })
                .collect();
            return Ok(if items.is_empty() {
                PostBody::Raw(Vec::new())
            } else {
                PostBody::Form(items)
            });
        }
        let mut items = Vec::with_capacity(size);
        for i in 1..=size {
            ffi::lua_rawgeti(l, idx, i as ffi::lua_Integer);
            if ffi::lua_istable(l, -1) == 0 {
                ffi::lua_pop(l, 1);
                return Err(LuaErr::Msg(format!("form item {i} is not a table")));
            }
            let fields = (|| {
                let name = item_field(l, 1, || format!("name of form item {i} is not a string"))?
                    .ok_or_else(|| LuaErr::Msg(format!("name of form item {i} is not a string")))?;
                let value = item_field(l, 2, || format!("value of form item {i} is not a string"))?
                    .ok_or_else(|| LuaErr::Msg(format!("value of form item {i} is not a string")))?;
                let filename = item_field(l, 3, || format!("filename of form item {i} is not a string"))?;
                let content_type =
                    item_field(l, 4, || format!("content type of form item {i} is not a string"))?;
                Ok(FormItem {
                    name,
                    value,
                    filename,
                    content_type,
                })
            })();
            ffi::lua_pop(l, 1);
            items.push(fields?);
        }
        Ok(PostBody::Form(items))
    }
}

/// # Safety
/// `l` is the running C function's state; `idx` an argument index.
unsafe fn headers(l: *mut ffi::lua_State, idx: c_int) -> Result<HeaderList, LuaErr> {
    // SAFETY: `idx` is an argument index (acceptable even when absent): only a table there is
    // read; every push is popped on every path.
    unsafe {
        if ffi::lua_istable(l, idx) == 0 {
            return Ok(Vec::new());
        }
        let size = ffi::lua_rawlen(l, idx);
        let list = if size == 0 {
            dictionary(l, idx)
        } else {
            let mut list = Vec::with_capacity(size);
            for i in 1..=size {
                ffi::lua_rawgeti(l, idx, i as ffi::lua_Integer);
                if ffi::lua_istable(l, -1) == 0 {
                    ffi::lua_pop(l, 1);
                    return Err(LuaErr::Msg(format!("header {i} is not a table")));
                }
                let pair = (|| {
                    let name = item_field(l, 1, || format!("name of header {i} is not a string"))?
                        .ok_or_else(|| LuaErr::Msg(format!("name of header {i} is not a string")))?;
                    let value = item_field(l, 2, || format!("value of header {i} is not a string"))?
                        .ok_or_else(|| LuaErr::Msg(format!("value of header {i} is not a string")))?;
                    Ok((name, value))
                })();
                ffi::lua_pop(l, 1);
                list.push(pair?);
            }
            list
        };
        // Beyond TPT: a header that would split into several lines on the wire is refused.
        if let Some((name, _)) = list
            .iter()
            .find(|(n, v)| spec::has_line_break(n) || spec::has_line_break(v))
        {
            return Err(LuaErr::Msg(format!(
                "header \"{}\" contains CR, LF or NUL",
                String::from_utf8_lossy(name).escape_debug()
            )));
        }
        Ok(list)
    }
}

/// The context of the running `http` function (its one upvalue), or `None` once the state closed.
///
/// Returns a clone: the box may be emptied by a finalizer at the next allocation, so no reference
/// into it is kept. Call it after the function's last allocation, so the clone is dropped before
/// anything can raise.
///
/// # Safety
/// Only from the C closures made by [`push_http_table`], whose upvalue 1 is a context box.
unsafe fn ctx_of(l: *mut ffi::lua_State) -> Option<Rc<Ctx>> {
    // SAFETY: upvalue 1 of these closures is always the context box pushed by push_http_table: a
    // full userdata of the box's size and alignment (asserted there), initialised before the
    // closures existed, and kept reachable by the closure itself. The box only ever holds
    // `Some` or `None`, never moved-from memory: `ctx_gc` empties it with `take`.
    unsafe {
        let boxed = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const CtxBox;
        (*boxed).clone()
    }
}

/// Per-request options (beyond TPT).
#[derive(Default)]
struct Options {
    timeout: Option<std::time::Duration>,
    compressed: bool,
}

/// Beyond TPT: the per-request options table after the verb (`{timeout = seconds,
/// compressed = true}`). Anything that is not a table is ignored, as TPT ignores extra
/// arguments; unknown keys are ignored.
/// # Safety
/// `l` is the running C function's state; `idx` an argument index.
unsafe fn options(l: *mut ffi::lua_State, idx: c_int) -> Result<Options, LuaErr> {
    // SAFETY: as `headers`: only a table at the argument index is read, pushes are popped.
    unsafe {
        if ffi::lua_istable(l, idx) == 0 {
            return Ok(Options::default());
        }
        ffi::lua_pushstring(l, c"compressed".as_ptr());
        ffi::lua_rawget(l, idx);
        let compressed = match ffi::lua_type(l, -1) {
            ffi::LUA_TNIL => Ok(false),
            ffi::LUA_TBOOLEAN => Ok(ffi::lua_toboolean(l, -1) != 0),
            _ => Err(LuaErr::Msg("option compressed must be a boolean".into())),
        };
        ffi::lua_pop(l, 1);
        let compressed = compressed?;
        let timeout = timeout_option(l, idx)?;
        Ok(Options { timeout, compressed })
    }
}

/// # Safety
/// `idx` is an absolute stack index holding a table.
unsafe fn timeout_option(l: *mut ffi::lua_State, idx: c_int) -> Result<Option<std::time::Duration>, LuaErr> {
    // SAFETY: a table is at `idx` (checked by `options`); one push, one pop.
    unsafe {
        ffi::lua_pushstring(l, c"timeout".as_ptr());
        ffi::lua_rawget(l, idx);
        let out = if ffi::lua_isnil(l, -1) != 0 {
            Ok(None)
        } else {
            let secs = if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
                ffi::lua_tonumber(l, -1)
            } else {
                -1.0
            };
            match std::time::Duration::try_from_secs_f64(secs) {
                Ok(d) if secs > 0.0 => Ok(Some(d)),
                _ => Err(LuaErr::Msg(
                    "option timeout must be a positive number of seconds".into(),
                )),
            }
        };
        ffi::lua_pop(l, 1);
        out
    }
}

/// Parse `http.get`/`http.post` arguments in TPT's order.
/// # Safety
/// `l` is the state Lua called `http.get` or `http.post` with.
unsafe fn parse_request(l: *mut ffi::lua_State, is_post: bool) -> Result<RequestSpec, LuaErr> {
    // SAFETY: reads arguments 1 to 5 of the running C function, each through the helpers'
    // checks; nothing is left pushed.
    unsafe {
        let url = check_string(l, 1)?;
        let (headers_idx, verb_idx) = if is_post { (3, 4) } else { (2, 3) };
        let post = if !is_post {
            None
        } else if is_string(l, 2) {
            Some(PostBody::Raw(bytes_at(l, 2).unwrap_or_default().to_vec()))
        } else if ffi::lua_istable(l, 2) != 0 {
            Some(form(l, 2)?)
        } else {
            Some(PostBody::Raw(Vec::new()))
        };
        let headers = headers(l, headers_idx)?;
        let verb = if ffi::lua_isnoneornil(l, verb_idx) != 0 {
            None
        } else {
            Some(check_string(l, verb_idx)?)
        };
        let options = options(l, verb_idx + 1)?;
        Ok(RequestSpec {
            url,
            post,
            headers,
            verb: verb.filter(|v| !v.is_empty()),
            timeout: options.timeout,
            compressed: options.compressed,
        })
    }
}

/// Push a new request object for `spec` and start its transfer; a request that is dead at once
/// when the state closed.
///
/// # Safety
/// Only from the C closures made by [`push_http_table`]; `l` has a free stack slot.
unsafe fn push_request(l: *mut ffi::lua_State, spec: RequestSpec, auth: bool) -> Result<c_int, LuaErr> {
    // SAFETY: lua_newuserdata returns a block of the requested size aligned for any Lua value
    // (at least 8 bytes, asserted below to suffice for `RequestSlot`), or raises a memory error
    // before we hold anything that needs dropping but `spec` (then leaked, not freed twice). The
    // block is written before anything can read it: it has no metatable until the end, so no
    // finalizer or method sees it uninitialised. No Lua call between the write and
    // lua_setmetatable can allocate, so no finalizer runs while `ctx` and the slot are in use.
    unsafe {
        let slot = ffi::lua_newuserdata(l, std::mem::size_of::<RequestSlot>()) as *mut RequestSlot;
        slot.write(None);
        let request = match ctx_of(l) {
            Some(ctx) => {
                ctx.check_interface_event()?;
                ctx.used.set(true);
                let (watcher, pending) = {
                    let limit = ctx.limit.borrow();
                    ctx.client
                        .borrow()
                        .prepare_limited(spec, Some(ctx.news.clone()), limit.as_ref())
                };
                let mut queued = None;
                if let Some(p) = pending {
                    if ctx.batch.get() {
                        ctx.pending.borrow_mut().push(p);
                        queued = Some(ctx.flushes.get());
                    } else {
                        p.start();
                    }
                }
                ctx.live.borrow_mut().insert(slot);
                Some(Request {
                    phase: Phase::Live(watcher),
                    seen_tick: ctx.tick.get(),
                    auth,
                    queued,
                    ctx,
                })
            }
            // The state is closing: a request that is dead at once.
            None => None,
        };
        *slot = request;
        ffi::luaL_getmetatable(l, REQUEST_META.as_ptr());
        ffi::lua_setmetatable(l, -2);
        Ok(1)
    }
}

const _: () = assert!(std::mem::align_of::<RequestSlot>() <= 8 && std::mem::align_of::<CtxBox>() <= 8);

unsafe fn request_impl(l: *mut ffi::lua_State, is_post: bool) -> Result<c_int, LuaErr> {
    // SAFETY: called from `http.get`/`http.post`, closures of push_http_table.
    unsafe {
        let spec = parse_request(l, is_post)?;
        push_request(l, spec, false)
    }
}

unsafe extern "C-unwind" fn http_get(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls this closure (made by push_http_table) with a valid state; errors are
    // raised by `raise` after request_impl returned, so no Rust value of ours is live.
    unsafe { request_impl(l, false).unwrap_or_else(|e| raise(l, e)) }
}

unsafe extern "C-unwind" fn http_post(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as http_get.
    unsafe { request_impl(l, true).unwrap_or_else(|e| raise(l, e)) }
}

unsafe fn auth_impl(l: *mut ffi::lua_State) -> Result<c_int, LuaErr> {
    // SAFETY: called from `http.getAuthToken`, a closure of push_http_table; `ctx` is dropped
    // before the pushes below allocate.
    unsafe {
        let audience = check_string(l, 1)?;
        let spec = match ctx_of(l) {
            Some(ctx) => {
                ctx.check_interface_event()?;
                let user = ctx.identity.borrow().as_ref().and_then(|p| p.current_user());
                user.map(|user| {
                    auth::token_request(&ctx.client.borrow().config().auth_server, &audience, &user)
                })
            }
            // The state is closing: push_request finds the box empty too and makes a request
            // that is dead at once, never using this spec.
            None => Some(RequestSpec::get(Vec::new())),
        };
        let Some(spec) = spec else {
            ffi::lua_pushnil(l);
            ffi::lua_pushstring(l, c"not authenticated".as_ptr());
            return Ok(2);
        };
        push_request(l, spec, true)
    }
}

unsafe extern "C-unwind" fn http_get_auth_token(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as http_get.
    unsafe { auth_impl(l).unwrap_or_else(|e| raise(l, e)) }
}

/// The request at argument 1 (`luaL_checkudata` raises TPT's error for anything else), `None`
/// for a request that is dead for good (collected, or ended when its state closed). A request
/// still queued by batched starts is started first, so no script can observe the batching: to
/// whoever looks, every request started when it was made.
///
/// The reference must be dropped before the caller's next Lua allocation: a finalizer run by
/// that allocation may call `__gc` on this very request.
///
/// # Safety
/// `l` is a running C function's state with the argument at index 1.
unsafe fn request_arg<'a>(l: *mut ffi::lua_State) -> Result<Option<&'a mut Request>, LuaErr> {
    // SAFETY: luaL_checkudata returns only a userdata whose metatable is HTTPRequest, which
    // push_request gives only to blocks holding an initialised `RequestSlot` (scripts cannot
    // set that metatable on their own userdata: `setmetatable` takes tables only, and
    // `debug.setmetatable` on a foreign userdata is refused below by the size check). No other
    // reference to the slot is live: every function of this module drops its own before
    // returning, and none calls back into Lua while holding one.
    unsafe {
        let slot = ffi::luaL_checkudata(l, 1, REQUEST_META.as_ptr()) as *mut RequestSlot;
        if ffi::lua_rawlen(l, 1) != std::mem::size_of::<RequestSlot>() {
            return Ok(None);
        }
        let Some(req) = (*slot).as_mut() else {
            return Ok(None);
        };
        req.ctx.check_interface_event()?;
        // Queued at flush count n: still waiting only if no flush happened since.
        if let Some(n) = req.queued.take()
            && req.ctx.flushes.get() == n
        {
            req.ctx.flush();
        }
        Ok(Some(req))
    }
}

/// # Safety
/// `l` has a free stack slot; may raise a memory error.
unsafe fn push_str(l: *mut ffi::lua_State, s: &[u8]) {
    // SAFETY: `s` is a valid slice; lua_pushlstring copies it.
    unsafe {
        ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, s.len());
    }
}

/// Run a request method's body and raise its error, if any, once the body's values are dropped.
///
/// # Safety
/// `l` is the state Lua called the method with.
unsafe fn method(
    l: *mut ffi::lua_State,
    body: unsafe fn(*mut ffi::lua_State) -> Result<c_int, LuaErr>,
) -> c_int {
    // SAFETY: `body` returned, so its Rust values are dropped before `raise` unwinds.
    unsafe { body(l).unwrap_or_else(|e| raise(l, e)) }
}

unsafe fn status_impl(l: *mut ffi::lua_State) -> Result<c_int, LuaErr> {
    // SAFETY: the request reference ends before push_str allocates.
    unsafe {
        let status = request_arg(l)?.map_or(Status::Dead, Request::status);
        push_str(
            l,
            match status {
                Status::Running => b"running",
                Status::Done => b"done",
                Status::Dead => b"dead",
            },
        );
        Ok(1)
    }
}

unsafe fn progress_impl(l: *mut ffi::lua_State) -> Result<c_int, LuaErr> {
    // SAFETY: the request reference ends before the pushes (which do not allocate anyway).
    unsafe {
        let Some(req) = request_arg(l)? else { return Ok(0) };
        if req.status() == Status::Dead {
            return Ok(0);
        }
        let (total, done) = req.watcher().map_or((0, 0), Watcher::progress);
        ffi::lua_pushinteger(l, total as ffi::lua_Integer);
        ffi::lua_pushinteger(l, done as ffi::lua_Integer);
        Ok(2)
    }
}

unsafe fn cancel_impl(l: *mut ffi::lua_State) -> Result<c_int, LuaErr> {
    // SAFETY: no Lua call while the request reference is live.
    unsafe {
        if let Some(req) = request_arg(l)?
            && req.status() != Status::Dead
        {
            req.cancel();
        }
        Ok(0)
    }
}

unsafe fn finish_impl(l: *mut ffi::lua_State) -> Result<c_int, LuaErr> {
    // SAFETY: everything is moved out of the request before the first push allocates.
    unsafe {
        let Some(req) = request_arg(l)? else { return Ok(0) };
        if req.status() != Status::Done {
            return Ok(0);
        }
        let outcome = req.watcher().and_then(Watcher::take).unwrap_or_default();
        req.phase = Phase::Finished(outcome.failure.as_ref().map(|f| f.reason().to_string()));
        let (status, body, headers) = if req.auth {
            let (status, body) = auth::finish_token(outcome.status, &outcome.body);
            (status, body, Vec::new())
        } else {
            (outcome.status, outcome.body, outcome.headers)
        };
        push_str(l, &body);
        drop(body);
        ffi::lua_pushinteger(l, status as ffi::lua_Integer);
        ffi::lua_createtable(l, headers.len() as c_int, 0);
        for (i, (name, value)) in headers.iter().enumerate() {
            ffi::lua_createtable(l, 2, 0);
            push_str(l, name);
            ffi::lua_rawseti(l, -2, 1);
            push_str(l, value);
            ffi::lua_rawseti(l, -2, 2);
            ffi::lua_rawseti(l, -2, (i + 1) as ffi::lua_Integer);
        }
        Ok(3)
    }
}

unsafe fn read_impl(l: *mut ffi::lua_State) -> Result<c_int, LuaErr> {
    // SAFETY: the chunk is moved out of the request before push_str allocates.
    unsafe {
        let chunk = request_arg(l)?
            .and_then(|req| req.watcher().map(Watcher::read))
            .unwrap_or_default();
        push_str(l, &chunk);
        drop(chunk);
        Ok(1)
    }
}

unsafe fn error_impl(l: *mut ffi::lua_State) -> Result<c_int, LuaErr> {
    // SAFETY: the reason is copied out of the request before push_str allocates.
    unsafe {
        let reason = request_arg(l)?.and_then(|req| match &req.phase {
            Phase::Live(w) => w.failure().map(|f| f.reason().to_string()),
            Phase::Finished(why) => why.clone(),
            Phase::Cancelled => Some("cancelled".to_string()),
        });
        match reason {
            Some(r) => push_str(l, r.as_bytes()),
            None => ffi::lua_pushnil(l),
        }
        Ok(1)
    }
}

unsafe extern "C-unwind" fn req_status(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { method(l, status_impl) }
}

unsafe extern "C-unwind" fn req_progress(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { method(l, progress_impl) }
}

unsafe extern "C-unwind" fn req_cancel(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { method(l, cancel_impl) }
}

unsafe extern "C-unwind" fn req_finish(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { method(l, finish_impl) }
}

/// Beyond TPT: `req:read()`, the body bytes that arrived since the last read ("" if none).
pub(crate) unsafe extern "C-unwind" fn req_read(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { method(l, read_impl) }
}

/// Beyond TPT: `req:error()`, nil for a request that got an HTTP response (or has not
/// finished), else a short reason for its 6xx code.
pub(crate) unsafe extern "C-unwind" fn req_error(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { method(l, error_impl) }
}

unsafe extern "C-unwind" fn req_gc(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as in TPT, the metamethod checks its argument (a script can call it by hand), so
    // `slot` is a request slot (see request_arg). The request is moved out before it is dropped,
    // and dropping it calls no Lua. Not subject to the interface-event check, as in TPT.
    unsafe {
        let slot = ffi::luaL_checkudata(l, 1, REQUEST_META.as_ptr()) as *mut RequestSlot;
        if ffi::lua_rawlen(l, 1) != std::mem::size_of::<RequestSlot>() {
            return 0;
        }
        if let Some(req) = (*slot).take() {
            req.ctx.live.borrow_mut().remove(&slot);
            // Dropping the request drops its watcher, which cancels the transfer.
            drop(req);
        }
        0
    }
}

/// `is_request(v)`: is `v` a request object? (For the Lua side of the extensions.)
pub(crate) unsafe extern "C-unwind" fn is_request(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with a valid state; lua_getmetatable pushes only when it returns
    // non-zero, and then two values are compared and left (the result is pushed above them,
    // and Lua takes only the top one).
    unsafe {
        let yes = ffi::lua_type(l, 1) == ffi::LUA_TUSERDATA && ffi::lua_getmetatable(l, 1) != 0 && {
            ffi::luaL_getmetatable(l, REQUEST_META.as_ptr());
            ffi::lua_rawequal(l, -1, -2) != 0
        };
        ffi::lua_pushboolean(l, c_int::from(yes));
        1
    }
}

/// What the context userdata holds: `Some` until the state closes.
type CtxBox = Option<Rc<Ctx>>;

unsafe extern "C-unwind" fn ctx_gc(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: the box is anchored in the registry (push_http_table), so Lua finalizes it only
    // while closing the state, after or before any other finalizer but always before it frees
    // any object: every slot still in `live` is then userdata memory (a request whose `__gc`
    // ran took itself out of `live`; one created by a finalizer during close has no `__gc` and
    // is freed only after all finalizers ran). luaL_checkudata makes a call by hand with
    // anything else raise; the rawlen check refuses a foreign userdata given our metatable.
    unsafe {
        let boxed = ffi::luaL_checkudata(l, 1, CTX_META.as_ptr()) as *mut CtxBox;
        if ffi::lua_rawlen(l, 1) != std::mem::size_of::<CtxBox>() {
            return 0;
        }
        if let Some(ctx) = (*boxed).take() {
            ctx.close();
        }
        0
    }
}

/// Set `t[name]` to a C closure of `f` for the table `t` at the top, whose `upvalues` upvalues are
/// copies of the values just below `t`.
///
/// # Safety
/// `l` holds `t` at the top and `upvalues` values under it; may raise memory errors.
unsafe fn set_fn(l: *mut ffi::lua_State, name: &CStr, f: ffi::lua_CFunction, upvalues: c_int) {
    // SAFETY: per the contract, the stack holds the values these indices name.
    unsafe {
        for _ in 0..upvalues {
            ffi::lua_pushvalue(l, -1 - upvalues);
        }
        ffi::lua_pushcclosure(l, f, upvalues);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
}

/// Push a new `http` table bound to `ctx` (and register the `HTTPRequest` metatable).
///
/// # Safety
/// `l` must be a valid Lua state with room for a few stack slots; may raise memory errors.
pub(crate) unsafe fn push_http_table(l: *mut ffi::lua_State, ctx: Rc<Ctx>) {
    // SAFETY: the stack effects below are balanced (one table left on top). The context box is
    // a userdata of `CtxBox`'s size and alignment (asserted next to push_request), initialised
    // before anything can see it. If a later allocation raises, the box is left without its
    // `__gc` and `ctx` leaks (never freed twice). The box is anchored in the registry for the
    // life of the state, which is what makes `ctx_gc` a close-time-only event (see `Ctx`).
    unsafe {
        if ffi::luaL_newmetatable(l, REQUEST_META.as_ptr()) != 0 {
            ffi::lua_pushcfunction(l, req_gc);
            ffi::lua_setfield(l, -2, c"__gc".as_ptr());
            ffi::lua_createtable(l, 0, 4);
            set_fn(l, c"status", req_status, 0);
            set_fn(l, c"progress", req_progress, 0);
            set_fn(l, c"cancel", req_cancel, 0);
            set_fn(l, c"finish", req_finish, 0);
            ffi::lua_setfield(l, -2, c"__index".as_ptr());
        }
        ffi::lua_pop(l, 1);

        let boxed = ffi::lua_newuserdata(l, std::mem::size_of::<CtxBox>()) as *mut CtxBox;
        boxed.write(Some(ctx));
        if ffi::luaL_newmetatable(l, CTX_META.as_ptr()) != 0 {
            ffi::lua_pushcfunction(l, ctx_gc);
            ffi::lua_setfield(l, -2, c"__gc".as_ptr());
            ffi::lua_pushboolean(l, 0);
            ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
        }
        ffi::lua_setmetatable(l, -2);
        ffi::lua_pushvalue(l, -1);
        ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
        ffi::lua_createtable(l, 0, 3);
        set_fn(l, c"get", http_get, 1);
        set_fn(l, c"post", http_post, 1);
        set_fn(l, c"getAuthToken", http_get_auth_token, 1);
        ffi::lua_remove(l, -2);
    }
}
