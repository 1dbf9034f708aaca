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
use crate::engine::{Client, Pending};
use crate::spec::{self, FormItem, HeaderList, PostBody, RequestSpec};
use crate::state::{News, Watcher};
use mlua::ffi;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int};
use std::rc::Rc;
use std::sync::Arc;

const REQUEST_META: &CStr = c"HTTPRequest";
const CTX_META: &CStr = c"tpt_http.context";

/// Per-Lua-state context shared by the `http` functions and every request object.
pub(crate) struct Ctx {
    pub(crate) client: RefCell<Client>,
    /// TPT's tick gating is on (starts as `Config::tick_gating`).
    pub(crate) gating: Cell<bool>,
    /// A request was made; the client can no longer be replaced.
    pub(crate) used: Cell<bool>,
    /// Permits for `Config::max_in_flight`.
    pub(crate) limit: RefCell<Option<Arc<tokio::sync::Semaphore>>>,
    pub(crate) news: News,
    pub(crate) tick: Cell<u64>,
    pub(crate) identity: RefCell<Option<Arc<dyn IdentityProvider>>>,
    /// When set, new transfers wait in `pending` until the host calls `Http::flush`.
    pub(crate) batch: Cell<bool>,
    pub(crate) pending: RefCell<Vec<Pending>>,
    /// How many times `pending` was flushed: a request queued at flush count `n` has been
    /// started once the count moved past `n`.
    pub(crate) flushes: Cell<u64>,
}

impl Ctx {
    /// Start every request queued by batched starts.
    pub(crate) fn flush(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        self.flushes.set(self.flushes.get() + 1);
        Pending::start_all(pending);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Running,
    Done,
    Dead,
}

/// What a request object holds.
struct Request {
    watcher: Option<Watcher>,
    dead: bool,
    seen_tick: u64,
    auth: bool,
    /// Why the transfer failed, kept once `finish()` consumed the outcome.
    failure: Option<String>,
    /// `cancel()` ended it.
    cancelled: bool,
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
        if self.dead {
            return Status::Dead;
        }
        if self.watcher.as_ref().is_none_or(|w| w.is_done()) {
            return Status::Done;
        }
        self.seen_tick = tick;
        Status::Running
    }

    fn cancel(&mut self) {
        self.watcher = None;
        self.dead = true;
        self.cancelled = true;
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
unsafe fn raise(l: *mut ffi::lua_State, err: LuaErr) -> ! {
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
unsafe fn bytes_at<'a>(l: *mut ffi::lua_State, idx: c_int) -> Option<&'a [u8]> {
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

unsafe fn is_string(l: *mut ffi::lua_State, idx: c_int) -> bool {
    unsafe { ffi::lua_isstring(l, idx) != 0 }
}

unsafe fn check_string(l: *mut ffi::lua_State, idx: c_int) -> Result<Vec<u8>, LuaErr> {
    unsafe {
        if !is_string(l, idx) {
            return Err(LuaErr::ArgType(idx, c"string"));
        }
        Ok(bytes_at(l, idx).unwrap_or_default().to_vec())
    }
}

/// Read field `i` of the table at the top of the stack as a string, or `None` when nil.
unsafe fn item_field(
    l: *mut ffi::lua_State,
    i: ffi::lua_Integer,
    err: impl Fn() -> String,
) -> Result<Option<Vec<u8>>, LuaErr> {
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
unsafe fn dictionary(l: *mut ffi::lua_State, idx: c_int) -> Vec<(Vec<u8>, Vec<u8>)> {
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

unsafe fn form(l: *mut ffi::lua_State, idx: c_int) -> Result<PostBody, LuaErr> {
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

unsafe fn headers(l: *mut ffi::lua_State, idx: c_int) -> Result<HeaderList, LuaErr> {
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

unsafe fn ctx_of<'a>(l: *mut ffi::lua_State) -> &'a Rc<Ctx> {
    unsafe { &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const Rc<Ctx>) }
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
unsafe fn options(l: *mut ffi::lua_State, idx: c_int) -> Result<Options, LuaErr> {
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

unsafe fn timeout_option(l: *mut ffi::lua_State, idx: c_int) -> Result<Option<std::time::Duration>, LuaErr> {
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
unsafe fn parse_request(l: *mut ffi::lua_State, is_post: bool) -> Result<RequestSpec, LuaErr> {
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

/// Push a new request object for a started transfer.
unsafe fn push_request(l: *mut ffi::lua_State, ctx: &Rc<Ctx>, spec: RequestSpec, auth: bool) {
    unsafe {
        let slot = ffi::lua_newuserdata(l, std::mem::size_of::<RequestSlot>()) as *mut RequestSlot;
        ctx.used.set(true);
        let limit = ctx.limit.borrow().clone();
        let (watcher, pending) = ctx
            .client
            .borrow()
            .prepare_limited(spec, Some(ctx.news.clone()), limit);
        let mut queued = None;
        if let Some(p) = pending {
            if ctx.batch.get() {
                ctx.pending.borrow_mut().push(p);
                queued = Some(ctx.flushes.get());
            } else {
                p.start();
            }
        }
        slot.write(Some(Request {
            watcher: Some(watcher),
            dead: false,
            seen_tick: ctx.tick.get(),
            auth,
            failure: None,
            cancelled: false,
            queued,
            ctx: ctx.clone(),
        }));
        ffi::luaL_getmetatable(l, REQUEST_META.as_ptr());
        ffi::lua_setmetatable(l, -2);
    }
}

unsafe fn request_impl(l: *mut ffi::lua_State, is_post: bool) -> Result<c_int, LuaErr> {
    unsafe {
        let spec = parse_request(l, is_post)?;
        push_request(l, ctx_of(l), spec, false);
        Ok(1)
    }
}

unsafe extern "C-unwind" fn http_get(l: *mut ffi::lua_State) -> c_int {
    unsafe { request_impl(l, false).unwrap_or_else(|e| raise(l, e)) }
}

unsafe extern "C-unwind" fn http_post(l: *mut ffi::lua_State) -> c_int {
    unsafe { request_impl(l, true).unwrap_or_else(|e| raise(l, e)) }
}

unsafe fn auth_impl(l: *mut ffi::lua_State) -> Result<c_int, LuaErr> {
    unsafe {
        let audience = check_string(l, 1)?;
        let ctx = ctx_of(l);
        let user = ctx.identity.borrow().as_ref().and_then(|p| p.current_user());
        let Some(user) = user else {
            ffi::lua_pushnil(l);
            ffi::lua_pushstring(l, c"not authenticated".as_ptr());
            return Ok(2);
        };
        let spec = auth::token_request(&ctx.client.borrow().config().auth_server, &audience, &user);
        push_request(l, ctx, spec, true);
        Ok(1)
    }
}

unsafe extern "C-unwind" fn http_get_auth_token(l: *mut ffi::lua_State) -> c_int {
    unsafe { auth_impl(l).unwrap_or_else(|e| raise(l, e)) }
}

/// The request at argument 1 (`luaL_checkudata` raises TPT's error for anything else). A
/// request still queued by batched starts is started first, so no script can observe the
/// batching: to whoever looks, every request started when it was made.
unsafe fn request_arg<'a>(l: *mut ffi::lua_State) -> Option<&'a mut Request> {
    unsafe {
        let slot = ffi::luaL_checkudata(l, 1, REQUEST_META.as_ptr()) as *mut RequestSlot;
        let req = (*slot).as_mut()?;
        // Queued at flush count n: still waiting only if no flush happened since.
        if let Some(n) = req.queued.take()
            && req.ctx.flushes.get() == n
        {
            req.ctx.flush();
        }
        Some(req)
    }
}

unsafe fn push_str(l: *mut ffi::lua_State, s: &[u8]) {
    unsafe {
        ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, s.len());
    }
}

unsafe extern "C-unwind" fn req_status(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let status = request_arg(l).map_or(Status::Dead, Request::status);
        push_str(
            l,
            match status {
                Status::Running => b"running",
                Status::Done => b"done",
                Status::Dead => b"dead",
            },
        );
        1
    }
}

unsafe extern "C-unwind" fn req_progress(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let Some(req) = request_arg(l) else { return 0 };
        if req.status() == Status::Dead {
            return 0;
        }
        let (total, done) = match (&req.watcher, req.dead) {
            (Some(w), false) => w.progress(),
            _ => (0, 0),
        };
        ffi::lua_pushinteger(l, total as ffi::lua_Integer);
        ffi::lua_pushinteger(l, done as ffi::lua_Integer);
        2
    }
}

unsafe extern "C-unwind" fn req_cancel(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        if let Some(req) = request_arg(l)
            && req.status() != Status::Dead
        {
            req.cancel();
        }
        0
    }
}

unsafe extern "C-unwind" fn req_finish(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let Some(req) = request_arg(l) else { return 0 };
        if req.status() != Status::Done {
            return 0;
        }
        let outcome = req.watcher.take().and_then(|w| w.take()).unwrap_or_default();
        req.dead = true;
        req.failure = outcome.failure.as_ref().map(|f| f.reason().to_string());
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
        3
    }
}

/// Beyond TPT: `req:read()`, the body bytes that arrived since the last read ("" if none).
pub(crate) unsafe extern "C-unwind" fn req_read(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let chunk = match request_arg(l) {
            Some(Request {
                watcher: Some(w),
                dead: false,
                ..
            }) => w.read(),
            _ => Vec::new(),
        };
        push_str(l, &chunk);
        drop(chunk);
        1
    }
}

/// Beyond TPT: `req:error()`, nil for a request that got an HTTP response (or has not
/// finished), else a short reason for its 6xx code.
pub(crate) unsafe extern "C-unwind" fn req_error(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let reason = match request_arg(l) {
            None => None,
            Some(req) if req.cancelled => Some("cancelled".to_string()),
            Some(req) => match &req.watcher {
                Some(w) => w.failure().map(|f| f.reason().to_string()),
                None => req.failure.clone(),
            },
        };
        match reason {
            Some(r) => push_str(l, r.as_bytes()),
            None => ffi::lua_pushnil(l),
        }
        1
    }
}

unsafe extern "C-unwind" fn req_gc(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        // As in TPT, the metamethod checks its argument: a script can call it by hand.
        let slot = ffi::luaL_checkudata(l, 1, REQUEST_META.as_ptr()) as *mut RequestSlot;
        // Dropping the request drops its watcher, which cancels the transfer.
        drop((*slot).take());
        0
    }
}

/// `is_request(v)`: is `v` a request object? (For the Lua side of the extensions.)
pub(crate) unsafe extern "C-unwind" fn is_request(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let yes = ffi::lua_type(l, 1) == ffi::LUA_TUSERDATA && ffi::lua_getmetatable(l, 1) != 0 && {
            ffi::luaL_getmetatable(l, REQUEST_META.as_ptr());
            ffi::lua_rawequal(l, -1, -2) != 0
        };
        ffi::lua_pushboolean(l, c_int::from(yes));
        1
    }
}

unsafe extern "C-unwind" fn ctx_gc(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let p = ffi::lua_touserdata(l, 1) as *mut Option<Rc<Ctx>>;
        if !p.is_null() {
            drop((*p).take());
        }
        0
    }
}

unsafe fn set_fn(l: *mut ffi::lua_State, name: &CStr, f: ffi::lua_CFunction, upvalues: c_int) {
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

        let boxed = ffi::lua_newuserdata(l, std::mem::size_of::<Option<Rc<Ctx>>>()) as *mut Option<Rc<Ctx>>;
        boxed.write(Some(ctx));
        if ffi::luaL_newmetatable(l, CTX_META.as_ptr()) != 0 {
            ffi::lua_pushcfunction(l, ctx_gc);
            ffi::lua_setfield(l, -2, c"__gc".as_ptr());
            ffi::lua_pushboolean(l, 0);
            ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
        }
        ffi::lua_setmetatable(l, -2);
        ffi::lua_createtable(l, 0, 3);
        set_fn(l, c"get", http_get, 1);
        set_fn(l, c"post", http_post, 1);
        set_fn(l, c"getAuthToken", http_get_auth_token, 1);
        ffi::lua_remove(l, -2);
    }
}
