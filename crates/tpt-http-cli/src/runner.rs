//! The tick loop that runs TPT-style scripts outside the game.
//!
//! A script gets the full standard library, `arg`, the `http` table, `event.register` /
//! `event.unregister` with `event.tick`, `tpt.register_step` / `tpt.unregister_step`, and
//! `socket.gettime()`. Each tick the runner clears TPT's per-tick request flags
//! ([`tpt_http::Http::tick`]) and then calls the tick handlers in registration order, as TPT does
//! before `event.tick` handlers run. This module knows Lua and the `http` API's host handle, not
//! the engine.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tpt_http::mlua::{self, Function, Lua, Table, Value};
use tpt_http::{AuthUser, Config, Http, IdentityProvider};

/// A fixed identity, as given on the command line.
struct Fixed(AuthUser);

impl IdentityProvider for Fixed {
    fn current_user(&self) -> Option<AuthUser> {
        Some(self.0.clone())
    }
}

/// How a script is run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Ticks per second; 0 means "tick as soon as a request finishes" (and at most every
    /// millisecond while no request is in flight), never spinning.
    pub fps: f64,
    /// The policy for the script's `http` table. `tick_gating` is forced on.
    pub config: Config,
    /// The user `http.getAuthToken` acts for; `None`: not authenticated.
    pub identity: Option<AuthUser>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            fps: 60.0,
            config: Config::default(),
            identity: None,
        }
    }
}

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    /// The script at this path could not be read.
    Io(String, std::io::Error),
    /// The script raised a Lua error (message with traceback).
    Lua(String),
    /// The host setup failed (bad CA file, bad proxy...).
    Setup(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Io(path, e) => write!(f, "cannot read script {path}: {e}"),
            RunError::Lua(e) => f.write_str(e),
            RunError::Setup(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for RunError {}

/// Event ids, as numbers like TPT's `event` constants.
const EVENT_TICK: i64 = 15;

const PRELUDE: &str = r#"
local handlers, exit = ...
event = event or {}
event.tick = event.tick or 15
function event.register(ev, fn)
  if type(fn) ~= "function" then error("bad argument #2 to 'register' (function expected, got " .. type(fn) .. ")", 2) end
  if ev == event.tick then
    for _, f in ipairs(handlers) do if f == fn then return fn end end
    handlers[#handlers + 1] = fn
  end
  return fn
end
function event.unregister(ev, fn)
  if ev == event.tick then
    for i, f in ipairs(handlers) do if f == fn then table.remove(handlers, i) return end end
  end
end
tpt = tpt or {}
function tpt.register_step(fn) return event.register(event.tick, fn) end
function tpt.unregister_step(fn) return event.unregister(event.tick, fn) end
os.exit = function(code)
  if code == true or code == nil then code = 0 elseif code == false then code = 1 end
  exit.code = tonumber(code) or 0
  error(exit, 0)
end
"#;

/// Run `source` (named `name` in messages) with `args` as `arg[1..]`. Returns the exit code the
/// script asked for (0 when it simply ends).
///
/// # Errors
/// The host setup failed or the script raised an error.
pub fn run_source(name: &str, source: &[u8], args: &[String], opts: &RunOptions) -> Result<i32, RunError> {
    // SAFETY: scripts get the full standard library (including ffi and debug), as in TPT.
    let lua = unsafe { Lua::unsafe_new() };
    let mut config = opts.config.clone();
    config.tick_gating = true;
    let http = tpt_http::install(&lua, config).map_err(|e| RunError::Setup(e.to_string()))?;
    http.set_batch_starts(true);
    if let Some(user) = &opts.identity {
        http.set_identity(Some(Arc::new(Fixed(user.clone()))));
    }
    let lua_err = |e: mlua::Error| RunError::Lua(e.to_string());

    let handlers = lua.create_table().map_err(lua_err)?;
    let exit = lua.create_table().map_err(lua_err)?;
    install_globals(&lua, name, args).map_err(lua_err)?;
    lua.load(PRELUDE)
        .set_name("=tpt-http prelude")
        .call::<()>((handlers.clone(), exit.clone()))
        .map_err(lua_err)?;

    let chunk = lua.load(source).set_name(format!("@{name}"));
    if let Some(code) = outcome(chunk.exec(), &exit)? {
        return Ok(code);
    }

    let resume_err = |e: tpt_http::Error| {
        use std::error::Error as _;
        RunError::Lua(e.source().map_or_else(|| e.to_string(), |s| s.to_string()))
    };
    let mut waiting = http.waiting(&lua).map_err(resume_err)?;
    let frame = if opts.fps > 0.0 {
        Some(Duration::from_secs_f64(1.0 / opts.fps))
    } else {
        None
    };
    let mut next_tick = Instant::now();
    loop {
        let count = handlers.raw_len();
        // (A queued request counts as in flight: it is started before the loop sleeps.)
        if count == 0 && http.in_flight() == 0 && waiting == 0 {
            return Ok(0);
        }
        wait_for_tick(&http, frame, &mut next_tick);
        http.tick();
        // Coroutines blocked in req:wait() whose request is done run first, then the handlers.
        match http.resume_waiting(&lua) {
            Ok(_) => {}
            Err(e) => {
                if let Some(code) = outcome(Ok(()), &exit)? {
                    return Ok(code);
                }
                return Err(resume_err(e));
            }
        }
        let current: Vec<Function> = handlers.sequence_values().filter_map(Result::ok).collect();
        for f in current {
            if let Some(code) = outcome(f.call::<Value>(()).map(|_| ()), &exit)? {
                return Ok(code);
            }
        }
        waiting = http.waiting(&lua).map_err(resume_err)?;
    }
}

/// Run the script file at `path`.
///
/// # Errors
/// See [`run_source`].
pub fn run_file(path: &str, args: &[String], opts: &RunOptions) -> Result<i32, RunError> {
    let source = std::fs::read(path).map_err(|e| RunError::Io(path.to_string(), e))?;
    run_source(path, &source, args, opts)
}

/// Start the requests the last tick made, then wait for the next tick.
fn wait_for_tick(http: &Http, frame: Option<Duration>, next_tick: &mut Instant) {
    match frame {
        Some(frame) => {
            http.flush();
            *next_tick += frame;
            let now = Instant::now();
            if *next_tick > now {
                std::thread::sleep(*next_tick - now);
            } else {
                *next_tick = now;
            }
        }
        None if http.in_flight() > 0 => {
            // Run the engine on this thread until a request finishes, starting the new ones
            // from there; the timeout only bounds a lost wake-up.
            http.flush_and_wait(Some(Duration::from_secs(1)));
        }
        None => {
            http.flush();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Turn a chunk or handler result into: keep going (`None`), exit with a code, or an error.
fn outcome(result: mlua::Result<()>, exit: &Table) -> Result<Option<i32>, RunError> {
    if let Ok(Some(code)) = exit.raw_get::<Option<i64>>("code") {
        return Ok(Some(code as i32));
    }
    match result {
        Ok(()) => Ok(None),
        Err(e) => Err(RunError::Lua(e.to_string())),
    }
}

fn install_globals(lua: &Lua, name: &str, args: &[String]) -> mlua::Result<()> {
    let g = lua.globals();
    let arg = lua.create_table()?;
    arg.raw_set(0, name)?;
    for (i, a) in args.iter().enumerate() {
        arg.raw_set(i + 1, a.as_str())?;
    }
    g.set("arg", arg)?;
    let socket = lua.create_table()?;
    let epoch = std::time::UNIX_EPOCH;
    socket.set(
        "gettime",
        lua.create_function(move |_, ()| {
            Ok(std::time::SystemTime::now()
                .duration_since(epoch)
                .map_or(0.0, |d| d.as_secs_f64()))
        })?,
    )?;
    g.set("socket", socket)?;
    let event = lua.create_table()?;
    event.set("tick", EVENT_TICK)?;
    g.set("event", event)?;
    Ok(())
}
