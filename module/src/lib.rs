//! The Powder Toy's Lua `http` API as a native module for stock Lua 5.1, Lua 5.4 and LuaJIT:
//!
//! ```lua
//! local http = require("tpt_http")
//! http.configure({ allow_http = true })      -- optional, before the first request
//! local req = http.get("http://127.0.0.1:8080/")
//! while req:status() == "running" do end     -- status is live unless http.tick() is used
//! local body, code, headers = req:finish()
//! ```
//!
//! `require("tpt_http")` returns a table with TPT's `get`, `post` and `getAuthToken` (the
//! request objects of the `tpt-http` library, unchanged), plus two functions that a game
//! would do on the script's behalf:
//!
//! * `configure(options)` sets the policy, before the first request only. The defaults are an
//!   official TPT build's (HTTPS enforced, networking on, the system's CAs).
//! * `tick()` turns on TPT's tick gating and advances one tick: a host that calls it once per
//!   frame sees exactly TPT's statuses. Without it, status is live.
//!
//! Built with mlua's `module` feature, the library does not link liblua: the interpreter that
//! loads it provides the Lua C API. Exactly one of the features `lua51`, `lua54`, `luajit`
//! selects which interpreter's ABI it is built for.
//!
//! Lua closes a state by unloading (`dlclose`) its C modules, while the process-wide engine
//! thread of `tpt-http` may still be running code of this library (requests in flight when a
//! script ends). The `pin` module makes the library stay mapped until the process exits.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use mlua::{Function, Lua, Table, Value};
use tpt_http::{Client, Config, Http};

/// The `http` handle of one `require`d table, and whether its script asked for tick gating.
struct Module {
    http: Http,
    /// `tick()` was called: gating stays on even when `configure` replaces the client.
    gating: Cell<bool>,
}

/// Every [`Module`] loaded into one Lua state, kept as app data so that each handle lives as
/// long as the state does.
#[derive(Default)]
struct Loaded(RefCell<Vec<Rc<Module>>>);

/// The Lua side of `configure`: errors are raised with `error(msg, 2)` so they are strings with
/// the caller's `chunk:line:` prefix, as TPT's own errors are (mlua would raise error objects).
const CONFIGURE: &str = r#"
local configure_impl = ...
local error = error
return function(...)
  local err = configure_impl(...)
  if err then error(err, 2) end
end
"#;

/// The module's entry point, `luaopen_tpt_http`: called by `require("tpt_http")`.
#[mlua::lua_module(name = "tpt_http")]
fn open(lua: &Lua) -> mlua::Result<Table> {
    pin::pin_this_library();
    let client = Client::new(Config::default()).map_err(|e| mlua::Error::runtime(e.to_string()))?;
    let (table, http) = Http::create(lua, client).map_err(|e| mlua::Error::runtime(e.to_string()))?;
    let module = Rc::new(Module {
        http,
        gating: Cell::new(false),
    });
    if lua.app_data_ref::<Loaded>().is_none() {
        lua.set_app_data(Loaded::default());
    }
    if let Some(loaded) = lua.app_data_ref::<Loaded>() {
        loaded.0.borrow_mut().push(module.clone());
    }

    let for_configure = module.clone();
    let configure_impl =
        lua.create_function(move |_, args: mlua::MultiValue| Ok(configure(&for_configure, args).err()))?;
    let tick_impl = lua.create_function(move |_, ()| {
        module.gating.set(true);
        module.http.set_tick_gating(true);
        module.http.tick();
        Ok(())
    })?;
    let configure_fn: Function = lua.load(CONFIGURE).set_name("=tpt_http").call(configure_impl)?;
    table.set("configure", configure_fn)?;
    table.set("tick", tick_impl)?;
    Ok(table)
}

/// `configure(options)`: validate `options`, build the client and install it.
fn configure(module: &Module, args: mlua::MultiValue) -> Result<(), String> {
    let options = match args.front() {
        Some(Value::Table(t)) => t.clone(),
        other => {
            let got = other.map_or("no value", lua_type);
            return Err(format!(
                "bad argument #1 to 'configure' (table expected, got {got})"
            ));
        }
    };
    // Probe: the client can only be replaced before the first request.
    if module.http.set_client(module.http.client()).is_err() {
        return Err("configure must be called before the first request".into());
    }
    module.http.set_tick_gating(module.gating.get());

    let mut config = module.http.client().config().clone();
    for pair in options.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(|e| format!("configure: {e}"))?;
        apply_option(&mut config, &key, value)?;
    }
    let client = Client::new(config).map_err(|e| format!("configure: {e}"))?;
    module
        .http
        .set_client(client)
        .map_err(|_| "configure must be called before the first request".to_string())?;
    module.http.set_tick_gating(module.gating.get());
    Ok(())
}

/// Apply one `key = value` of `configure`'s options to `config`.
fn apply_option(config: &mut Config, key: &Value, value: Value) -> Result<(), String> {
    let name = match key {
        Value::String(s) => s.to_string_lossy(),
        other => {
            return Err(format!(
                "configure: option names must be strings (got {})",
                lua_type(other)
            ));
        }
    };
    let wrong = |expected: &str| {
        format!(
            "configure: option '{name}' must be {expected} (got {})",
            shown(&value)
        )
    };
    match name.as_str() {
        "allow_http" => config.enforce_https = !boolean(&value).ok_or_else(|| wrong("a boolean"))?,
        "network" => config.network_enabled = boolean(&value).ok_or_else(|| wrong("a boolean"))?,
        "ca_file" => {
            let path = string(&value).ok_or_else(|| wrong("a string"))?;
            let pem =
                std::fs::read(&path).map_err(|e| format!("configure: cannot read ca_file '{path}': {e}"))?;
            // Checked here, where its name is known (the client only sees its contents).
            let alone = Config {
                extra_ca_pem: Some(pem.clone()),
                no_proxy_env: true,
                ..Config::default()
            };
            Client::new(alone).map_err(|e| format!("configure: ca_file '{path}': {e}"))?;
            config.extra_ca_pem = Some(pem);
        }
        "proxy" => {
            let proxy = string(&value).ok_or_else(|| wrong("a string"))?;
            if proxy.is_empty() {
                // As libcurl's CURLOPT_PROXY "": no proxy, whatever the environment says.
                config.proxy = None;
                config.no_proxy_env = true;
            } else {
                config.proxy = Some(proxy);
            }
        }
        "max_host_connections" => {
            config.max_host_connections = integer(&value)
                .filter(|n| (1..=i64::from(u16::MAX)).contains(n))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| wrong("an integer from 1 to 65535"))?;
        }
        "connect_timeout" => {
            config.connect_timeout = number(&value)
                .filter(|s| *s > 0.0)
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| wrong("a positive number of seconds"))?;
        }
        "auth_server" => {
            let url = string(&value).ok_or_else(|| wrong("a string"))?;
            config.auth_server = tpt_http::auth::server_base(&url)
                .map_err(|why| format!("configure: option 'auth_server' {why} (got {})", shown(&value)))?;
        }
        _ => return Err(format!("configure: unknown option '{name}'")),
    }
    Ok(())
}

/// `value` as an error message shows it: numbers and booleans as they are, strings quoted (at
/// most 40 bytes), other values by their type.
fn shown(value: &Value) -> String {
    match value {
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::String(s) => {
            let bytes = s.as_bytes();
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
            let more = if bytes.len() > 40 { "..." } else { "" };
            format!("{:?}{more}", text)
        }
        other => lua_type(other).to_string(),
    }
}

/// The name Lua's `type()` gives `value`.
fn lua_type(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) | Value::Number(_) => "number",
        Value::LightUserData(_) | Value::UserData(_) | Value::Error(_) | Value::Other(_) => "userdata",
        other => other.type_name(),
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Boolean(b) => Some(*b),
        _ => None,
    }
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => s.to_str().ok().map(|s| s.to_string()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(n) => Some(*n),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(*n as i64),
        _ => None,
    }
}

/// Keeping this library loaded until the process exits.
///
/// Lua's `lua_close` unloads every C module the state loaded (`dlclose`). The engine thread of
/// `tpt-http` is process-wide and outlives the state: when a script ends with requests in
/// flight, closing the state aborts them, and the engine thread then runs this library's code
/// to drop them (and waits for more work in it). Unmapping the library under it would crash the
/// process at exit. So on first load the library opens itself again with `RTLD_NODELETE`,
/// which tells the dynamic loader never to unmap it.
mod pin {
    /// Pin the shared object holding this function in memory (once per process; best effort).
    /// Returns whether the library is pinned.
    #[cfg(unix)]
    pub(crate) fn pin_this_library() -> bool {
        use std::sync::OnceLock;
        static PINNED: OnceLock<bool> = OnceLock::new();
        *PINNED.get_or_init(|| {
            // SAFETY: dladdr only reads the loader's tables; dli_fname, when set, is a C string
            // owned by the loader, valid while the object is loaded (it is: we run in it).
            // dlopen of an object already loaded only adds a reference and the NODELETE flag;
            // the handle is deliberately never closed.
            unsafe {
                let mut info: libc::Dl_info = std::mem::zeroed();
                let addr = pin_this_library as fn() -> bool as *const libc::c_void;
                if libc::dladdr(addr, &mut info) == 0 || info.dli_fname.is_null() {
                    return false;
                }
                let flags = libc::RTLD_NOW | libc::RTLD_NODELETE;
                let mut handle = libc::dlopen(info.dli_fname, flags | libc::RTLD_NOLOAD);
                if handle.is_null() {
                    handle = libc::dlopen(info.dli_fname, flags);
                }
                !handle.is_null()
            }
        })
    }

    /// Pin the shared object holding this function in memory: nothing to do on this platform.
    #[cfg(not(unix))]
    pub(crate) fn pin_this_library() -> bool {
        false
    }
}
