//! Seeded random HTTP/1.1 responses, valid and mutated, for the randomized tests (the
//! `engine/h1.rs` exchange test and the differential harness): a failure names its seed and
//! case, and replays.

/// A small, seeded generator (xorshift).
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// A valid response carrying `body`, framed at random (length, chunked with extensions and
/// trailers, or until close), with random headers, name case, folded lines and interim 103
/// heads before it.
pub fn valid_response(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(3) {
        out.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n");
    }
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    for i in 0..rng.below(12) {
        let name = if rng.below(2) == 0 {
            format!("X-H{i}")
        } else {
            format!("x-h{i}")
        };
        out.extend_from_slice(format!("{name}: v{}\r\n", rng.below(1000)).as_bytes());
        if rng.below(8) == 0 {
            out.extend_from_slice(b" folded\r\n");
        }
    }
    match rng.below(3) {
        0 => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        }
        1 => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = body;
            while !rest.is_empty() {
                let n = (1 + rng.below(700) as usize).min(rest.len());
                let ext = if rng.below(4) == 0 { ";a=b" } else { "" };
                out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            out.extend_from_slice(b"0\r\n");
            if rng.below(3) == 0 {
                out.extend_from_slice(b"X-Trailer: t\r\n");
            }
            out.extend_from_slice(b"\r\n");
        }
        _ => {
            out.extend_from_slice(b"Connection: close\r\n\r\n");
            out.extend_from_slice(body);
        }
    }
    out
}

/// `response` with one to four random edits: a byte replaced, a byte from `\r\n:; 0aZ`
/// inserted, the rest cut off, or a byte removed.
pub fn mutate(rng: &mut Rng, response: &[u8]) -> Vec<u8> {
    let mut mutated = response.to_vec();
    for _ in 0..1 + rng.below(4) {
        if mutated.is_empty() {
            break;
        }
        let at = rng.below(mutated.len() as u64) as usize;
        match rng.below(4) {
            0 => mutated[at] = rng.next_u64() as u8,
            1 => mutated.insert(at, b"\r\n:; 0aZ"[rng.below(8) as usize]),
            2 => mutated.truncate(at),
            _ => {
                mutated.remove(at);
            }
        }
    }
    mutated
}
