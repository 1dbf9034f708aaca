//! The Powder Toy's non-blocking Lua `http` API (`http.get`, `http.post`, `http.getAuthToken`),
//! for any Rust program that embeds Lua through mlua.
//!
//! ```no_run
//! let lua = mlua::Lua::new();
//! let http = tpt_http::install(&lua, tpt_http::Config::default())?;
//! lua.load(r#"req = http.get("https://example.com/")"#).exec()?;
//! // once per frame: run the script's frame code, then
//! http.tick();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers, each depending only on those above it: [`config`] and [`spec`] (pure policy and
//! request rules), [`failure`] (the 6xx table), [`state`] (what engine and Lua share), the
//! engine ([`Client`]; the only place that knows tokio, hyper and rustls), and the Lua binding
//! (the only place that knows Lua).

pub mod auth;
pub mod config;
mod engine;
mod error;
pub mod failure;
#[cfg(feature = "fuzzing")]
pub use engine::fuzzing;
mod lua;
pub mod policy;
pub mod spec;
pub mod state;

pub use auth::{AuthUser, IdentityProvider};
pub use config::{Config, TraceRecord, TraceSink};
pub use engine::{Client, InFlightLimit, Pending};
pub use error::{Error, ErrorKind};
pub use failure::{Failure, FailureKind};
pub use mlua;
pub use state::News;

use std::fmt;
use std::rc::Rc;

impl From<mlua::Error> for Error {
    fn from(e: mlua::Error) -> Error {
        Error::lua(e)
    }
}
use std::sync::Arc;

/// The host's handle on the `http` API installed in one Lua state.
pub struct Http {
    ctx: Rc<lua::Ctx>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Http {
    /// One game frame has passed: clears every request's "seen running this tick" flag
    /// (spec section 2). Only meaningful with [`Config::tick_gating`].
    pub fn tick(&self) {
        self.ctx.tick.set(self.ctx.tick.get() + 1);
    }

    /// Notified whenever a request of this state finishes; lets a host sleep until there is news.
    pub fn news(&self) -> &News {
        &self.ctx.news
    }

    /// Requests of this state whose transfer has not finished yet.
    pub fn in_flight(&self) -> usize {
        self.ctx.news.in_flight()
    }

    /// Requests waiting for [`Http::flush`] under batched starts ([`Http::set_batch_starts`]).
    pub fn queued(&self) -> usize {
        self.ctx.pending.borrow().len()
    }

    /// The client (and policy) this state's requests use.
    pub fn client(&self) -> Client {
        self.ctx.client.borrow().clone()
    }

    /// Replace the client (and so the policy), as long as no request has been made yet.
    ///
    /// # Errors
    /// A request was already made through this state (kind [`ErrorKind::Config`]).
    pub fn set_client(&self, client: Client) -> Result<(), Error> {
        if self.ctx.used.get() {
            return Err(Error::config("the policy cannot change after the first request"));
        }
        self.ctx.gating.set(client.config().tick_gating);
        *self.ctx.limit.borrow_mut() = InFlightLimit::of(client.config());
        *self.ctx.client.borrow_mut() = client;
        Ok(())
    }

    /// Resume the coroutines blocked in `req:wait()` whose request is no longer running, and
    /// return how many still wait. Hosts with coroutine-friendly loops call this once per tick
    /// (the runner does, right after [`Http::tick`]).
    ///
    /// # Errors
    /// A resumed coroutine raised an error (message with its traceback).
    pub fn resume_waiting(&self, lua: &mlua::Lua) -> Result<usize, Error> {
        let resume: mlua::Function = lua.named_registry_value(RESUME_KEY)?;
        Ok(resume.call(false)?)
    }

    /// How many coroutines are blocked in `req:wait()`.
    ///
    /// # Errors
    /// The Lua state ran out of memory.
    pub fn waiting(&self, lua: &mlua::Lua) -> Result<usize, Error> {
        let resume: mlua::Function = lua.named_registry_value(RESUME_KEY)?;
        Ok(resume.call(true)?)
    }

    /// Mark whether the host is running Lua outside an interface event. TPT v100 refuses every
    /// `http` function and request method (all but `__gc`) from simulation callbacks with the
    /// Lua error `this functionality is restricted to interface events`; a TPT-like host sets
    /// this to `true` around such callbacks and back to `false` after. Default: `false`.
    pub fn set_outside_interface_event(&self, outside: bool) {
        self.ctx.restricted.set(outside);
    }

    /// Turn TPT's tick gating on or off (initially [`Config::tick_gating`]).
    pub fn set_tick_gating(&self, on: bool) {
        self.ctx.gating.set(on);
    }

    /// Batch request starts: requests made from now on wait until [`Http::flush`] (or until a
    /// method of the request is called), so a burst of `http.get` calls wakes the engine once.
    /// For hosts that call `flush` whenever their Lua code yields control (the runner does,
    /// after every tick). Default: off.
    pub fn set_batch_starts(&self, on: bool) {
        self.ctx.batch.set(on);
        if !on {
            self.flush();
        }
    }

    /// Start every request waiting because of [`Http::set_batch_starts`].
    pub fn flush(&self) {
        self.ctx.flush();
    }

    /// [`Http::flush`], then wait like [`News::wait`] until a request of this state has news or
    /// `timeout` passes. The waiting thread runs the engine (DESIGN.md, "The host drives while
    /// it waits") and starts the queued requests from there, which wakes no other thread.
    pub fn flush_and_wait(&self, timeout: Option<std::time::Duration>) -> bool {
        self.ctx.news.wait_starting(timeout, || self.ctx.flush())
    }

    /// Set (or clear) who `http.getAuthToken` acts for. The provider is asked at each call.
    pub fn set_identity(&self, provider: Option<Arc<dyn IdentityProvider>>) {
        *self.ctx.identity.borrow_mut() = provider;
    }

    /// Build the `http` table for `client` without setting a global (for `require`-style hosts).
    ///
    /// # Errors
    /// The Lua state ran out of memory.
    pub fn create(lua: &mlua::Lua, client: Client) -> Result<(mlua::Table, Http), Error> {
        let ctx = Rc::new(lua::Ctx::new(client));
        let for_lua = ctx.clone();
        // SAFETY: push_http_table pushes exactly one table and only raises Lua memory errors,
        // which exec_raw catches.
        let table: mlua::Table = unsafe { lua.exec_raw((), move |l| lua::push_http_table(l, for_lua))? };
        install_extensions(lua)?;
        Ok((table, Http { ctx }))
    }
}

/// The Lua side of the extensions (`read`, `error`, `wait`): see [`install_extensions`].
const EXTENSIONS: &str = r#"
local index, read, err, is_request = ...
local status = index.status -- the native method: a script cannot redirect it per object
local waiting = {} -- coroutine -> request it waits for
local ext = { read = read, error = err }
function ext.wait(req)
  if not is_request(req) then
    error(("bad argument #1 to 'wait' (HTTPRequest expected, got %s)"):format(type(req)), 2)
  end
  local co, main = coroutine.running()
  if not co or main then error("wait must be called from a coroutine", 2) end
  while status(req) == "running" do
    waiting[co] = req
    coroutine.yield()
  end
  waiting[co] = nil
  return status(req)
end
setmetatable(index, { __index = ext })
local function resume(count_only)
  local ready = {}
  for co, req in pairs(waiting) do
    if coroutine.status(co) ~= "suspended" then
      -- Its wait() failed to yield (a C boundary in Lua 5.1) or it was resumed by someone else
      -- and ended: it no longer waits.
      waiting[co] = nil
    elseif not count_only and status(req) ~= "running" then
      ready[#ready + 1] = co
    end
  end
  for _, co in ipairs(ready) do
    waiting[co] = nil
    local ok, e = coroutine.resume(co)
    if not ok then
      error(debug and debug.traceback and debug.traceback(co, tostring(e)) or e, 0)
    end
  end
  local n = 0
  for _ in pairs(waiting) do n = n + 1 end
  return n
end
return resume
"#;

/// Registry name of the function that resumes coroutines blocked in `req:wait()`.
const RESUME_KEY: &str = "tpt_http.resume_waiting";

/// Add the methods beyond TPT (`read`, `error`, `wait`) where TPT's scripts cannot see them:
/// in a table behind the `__index` table's own metatable, so `pairs(getmetatable(req).__index)`
/// still lists exactly TPT's four methods. Once per Lua state.
fn install_extensions(lua: &mlua::Lua) -> Result<(), Error> {
    let meta: mlua::Table = lua.named_registry_value("HTTPRequest")?;
    let index: mlua::Table = meta.raw_get("__index")?;
    if index.metatable().is_some() {
        return Ok(());
    }
    // SAFETY: these are C functions of this crate following the binding's unwinding rule (they
    // raise only from `lua::raise`, with no Rust value live), which is what mlua requires of a
    // raw C function.
    let read = unsafe { lua.create_c_function(lua::req_read)? };
    // SAFETY: as above.
    let err = unsafe { lua.create_c_function(lua::req_error)? };
    // SAFETY: as above.
    let is_request = unsafe { lua.create_c_function(lua::is_request)? };
    let resume: mlua::Function = lua
        .load(EXTENSIONS)
        .set_name("=tpt-http extensions")
        .call((index, read, err, is_request))?;
    lua.set_named_registry_value(RESUME_KEY, resume)?;
    Ok(())
}

/// Install TPT's `http` table as a global of `lua`, with a client built from `config`.
///
/// # Errors
/// The config is unusable (see [`Client::new`]) or the Lua state ran out of memory.
pub fn install(lua: &mlua::Lua, config: Config) -> Result<Http, Error> {
    install_with(lua, Client::new(config)?)
}

/// Install TPT's `http` table as a global of `lua`, sharing an existing client (and its pool).
///
/// # Errors
/// The Lua state ran out of memory.
pub fn install_with(lua: &mlua::Lua, client: Client) -> Result<Http, Error> {
    let (table, http) = Http::create(lua, client)?;
    lua.globals().set("http", table)?;
    Ok(http)
}
