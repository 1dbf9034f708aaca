//! Our HTTP/1.1 client connection: one request at a time, driven by the request's own task.
//!
//! Why not hyper's: hyper runs every HTTP/1.1 connection as a driver task that the request task
//! talks to through channels, and gives each connection an 8 KiB read buffer and an 8 KiB write
//! buffer for its whole life. Here the request task reads and writes the socket itself, a
//! connection waiting for an answer holds no buffer at all (a plain socket is awaited for
//! readiness before one is allocated), an idle pooled connection holds none either, and a body
//! of known length is read straight into the request's body buffer, never through a second one.
//!
//! What this module decides, per RFC 9112: how a response body is framed (no body, a length,
//! chunked, or until the connection closes), whether the connection can carry another request,
//! and the response head as TPT reports it (names lower-cased, values trimmed, wire order).
//! 1xx answers before the real one are skipped.

use super::activity::{Activity, Tracked};
use super::head;
pub(crate) use super::head::{Head, Length};
use crate::failure::{Failure, FailureKind};
use crate::state::Reporter;
use std::future::poll_fn;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Bytes read at a time into the connection's own buffer (the head, chunked bodies).
const READ_CHUNK: usize = 16 * 1024;

/// The longest chunk-size line or trailer section accepted.
const MAX_CHUNK_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 64 * 1024;

/// A request body up to this size goes out in the same write as the head.
const COALESCE_BODY: usize = 16 * 1024;

/// A connection's socket: plain TCP, or TLS over TCP (directly or through a proxy tunnel).
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Bytes in memory, for fuzzing.
    #[cfg(feature = "fuzzing")]
    Mem(MemStream),
}

/// An answer held in memory, read in pieces of varying size (set by `split`); writes vanish.
#[cfg(feature = "fuzzing")]
pub(crate) struct MemStream {
    data: Vec<u8>,
    pos: usize,
    split: u8,
}

#[cfg(feature = "fuzzing")]
impl MemStream {
    pub(crate) fn new(data: Vec<u8>, split: u8) -> MemStream {
        MemStream { data, pos: 0, split }
    }

    fn read(&mut self, buf: &mut ReadBuf<'_>) {
        let piece = if self.split == 0 {
            usize::MAX
        } else {
            self.split = self.split.rotate_left(3) ^ 0x5a;
            1 + usize::from(self.split & 0x7f) * 7
        };
        let n = piece.min(buf.remaining()).min(self.data.len() - self.pos);
        buf.put_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(feature = "fuzzing")]
            Stream::Mem(m) => {
                m.read(buf);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
            #[cfg(feature = "fuzzing")]
            Stream::Mem(_) => Poll::Ready(Ok(data.len())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(feature = "fuzzing")]
            Stream::Mem(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(feature = "fuzzing")]
            Stream::Mem(_) => Poll::Ready(Ok(())),
        }
    }
}

/// Read from `read` straight into the spare capacity of `buf` (at most `max` bytes), growing
/// its length by what was read; returns that count. The one place the engine reads into
/// uninitialised memory.
pub(crate) fn read_into_spare(
    buf: &mut Vec<u8>,
    max: usize,
    read: impl FnOnce(&mut ReadBuf<'_>) -> Poll<std::io::Result<()>>,
) -> Poll<std::io::Result<usize>> {
    let len = buf.len();
    let spare = buf.spare_capacity_mut();
    let take = spare.len().min(max);
    let start = spare.as_ptr();
    let mut rb = ReadBuf::uninit(&mut spare[..take]);
    match read(&mut rb) {
        Poll::Ready(Ok(())) => {
            let n = rb.filled().len();
            // A reader may swap the buffer it was given (`ReadBuf` allows it): then its bytes are
            // not ours. Refuse rather than grow the vector over uninitialised memory.
            assert!(
                n == 0 || rb.filled().as_ptr() == start.cast(),
                "read into another buffer"
            );
            // SAFETY: `ReadBuf` guarantees its filled part is initialised, and that part begins
            // at the first byte of `buf`'s spare capacity (checked above) and fits in it.
            unsafe { buf.set_len(len + n) };
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// How the body of a response is delimited, and how much of it is left.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body, or all of it has been read.
    Done,
    /// This many bytes are left.
    Length(u64),
    /// Chunked transfer coding, in this state.
    Chunked(Chunk),
    /// The body runs until the server closes the connection.
    UntilClose,
}

/// Where a chunked body's reader stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes left.
    Data(u64),
    /// Expecting the line end after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; bytes of them seen so far.
    Trailers(usize),
}

/// Why reading a response head failed.
pub(crate) enum HeadError {
    /// The connection ended (or failed) before any byte of a response: a request sent on a
    /// reused connection that the server had just closed, which can be retried elsewhere.
    Unanswered(Failure),
    /// Anything else.
    Failed(Failure),
}

impl HeadError {
    pub(crate) fn into_failure(self) -> Failure {
        match self {
            HeadError::Unanswered(f) | HeadError::Failed(f) => f,
        }
    }
}

fn malformed(why: impl std::fmt::Display) -> Failure {
    Failure::new(FailureKind::Internal, format!("malformed response: {why}"))
}

fn io_failure(what: &str, e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        // rustls: the TCP stream ended without close_notify, so the data may have been cut.
        return Failure::new(
            FailureKind::Internal,
            format!("{what}: connection closed without TLS close_notify"),
        );
    }
    Failure::new(FailureKind::Internal, format!("{what}: {e}"))
}

fn truncated() -> Failure {
    Failure::new(
        FailureKind::Internal,
        "connection closed before the body was complete",
    )
}

/// An HTTP/1.1 connection, idle or carrying one request.
pub(crate) struct Conn {
    io: Tracked<Stream>,
    pub(crate) activity: Activity,
    /// Bytes read and not consumed yet are `buf[pos..]`. Empty (no allocation) while idle.
    buf: Vec<u8>,
    pos: usize,
    /// The current response lets the connection carry another request once it is read.
    keep_alive: bool,
    /// The server answered before it took the whole request body, which was not sent in full:
    /// the connection cannot carry another request.
    body_unsent: bool,
    /// After chunked trailers: the header list as TPT's callback leaves it (see
    /// [`Conn::take_trailer_list`]).
    trailer_list: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// What must live as long as the connection: its place under the per-host cap (the pool's
    /// slot guard), given by whoever opened it. This module knows nothing of the pool.
    _held: Held,
}

/// Kept alive by a [`Conn`] until it is dropped.
pub(crate) type Held = Box<dyn Send + Sync>;

impl Conn {
    pub(crate) fn new(stream: Stream, activity: Activity, held: Held) -> Conn {
        Conn {
            io: Tracked::new(stream, activity.clone()),
            activity,
            buf: Vec::new(),
            pos: 0,
            keep_alive: false,
            body_unsent: false,
            trailer_list: None,
            _held: held,
        }
    }

    /// For a pooled connection: is it still fit for a request? Not if the server closed it or
    /// sent something nobody asked for. Never waits.
    ///
    /// The socket itself is asked (a non-blocking peek): tokio's cached readiness may not know
    /// yet of bytes that arrived since the last read.
    pub(crate) fn still_usable(&mut self) -> bool {
        let tcp = match self.io.get_ref() {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
            #[cfg(feature = "fuzzing")]
            Stream::Mem(_) => return true,
        };
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(tcp).peek(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Ok(_) | Err(_) if matches!(self.io.get_ref(), Stream::Plain(_)) => return false,
            _ => {}
        }
        // TLS records arrived: a session ticket leaves the connection usable; data, an alert or
        // the end of the stream do not.
        let mut one = [0u8; 1];
        let mut buf = ReadBuf::new(&mut one);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        matches!(Pin::new(&mut self.io).poll_read(&mut cx, &mut buf), Poll::Pending)
    }

    /// Send a request: `head` (request line and headers, ending in an empty line) and `body`.
    ///
    /// A server may answer before it has read the whole body (a 413, or a 200 to an upload it
    /// does not want) and then neither read nor close. The early answer is the answer, as in
    /// libcurl: whenever the body cannot be written, what the server sent is read into the
    /// buffer, and once it holds the status line of a final (not 1xx) answer, or the stream
    /// ends, the rest of the body is not sent and the connection is not reused. Interim 1xx
    /// answers are left in the buffer (the head reader skips them) and the body goes on.
    pub(crate) async fn send(&mut self, head: Vec<u8>, body: &[u8]) -> std::io::Result<()> {
        self.body_unsent = false;
        if body.len() <= COALESCE_BODY {
            let mut all = head;
            all.extend_from_slice(body);
            self.io.write_all(&all).await?;
            return self.io.flush().await;
        }
        self.io.write_all(&head).await?;
        let mut rest = body;
        let mut scan = EarlyAnswer::default();
        poll_fn(|cx| {
            loop {
                let wrote = if rest.is_empty() {
                    Pin::new(&mut self.io).poll_flush(cx).map_ok(|()| None)
                } else {
                    Pin::new(&mut self.io).poll_write(cx, rest).map_ok(Some)
                };
                match wrote {
                    Poll::Ready(Ok(None)) => return Poll::Ready(Ok(())),
                    Poll::Ready(Ok(Some(0))) => {
                        return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                    }
                    Poll::Ready(Ok(Some(n))) => {
                        rest = &rest[n..];
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
                // The server is not taking the body: has it answered?
                match self.poll_early_answer(cx, &mut scan) {
                    Poll::Ready(true) => {
                        self.body_unsent = true;
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Ready(false) => {} // an interim answer, or part of one: write on
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    /// While the request body is blocked: read what the server sent (appended to the buffer,
    /// for the head reader) and say whether it is an answer that ends the upload. Pending when
    /// nothing arrived; the scan goes on from where it stopped, so it costs each byte once.
    fn poll_early_answer(&mut self, cx: &mut Context<'_>, scan: &mut EarlyAnswer) -> Poll<bool> {
        let mut chunk = [0u8; 4096];
        let mut rb = ReadBuf::new(&mut chunk);
        match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            // The end of the stream, or a failure: nothing more will be read; the head reader
            // reports it.
            Poll::Ready(Err(_)) => Poll::Ready(true),
            Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(true),
            Poll::Ready(Ok(())) => {
                self.buf.extend_from_slice(rb.filled());
                let arrived = &self.buf[self.pos..];
                Poll::Ready(arrived.len() > head::MAX_HEAD || scan.is_final(arrived))
            }
        }
    }

    fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Read more bytes into the buffer; `Ok(0)` is the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buf.capacity() == 0 {
            // No buffer until there is something to read: a connection waiting for a slow
            // answer costs its socket and little else.
            if let Stream::Plain(tcp) = self.io.get_ref() {
                tcp.readable().await?;
            }
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.buf.len() == self.buf.capacity() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        let (buf, io) = (&mut self.buf, &mut self.io);
        poll_fn(|cx| read_into_spare(buf, usize::MAX, |rb| Pin::new(&mut *io).poll_read(cx, rb))).await
    }

    /// Read the head of the response to a request (skipping 1xx heads); `head_request` says the
    /// request was a HEAD, whose response has no body whatever its headers say. The head is read
    /// by [`head::Parser`], which consumes whole lines and never looks at a byte twice.
    pub(crate) async fn read_head(&mut self, head_request: bool) -> Result<(Head, Framing), HeadError> {
        let mut parser = head::Parser::default();
        loop {
            let (used, result) = parser.feed(&self.buf[self.pos..]);
            self.pos += used;
            match result {
                Ok(Some(parsed)) if (100..200).contains(&parsed.head.status) && parsed.head.status != 101 => {
                    parser.interim(&parsed);
                    continue; // an interim answer; the real one follows
                }
                Ok(Some(parsed)) => {
                    let framing = self.framing(&parsed.head, parsed.version, head_request)?;
                    return Ok((parsed.head, framing));
                }
                Ok(None) => {}
                Err(refusal) => {
                    return Err(HeadError::Failed(refused(refusal).with_headers(parser.listed())));
                }
            }
            let answered = parser.started(self.buffered());
            let fail = |f: Failure| {
                if answered {
                    HeadError::Failed(f)
                } else {
                    HeadError::Unanswered(f)
                }
            };
            match self.fill().await {
                Ok(0) => {
                    return match parser.end(&self.buf[self.pos..]) {
                        Ok(Some(mut parsed)) => {
                            // The head ended with the connection: a body length still owed is cut.
                            let framing = self.framing(&parsed.head, parsed.version, head_request)?;
                            self.keep_alive = false;
                            // (libcurl: a length is owed; chunks are not, the head never ended.)
                            if matches!(framing, Framing::Length(_)) {
                                return Err(fail(truncated().with_headers(parsed.head.headers)));
                            }
                            parsed.head.cut = true;
                            Ok((parsed.head, Framing::Done))
                        }
                        Ok(None) => Err(fail(Failure::new(
                            FailureKind::Internal,
                            "connection closed before a response",
                        ))),
                        Err(refusal) => Err(fail(refused(refusal).with_headers(parser.listed()))),
                    };
                }
                Ok(_) => {}
                Err(e) => return Err(fail(io_failure("receiving the response failed", e))),
            }
        }
    }

    /// How the body of `head` is delimited, as libcurl decides it, and whether the connection
    /// stays usable after it.
    fn framing(&mut self, head: &Head, version: u8, head_request: bool) -> Result<Framing, HeadError> {
        self.keep_alive = if version >= 11 {
            !head.has_token("connection", "close")
        } else {
            head.has_token("connection", "keep-alive")
        };
        let status = head.status;
        if status == 101 {
            // An upgrade nobody asked for: libcurl takes it as the final response and reads what
            // follows as its body, framed like any other (until the close, without a length).
            self.keep_alive = false;
        }
        if head_request || status == 204 || status == 304 {
            return Ok(Framing::Done);
        }
        let length = match head.length() {
            Length::Invalid => {
                // libcurl fails at the line: the headers before it are listed.
                let at = head
                    .headers
                    .iter()
                    .position(|(n, v)| n == b"content-length" && head::content_length(v).is_err())
                    .unwrap_or(head.headers.len());
                let listed = head.headers[..at].to_vec();
                return Err(HeadError::Failed(
                    malformed("invalid content-length").with_headers(listed),
                ));
            }
            Length::Overflow => {
                self.keep_alive = false;
                None
            }
            Length::Known(n) => Some(n),
            Length::None => None,
        };
        if head.all("content-length").nth(1).is_some() {
            // Several lengths: libcurl takes the last; another reader might take another, so
            // the connection carries nothing after this response.
            self.keep_alive = false;
        }
        if head.get("transfer-encoding").is_some() {
            if length.is_some() {
                // Both: the length is ignored, and the connection is not trusted afterwards.
                self.keep_alive = false;
            }
            if head.is_chunked() {
                return Ok(Framing::Chunked(Chunk::Size));
            }
            // libcurl decodes no other transfer coding: it reads the body as it comes.
            self.keep_alive = false;
            return Ok(match length {
                Some(0) => Framing::Done,
                Some(n) => Framing::Length(n),
                None => Framing::UntilClose,
            });
        }
        Ok(match length {
            Some(0) => Framing::Done,
            Some(n) => Framing::Length(n),
            None => {
                self.keep_alive = false;
                Framing::UntilClose
            }
        })
    }

    /// The next piece of the body, as a range of the connection's buffer ([`Conn::slice`]), at
    /// most `room` bytes; `None` at its end.
    pub(crate) async fn next(
        &mut self,
        framing: &mut Framing,
        room: usize,
    ) -> Result<Option<Range<usize>>, Failure> {
        loop {
            match framing {
                Framing::Done => return Ok(None),
                Framing::Length(left) => {
                    let (range, all) = self.take_owed(left, room).await?;
                    if all {
                        *framing = Framing::Done;
                    }
                    return Ok(Some(range));
                }
                Framing::UntilClose => {
                    if self.buffered() == 0 && self.fill().await.map_err(body_io)? == 0 {
                        *framing = Framing::Done;
                        return Ok(None);
                    }
                    let n = self.take(u64::MAX, room);
                    return Ok(Some(self.pos - n..self.pos));
                }
                Framing::Chunked(Chunk::Data(left)) => {
                    let (range, all) = self.take_owed(left, room).await?;
                    if all {
                        *framing = Framing::Chunked(Chunk::DataEnd);
                    }
                    return Ok(Some(range));
                }
                Framing::Chunked(state) => {
                    let Some(line) = self.line() else {
                        let limit = if matches!(state, Chunk::Trailers(_)) {
                            MAX_TRAILERS
                        } else {
                            MAX_CHUNK_LINE
                        };
                        if self.buffered() > limit {
                            return Err(malformed("chunk line too long"));
                        }
                        if self.fill().await.map_err(body_io)? == 0 {
                            // Cut inside the trailers: TPT's list as they left it.
                            return Err(match self.trailer_list.take() {
                                Some(listed) => truncated().with_headers(listed),
                                None => truncated(),
                            });
                        }
                        continue;
                    };
                    let text = &self.buf[line.clone()];
                    let next = match state {
                        Chunk::Size => match chunk_size(text)? {
                            0 => Chunk::Trailers(0),
                            n => Chunk::Data(n),
                        },
                        // libcurl skips any CRs before the LF that ends a chunk's data.
                        Chunk::DataEnd if text.iter().all(|&b| b == b'\r') => Chunk::Size,
                        Chunk::DataEnd => return Err(malformed("chunk data longer than its size")),
                        Chunk::Trailers(_) if text.is_empty() => {
                            *framing = Framing::Done;
                            continue;
                        }
                        Chunk::Trailers(seen) if *seen + text.len() > MAX_TRAILERS => {
                            return Err(malformed("trailers too long"));
                        }
                        Chunk::Trailers(seen) => {
                            let seen = *seen;
                            self.trailer_line(line, seen)?
                        }
                        Chunk::Data(_) => unreachable!("handled above"),
                    };
                    *state = next;
                }
            }
        }
    }

    /// A line of the trailers (`seen` bytes of them read before it), as libcurl and TPT's
    /// header callback read it: the next chunk state, or the failure (with TPT's list).
    fn trailer_line(&mut self, line: Range<usize>, seen: usize) -> Result<Chunk, Failure> {
        let text = &self.buf[line];
        // libcurl hands trailer lines to TPT's header callback, which takes
        // the first for a new head's status line (the list starts anew,
        // that line unlisted) and lists the rest that have a colon. A CR
        // inside a line ends it there, and the transfer then fails (libcurl
        // wants an LF after a trailer's CR).
        let cr = text.iter().position(|&b| b == b'\r');
        let part = &text[..cr.unwrap_or(text.len())];
        // libcurl stores trailers as headers: a line needs a colon, unless
        // it continues the one before (a blank first).
        let folded = matches!(part.first(), Some(b' ' | b'\t'));
        if !folded && !part.contains(&b':') {
            // libcurl refuses the line before TPT's callback sees it: the
            // list stands as it was (the head's, if this is the first).
            let err = malformed("trailer line without a colon");
            return Err(match self.trailer_list.take() {
                Some(listed) => err.with_headers(listed),
                None => err,
            });
        }
        let list = self.trailer_list.get_or_insert_with(Vec::new);
        if seen > 0
            && let Some(colon) = part.iter().position(|&b| b == b':')
        {
            list.push((
                part[..colon].to_ascii_lowercase(),
                crate::spec::trim(&part[colon + 1..]).to_vec(),
            ));
        }
        if cr.is_some() {
            let listed = self.trailer_list.take().unwrap_or_default();
            return Err(malformed("CR inside a trailer line").with_headers(listed));
        }
        Ok(Chunk::Trailers(seen + text.len().max(1)))
    }

    /// The header list TPT reports when the body ended in trailers (`None` without trailers).
    pub(crate) fn take_trailer_list(&mut self) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        self.trailer_list.take()
    }

    /// Bytes `range` of the buffer, as returned by [`Conn::next`].
    pub(crate) fn slice(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Read the next piece of the body into `sink`, at most `room` bytes (at least 1); returns
    /// how many, 0 at the end. A body of known length (or one running to the close) goes from
    /// the socket straight into the sink's buffer.
    pub(crate) async fn read_into(
        &mut self,
        framing: &mut Framing,
        room: usize,
        sink: &Reporter,
    ) -> Result<usize, Failure> {
        let want = match framing {
            Framing::Length(left) if self.buffered() == 0 => {
                usize::try_from(*left).unwrap_or(usize::MAX).min(room)
            }
            Framing::UntilClose if self.buffered() == 0 => room,
            _ => {
                return Ok(match self.next(framing, room).await? {
                    None => 0,
                    Some(r) => {
                        sink.append(&self.buf[r.clone()]);
                        r.len()
                    }
                });
            }
        };
        // The head's buffer is of no more use: the rest goes where it belongs.
        self.buf = Vec::new();
        self.pos = 0;
        let io = &mut self.io;
        let n = poll_fn(|cx| {
            sink.fill_with(want, |body, max| {
                read_into_spare(body, max, |rb| Pin::new(&mut *io).poll_read(cx, rb))
            })
        })
        .await
        .map_err(body_io)?;
        match framing {
            Framing::Length(_) if n == 0 => Err(truncated()),
            Framing::Length(left) => {
                *left -= n as u64;
                if *left == 0 {
                    *framing = Framing::Done;
                }
                Ok(n)
            }
            _ if n == 0 => {
                *framing = Framing::Done;
                Ok(0)
            }
            _ => Ok(n),
        }
    }

    /// Up to `room` of the `left` bytes still owed (a length, or a chunk's data), reading if
    /// none is buffered; the end of the stream before them is a truncation. Returns their range
    /// and whether they were the last owed.
    async fn take_owed(&mut self, left: &mut u64, room: usize) -> Result<(Range<usize>, bool), Failure> {
        if self.buffered() == 0 && self.fill().await.map_err(body_io)? == 0 {
            return Err(truncated());
        }
        let n = self.take(*left, room);
        *left -= n as u64;
        Ok((self.pos - n..self.pos, *left == 0))
    }

    /// Consume up to `left` (and `room`) buffered bytes; how many.
    fn take(&mut self, left: u64, room: usize) -> usize {
        let n = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(room)
            .min(self.buffered());
        self.pos += n;
        n
    }

    /// Consume one line (ending in LF, an optional CR before it) from the buffer; its range
    /// without the line end, or `None` if no whole line is buffered.
    fn line(&mut self) -> Option<Range<usize>> {
        let at = self.buf[self.pos..].iter().position(|&b| b == b'\n')?;
        let start = self.pos;
        let mut end = start + at;
        self.pos = end + 1;
        if end > start && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        Some(start..end)
    }

    /// The response was read to its end: the connection, ready for another request, unless the
    /// response said it closes or the server sent more than it should have.
    pub(crate) fn into_idle(mut self, framing: &Framing) -> Option<Conn> {
        if !self.keep_alive || self.body_unsent || *framing != Framing::Done || self.buffered() > 0 {
            return None;
        }
        self.buf = Vec::new();
        self.pos = 0;
        Some(self)
    }
}

/// Reads the answers a server sends while the request body is still going out, a line at a
/// time and never a byte twice: interim (1xx) heads are passed over, and the first status line
/// of anything else (a final answer, or bytes that are not HTTP) ends the upload.
#[derive(Debug, Default)]
struct EarlyAnswer {
    /// Bytes of the answer already scanned (whole lines).
    scanned: usize,
    /// Bytes after `scanned` already searched for a line end, without one.
    searched: usize,
    /// Inside an interim head (its status line seen, its empty line not yet).
    interim: bool,
}

impl EarlyAnswer {
    /// Is there, in `arrived` (everything the server sent so far), an answer that is not an
    /// interim one?
    fn is_final(&mut self, arrived: &[u8]) -> bool {
        loop {
            let from = self.scanned + self.searched;
            let Some(at) = arrived[from..].iter().position(|&b| b == b'\n') else {
                self.searched = arrived.len() - self.scanned;
                break;
            };
            let line = &arrived[self.scanned..from + at];
            let text = line.strip_suffix(b"\r").unwrap_or(line);
            self.scanned = from + at + 1;
            self.searched = 0;
            if self.interim {
                self.interim = !text.is_empty();
            } else if !text.is_empty() {
                if !is_interim_status(text) {
                    return true;
                }
                self.interim = true;
            }
        }
        // An unfinished status line already shows whether it is interim.
        let partial = &arrived[self.scanned..];
        !self.interim && partial.len() >= 12 && !is_interim_status(partial)
    }
}

/// Is `line` the status line of an interim answer (`HTTP/1.x 1xx`, not 101, which is final)?
fn is_interim_status(line: &[u8]) -> bool {
    line.len() >= 12
        && line.starts_with(b"HTTP/1.")
        && line[8] == b' '
        && line[9] == b'1'
        && line[10..12].iter().all(u8::is_ascii_digit)
        && &line[9..12] != b"101"
}

fn body_io(e: std::io::Error) -> Failure {
    io_failure("transfer failed while receiving the body", e)
}

/// A refused head as a failure: 601 for an answer that is not HTTP/1.x, else 600.
fn refused(refusal: head::Refusal) -> Failure {
    match refusal {
        head::Refusal::NotHttp(why) => Failure::new(
            FailureKind::UnsupportedProtocol,
            format!("malformed response: {why}"),
        ),
        head::Refusal::Malformed(why) => malformed(why),
    }
}

/// The size in a chunk-size line, as libcurl reads it: 1 to 16 hex digits at its start (a
/// number that fits a signed 64-bit length); whatever follows up to the line end (extensions,
/// blanks, other bytes) is ignored.
fn chunk_size(line: &[u8]) -> Result<u64, Failure> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(malformed("bad chunk size"));
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(malformed)?;
    u64::from_str_radix(text, 16)
        .ok()
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| malformed("bad chunk size"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a").ok(), Some(26));
        assert_eq!(chunk_size(b"0").ok(), Some(0));
        assert_eq!(chunk_size(b"FF;name=value").ok(), Some(255));
        assert_eq!(chunk_size(b"10 ").ok(), Some(16));
        assert_eq!(chunk_size(b"38\rZ").ok(), Some(0x38));
        assert_eq!(chunk_size(b"0x10").ok(), Some(0));
        assert!(chunk_size(b"").is_err());
        assert!(chunk_size(b" 1").is_err());
        assert!(chunk_size(b"-1").is_err());
        assert!(chunk_size(b"8000000000000000").is_err());
        assert!(chunk_size(b"1234567890abcdef0").is_err());
    }

    #[test]
    fn early_answers_end_an_upload_unless_interim() {
        let final_after = |pieces: &[&[u8]]| {
            let mut scan = EarlyAnswer::default();
            let mut arrived = Vec::new();
            pieces.iter().position(|p| {
                arrived.extend_from_slice(p);
                scan.is_final(&arrived)
            })
        };
        assert_eq!(final_after(&[b"HTTP/1.1 200 OK\r\n"]), Some(0));
        assert_eq!(
            final_after(&[b"HTTP/1.1 41", b"3 Too"]),
            Some(1),
            "decided from the code"
        );
        assert_eq!(final_after(&[b"HTTP/1.1 100 Continue\r\n\r\n"]), None);
        assert_eq!(
            final_after(&[
                b"HTTP/1.1 100 Continue\r\n",
                b"X: 1\r\n\r",
                b"\nHTTP/1.1 200 OK\r\n"
            ]),
            Some(2)
        );
        assert_eq!(
            final_after(&[b"HTTP/1.1 103 Early\nLink: x\n\n", b"HTTP/1.1 100 C\n\n"]),
            None
        );
        assert_eq!(final_after(&[b"HTTP/1.1 101 Switching\r\n"]), Some(0));
        assert_eq!(
            final_after(&[b"SSH-2.0-OpenSSH_9.6\r\n"]),
            Some(0),
            "not HTTP: stop too"
        );
    }

    #[test]
    fn tokens_in_lists() {
        let head = Head {
            cut: false,
            status: 200,
            headers: vec![
                (b"connection".to_vec(), b"Upgrade, Close".to_vec()),
                (b"x".to_vec(), b"1".to_vec()),
            ],
        };
        assert!(head.has_token("connection", "close"));
        assert!(!head.has_token("connection", "keep-alive"));
        assert_eq!(head.get("x"), Some(&b"1"[..]));
        assert_eq!(head.get("y"), None);
    }

    use tpt_http_testserver::random::{Rng, mutate, valid_response};

    /// Serve `response` once on a loopback socket (after reading the request head), then close;
    /// fetch it with a [`Conn`]: the status and the body, or the failure.
    fn exchange(response: Vec<u8>, rt: &tokio::runtime::Runtime) -> Result<(u16, Vec<u8>), String> {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = s.write_all(&response);
        });
        let fetch = async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let mut conn = Conn::new(Stream::Plain(tcp), Activity::new(), Box::new(()));
            conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), b"")
                .await
                .map_err(|e| e.to_string())?;
            let (head, mut framing) = conn
                .read_head(false)
                .await
                .map_err(|e| e.into_failure().reason().to_string())?;
            let (reporter, watcher) = crate::state::pair(None);
            loop {
                let n = conn
                    .read_into(&mut framing, usize::MAX, &reporter)
                    .await
                    .map_err(|f| f.reason().to_string())?;
                if n == 0 {
                    break;
                }
            }
            Ok((head.status, watcher.read()))
        };
        let got = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), fetch).await })
            .expect("the exchange hung");
        server.join().expect("server thread");
        got
    }

    /// Cases per run (TPT_HTTP_H1_CASES overrides, for a long search).
    fn cases() -> u64 {
        std::env::var("TPT_HTTP_H1_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000)
    }

    /// Random valid responses arrive whole; the same responses with random bytes flipped,
    /// inserted or cut either arrive or fail with a reason, and never panic or hang.
    #[test]
    fn random_responses_arrive_whole_or_fail_cleanly() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..cases() {
            let body_len = rng.below(4000) as usize;
            let body = rng.bytes(body_len);
            let response = valid_response(&mut rng, &body);
            assert_eq!(
                exchange(response.clone(), &rt),
                Ok((200, body.clone())),
                "case {case}: {:?}",
                String::from_utf8_lossy(&response[..response.len().min(300)])
            );
            let mutated = mutate(&mut rng, &response);
            match exchange(mutated, &rt) {
                Ok((status, got)) => assert!((100..1000).contains(&status) && got.len() <= 2 * body_len + 64),
                Err(reason) => assert!(!reason.is_empty(), "case {case}: empty reason"),
            }
        }
    }
}
