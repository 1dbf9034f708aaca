---@meta tpt_http
-- Annotations (LuaCATS, the lua-language-server format) for The Powder Toy's `http` API as
-- tpt-http provides it: the `http` global of TPT scripts (the runner, Rust hosts), the table
-- `require("tpt_http")` returns (the native module), the request object and the extensions.
-- This file is never run. Add its folder to your editor's `workspace.library`.
-- Reference: docs/reference.md. Kept true by crates/tpt-http-cli/tests/annotations.rs, which
-- compares the functions and methods below with those the library installs.

---A header list: pairs `{name, value}` in order (`{ {"Accept", "text/html"} }`), or, when the
---list part is empty, a dictionary `{ Accept = "text/html" }`.
---@alias HTTPHeaders { [integer]: { [1]: string, [2]: string } } | { [string]: string }

---The headers of a response: pairs `{name, value}`, names in lower case, in wire order.
---@alias HTTPResponseHeaders { [integer]: { [1]: string, [2]: string } }

---One item of a multipart form: `{name, value, [filename], [content_type]}`.
---@alias HTTPFormItem { [1]: string, [2]: string, [3]: string?, [4]: string? }

---A POST body: raw bytes, a list of form items, or a dictionary of form fields.
---@alias HTTPPostData string | HTTPFormItem[] | { [string]: string }

---@alias HTTPStatus
---| "running" # still transferring (or seen running during this tick)
---| "done" # finished: call finish()
---| "dead" # finished and collected, or cancelled

---Per-request options (beyond TPT), the argument after the verb.
---@class HTTPRequestOptions
---@field timeout? number seconds; the request finishes with 605 when it takes longer
---@field compressed? boolean ask for gzip/deflate and decode the body

---A request started by `http.get`, `http.post` or `http.getAuthToken`.
---@class HTTPRequest
local HTTPRequest = {}

---`"running"`, `"done"` or `"dead"`. With tick gating, a request seen running during a tick
---stays `"running"` until the next tick.
---@return HTTPStatus
function HTTPRequest:status() end

---The announced body size of the current response (-1 when unknown) and the body bytes received
---so far. Returns nothing once the request is dead.
---@return integer total
---@return integer received
function HTTPRequest:progress() end

---Stop the transfer; the request becomes dead.
function HTTPRequest:cancel() end

---When the status is `"done"`: the body, the status code (HTTP, or 600 and up for a failed
---transfer, then the body is `""`) and the final response's headers; the request becomes dead.
---When running or dead: nothing (it never waits).
---@return string body
---@return integer status_code
---@return HTTPResponseHeaders headers
function HTTPRequest:finish() end

---Beyond TPT: the body bytes that arrived since the last read (`""` when none). After a read,
---`finish()` returns only the unread rest.
---@return string
function HTTPRequest:read() end

---Beyond TPT: why the request failed (e.g. `"could not connect to 127.0.0.1 port 9: ..."`), or
---nil for a request that got an HTTP response or is still running.
---@return string?
function HTTPRequest:error() end

---Beyond TPT: inside a coroutine, yield until the request is no longer running; returns its
---status. Raises an error outside a coroutine.
---@async
---@return HTTPStatus
function HTTPRequest:wait() end

---TPT's `http` table.
---@class HTTP
local HTTP = {}

---Start a GET request (or `verb`) at once.
---@param uri string the URL; `http://` gives 601 while HTTPS is enforced
---@param headers? HTTPHeaders
---@param verb? string a method replacing GET (`nil` or `""`: GET)
---@param options? HTTPRequestOptions beyond TPT
---@return HTTPRequest
function HTTP.get(uri, headers, verb, options) end

---Start a POST request (or `verb`, keeping the body) at once.
---@param uri string
---@param post? HTTPPostData a string is sent as is; a table as multipart/form-data
---@param headers? HTTPHeaders
---@param verb? string
---@param options? HTTPRequestOptions beyond TPT
---@return HTTPRequest
function HTTP.post(uri, post, headers, verb, options) end

---Ask the auth server for a token proving who the logged-in user is to `audience`. Its
---`finish()` gives `token, 200, {}` on success. Without a logged-in user: `nil, "not authenticated"`.
---@param audience string
---@return HTTPRequest? request
---@return string? err
function HTTP.getAuthToken(audience) end

---The `http` global of TPT scripts (the runner, Rust hosts).
---@type HTTP
http = {}

---Options of the native module's `configure`.
---@class TPTHTTPConfigureOptions
---@field allow_http? boolean allow `http://` (default false: 601)
---@field ca_file? string a PEM file of CA certificates trusted besides the system's
---@field proxy? string HTTP proxy URL; `""`: no proxy, whatever the environment says
---@field max_host_connections? integer connections at once to one host, 1 to 65535 (default 6)
---@field network? boolean false: every request finishes with 604
---@field connect_timeout? number seconds for DNS, TCP and TLS (default 15; 605 after)
---@field auth_server? string http:// or https:// URL where getAuthToken asks

---The table `require("tpt_http")` returns: TPT's `http` plus `configure` and `tick`.
---@class TPTHTTPModule: HTTP
local module = {}

---Set the policy; only before the first request (options add up over several calls).
---Unknown keys and bad values raise an error naming them.
---@param options TPTHTTPConfigureOptions
function module.configure(options) end

---One frame has passed: turns TPT's tick gating on (first call) and advances one tick.
function module.tick() end

return module
