//! The `tpt-http` command: `run SCRIPT [ARGS...]` and `demo`.

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tpt_http::policy::HostRule;
use tpt_http::{AuthUser, Config};
use tpt_http_cli::runner::{self, RunError, RunOptions};

/// Run The Powder Toy's Lua scripts that use `http` outside the game.
#[derive(Parser)]
#[command(name = "tpt-http", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a TPT-style script with a tick loop.
    #[command(after_help = RUN_ARGS, override_usage = "tpt-http run [OPTIONS] SCRIPT [ARGS]...")]
    Run {
        #[command(flatten)]
        policy: Policy,
        /// The Lua script to run, then its arguments (arg[1], arg[2], ...): everything after
        /// SCRIPT goes to the script, options included.
        #[arg(value_name = "SCRIPT", required = true, num_args = 1.., trailing_var_arg = true)]
        script_and_args: Vec<String>,
    },
    /// Offline demo: a local HTTPS server and a bundled script (downloads, upload, cancel).
    Demo {
        #[command(flatten)]
        policy: Policy,
    },
}

/// How `run` splits its arguments, shown after its options in `--help`.
const RUN_ARGS: &str = "Arguments follow the Lua interpreter's convention (`lua script.lua args`): \
options before SCRIPT are the runner's, and everything after SCRIPT is the script's, options \
included. `tpt-http run --fps 5 game.lua --fps 9` runs at 5 ticks per second, and the script \
sees arg[1] = \"--fps\", arg[2] = \"9\".";

#[derive(Args)]
struct Policy {
    /// Ticks per second; 0 ticks as soon as a request finishes.
    #[arg(long, default_value_t = 60.0)]
    fps: f64,
    /// Allow plain http:// (without it HTTPS is enforced: http:// gives 601).
    #[arg(long)]
    allow_http: bool,
    /// Disable networking: every request gives 604.
    #[arg(long)]
    no_network: bool,
    /// Trust the CA certificates in this PEM file as well as the system's.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<String>,
    /// Send requests through this HTTP proxy (default: the usual proxy environment variables).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Policy for untrusted scripts: HTTPS only, private addresses refused, timeouts, 16 MiB
    /// responses, 4 MiB requests, 16 requests in flight (later flags adjust it).
    #[arg(long)]
    sandbox: bool,
    /// Allow only hosts matching these rules (`example.com`, `*.example.com`, `HOST:PORT`);
    /// an exact `HOST:PORT` rule also re-admits a private address under --sandbox.
    #[arg(long, value_name = "HOST[:PORT]")]
    allow_host: Vec<String>,
    /// Refuse hosts matching these rules (an address rule also refuses every name resolving to
    /// that address).
    #[arg(long, value_name = "HOST[:PORT]")]
    deny_host: Vec<String>,
    /// Largest response body accepted (larger ones fail with 600).
    #[arg(long, value_name = "N")]
    max_response_bytes: Option<u64>,
    /// Largest request a script may make: URL, headers and body together (larger ones fail
    /// with 600 at once).
    #[arg(long, value_name = "N")]
    max_request_bytes: Option<u64>,
    /// Longest a request may take, in seconds (605 after).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Longest a request may wait for the next byte, in seconds (605 after).
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<f64>,
    /// Requests transferring at once; more wait in order.
    #[arg(long, value_name = "N")]
    max_in_flight: Option<usize>,
    /// Ignore the proxy environment variables (https_proxy, http_proxy, all_proxy, no_proxy).
    #[arg(long)]
    no_proxy_env: bool,
    /// Connections open at once to one host (TPT uses 1).
    #[arg(long, value_name = "N", default_value_t = 6)]
    max_host_connections: usize,
    /// Print one line per request on stderr: method, URL, status, protocol (h1, h2), bytes,
    /// time, and why it failed.
    #[arg(long)]
    trace: bool,
    /// Base URL of the auth server for http.getAuthToken.
    #[arg(long, value_name = "URL", default_value = "https://powdertoy.co.uk")]
    auth_server: String,
    /// The logged-in user's id, for http.getAuthToken (without it: "not authenticated").
    #[arg(long, value_name = "ID")]
    user_id: Option<String>,
    /// The user's session key (a secret: prefer the TPT_HTTP_SESSION_KEY environment variable).
    #[arg(
        long,
        value_name = "KEY",
        env = "TPT_HTTP_SESSION_KEY",
        hide_env_values = true
    )]
    session_key: Option<String>,
}

impl Policy {
    fn options(&self) -> Result<RunOptions, String> {
        if !(self.fps >= 0.0 && self.fps.is_finite()) {
            return Err(format!("--fps must be 0 or more, got {}", self.fps));
        }
        if self.max_host_connections == 0 {
            return Err("--max-host-connections must be at least 1".into());
        }
        let base = if self.sandbox {
            Config::sandbox()
        } else {
            Config::default()
        };
        let mut config = Config {
            enforce_https: !self.allow_http,
            network_enabled: !self.no_network,
            proxy: self.proxy.clone(),
            no_proxy_env: self.no_proxy_env,
            max_host_connections: self.max_host_connections,
            ..base
        };
        let rules = |list: &[String]| -> Result<Vec<HostRule>, String> {
            list.iter().map(|r| HostRule::parse(r)).collect()
        };
        config.hosts.allow = rules(&self.allow_host)?;
        config.hosts.deny = rules(&self.deny_host)?;
        let seconds = |flag: &str, v: Option<f64>| -> Result<Option<Duration>, String> {
            v.map(|s| {
                Duration::try_from_secs_f64(s)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or(format!("{flag} must be a positive number of seconds"))
            })
            .transpose()
        };
        if let Some(t) = seconds("--timeout", self.timeout)? {
            config.timeout = Some(t);
        }
        if let Some(t) = seconds("--idle-timeout", self.idle_timeout)? {
            config.idle_timeout = Some(t);
        }
        if self.max_response_bytes.is_some() {
            config.max_response_bytes = self.max_response_bytes;
        }
        if self.max_request_bytes.is_some() {
            config.max_request_bytes = self.max_request_bytes;
        }
        if let Some(n) = self.max_in_flight {
            if n == 0 {
                return Err("--max-in-flight must be at least 1".into());
            }
            config.max_in_flight = Some(n);
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("cannot read --ca-file {path}: {e}"))?;
            // Check it here, where its name is known (the library only sees its contents).
            let alone = Config {
                extra_ca_pem: Some(pem.clone()),
                no_proxy_env: true,
                ..Config::default()
            };
            tpt_http::Client::new(alone).map_err(|e| format!("--ca-file {path}: {e}"))?;
            config.extra_ca_pem = Some(pem);
        }
        if self.trace {
            config.trace = Some(Arc::new(|t: &tpt_http::TraceRecord| {
                eprintln!("{}", trace_line(t))
            }));
        }
        config.auth_server = tpt_http::auth::server_base(&self.auth_server)
            .map_err(|why| format!("--auth-server {why} (got {:?})", self.auth_server))?;
        let identity = match (&self.user_id, &self.session_key) {
            (Some(id), key) => Some(AuthUser {
                user_id: id.clone(),
                session_key: key.clone().unwrap_or_default(),
            }),
            (None, Some(_)) => return Err("--session-key needs --user-id".into()),
            (None, None) => None,
        };
        Ok(RunOptions {
            fps: self.fps,
            config,
            identity,
        })
    }
}

/// One `--trace` line: `tpt-http: GET URL -> 200 h2 10 bytes 1.2 ms`, and for a failure its
/// reason after the time (`... 0.4 ms: could not connect to ...`). The protocol is `-` when no
/// response came; a request cancelled before it finished reads `GET URL -> cancelled after ...`.
fn trace_line(t: &tpt_http::TraceRecord) -> String {
    if t.status == 0 {
        return format!(
            "tpt-http: {} {} -> cancelled after {:.1} ms",
            t.method,
            t.url,
            t.elapsed.as_secs_f64() * 1000.0
        );
    }
    let mut line = format!(
        "tpt-http: {} {} -> {} {} {} bytes {:.1} ms",
        t.method,
        t.url,
        t.status,
        t.protocol.unwrap_or("-"),
        t.bytes,
        t.elapsed.as_secs_f64() * 1000.0
    );
    if let Some(why) = &t.error {
        line.push_str(": ");
        line.push_str(why);
    }
    line
}

/// The runner allocates for every request (hyper, Lua strings); mimalloc is measurably faster
/// than glibc's allocator there (DESIGN.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run {
            policy,
            script_and_args,
        } => {
            let (script, args) = script_and_args.split_first().expect("clap requires SCRIPT");
            policy
                .options()
                .map_err(RunError::Setup)
                .and_then(|opts| runner::run_file(script, args, &opts))
        }
        Command::Demo { policy } => policy
            .options()
            .map_err(RunError::Setup)
            .and_then(tpt_http_cli::demo::run),
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(RunError::Lua(msg)) => {
            eprintln!("tpt-http: lua error: {msg}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("tpt-http: {e}");
            ExitCode::from(2)
        }
    }
}
