//! Strict HTTP/1 framing, checked on the bytes before hyper parses them.
//!
//! hyper reads a request the way RFC 9112 lets a lenient recipient read it:
//! it accepts a bare LF as a line end and, given both `Content-Length` and
//! `Transfer-Encoding`, drops the length and reads chunks. A proxy whose
//! reading may differ from the next hop's must refuse such a request
//! instead (RFC 9112 §2.2, §6.3). Likewise the request target: `http`
//! drops a fragment (`#…`) silently, so the request decided on would not
//! be the one sent. [`Tracker`] follows the framing of every
//! request on a connection: it holds each request head back until the
//! whole head has arrived and passed, and lets body bytes through as they
//! come, counting them to know where the next head begins. It only reads;
//! hyper still parses everything it passes. Whatever it cannot follow it
//! passes through untouched: hyper refuses that itself and ends the
//! connection.

/// What the tracker decided about the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// The first `n` bytes may be passed on; the rest must wait for more.
    Pass(usize),
    /// The first `n` bytes may be passed on; the head after them is refused
    /// for the flaw, and nothing after it may be.
    Refuse(usize, Flaw),
}

/// Why a head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Where the body ends is not unambiguous.
    Framing(&'static str),
    /// The request target holds what a parser would drop.
    Target(&'static str),
}

impl Flaw {
    /// The rule that refuses it.
    pub fn rule(self) -> sectorgate_policy::RuleId {
        use sectorgate_policy::rules;
        match self {
            Self::Framing(_) => rules::FRAMING_INVALID,
            Self::Target(_) => rules::PATH_MALFORMED,
        }
    }

    /// What is wrong, in a few words.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Framing(reason) | Self::Target(reason) => reason,
        }
    }

    /// What is wrong, for the client.
    pub fn message(self) -> String {
        match self {
            Self::Framing(reason) => format!("ambiguous request framing: {reason}"),
            Self::Target(reason) => format!("malformed request target: {reason}"),
        }
    }
}

/// The framing state of one connection.
#[derive(Debug)]
pub struct Tracker {
    phase: Phase,
    max_head: usize,
    /// How much of an incomplete head was already looked at.
    head_seen: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head.
    Head,
    /// Inside a body of known length: this many bytes to go.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// No longer followed: everything passes (HTTP/2, or framing hyper
    /// will refuse itself).
    Through,
}

/// Where in a chunked body (RFC 9112 §7.1) the next byte falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In the chunk size; the size so far, and whether a digit was seen.
    Size(u64, bool),
    /// In a chunk extension.
    Extension(u64),
    /// After the size line's CR.
    SizeLf(u64),
    /// In chunk data: this many bytes to go.
    Data(u64),
    /// After chunk data: the CR, then the LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer line; after its CR.
    Trailer,
    TrailerLf,
    /// After the final empty line's CR.
    EndLf,
}

/// The HTTP/2 connection preface's first line and the empty line after it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\n";

impl Tracker {
    /// A tracker for a new connection whose heads may be `max_head` bytes.
    pub fn new(max_head: usize) -> Self {
        Self {
            phase: Phase::Head,
            max_head,
            head_seen: 0,
        }
    }

    /// Looks at `bytes`, the connection's bytes not yet passed on, and says
    /// how many of them may be passed on now.
    pub fn scan(&mut self, bytes: &[u8]) -> Scan {
        let mut done = 0;
        while done < bytes.len() {
            let rest = &bytes[done..];
            let taken = match self.phase {
                Phase::Through => rest.len(),
                Phase::Head => match self.head(rest) {
                    Ok(Some(taken)) => taken,
                    Ok(None) => break,
                    Err(reason) => return Scan::Refuse(done, reason),
                },
                Phase::Body(left) => {
                    let taken = left.min(rest.len() as u64);
                    self.phase = match left - taken {
                        0 => Phase::Head,
                        left => Phase::Body(left),
                    };
                    usize::try_from(taken).unwrap_or(rest.len())
                }
                Phase::Chunked(chunk) => self.chunked(chunk, rest),
            };
            done += taken;
        }
        Scan::Pass(done)
    }

    /// A whole head at the start of `bytes`: its length once it has passed,
    /// `None` while it is incomplete.
    fn head(&mut self, bytes: &[u8]) -> Result<Option<usize>, Flaw> {
        // An empty line before the request line is ignored (RFC 9112 §2.2).
        if bytes.starts_with(b"\r\n") {
            self.head_seen = 0;
            return Ok(Some(2));
        }
        if bytes.starts_with(H2_PREFACE) {
            self.phase = Phase::Through;
            return Ok(Some(0));
        }
        if H2_PREFACE.starts_with(bytes) {
            return Ok(None);
        }
        // Only a head's first `max_head` bytes are looked at, so the verdict
        // does not depend on how the bytes were cut into reads.
        let window = &bytes[..bytes.len().min(self.max_head)];
        let mut end = None;
        let from = self.head_seen.min(window.len());
        for at in memchr::memchr_iter(b'\n', &window[from..]).map(|at| from + at) {
            if at == 0 || window[at - 1] != b'\r' {
                return Err(Flaw::Framing("a line ends in a bare LF"));
            }
            if window[..=at].ends_with(b"\r\n\r\n") {
                end = Some(at + 1);
                break;
            }
        }
        let Some(end) = end else {
            self.head_seen = window.len();
            if bytes.len() > self.max_head {
                // hyper answers 431 and closes the connection.
                self.phase = Phase::Through;
                return Ok(Some(0));
            }
            return Ok(None);
        };
        self.head_seen = 0;
        request_target(&bytes[..end])?;
        self.phase = body_framing(&bytes[..end]).map_err(Flaw::Framing)?;
        Ok(Some(end))
    }

    /// Follows a chunked body through `bytes`; returns how many it covered.
    fn chunked(&mut self, chunk: Chunk, bytes: &[u8]) -> usize {
        if let Chunk::Data(left) = chunk {
            let taken = left.min(bytes.len() as u64);
            self.phase = Phase::Chunked(match left - taken {
                0 => Chunk::DataCr,
                left => Chunk::Data(left),
            });
            return usize::try_from(taken).unwrap_or(bytes.len());
        }
        let Some(&byte) = bytes.first() else {
            return 0;
        };
        self.phase = match next_chunk_state(chunk, byte) {
            Some(Chunk::Data(0)) => Phase::Chunked(Chunk::DataCr),
            Some(next) => Phase::Chunked(next),
            None if chunk == Chunk::EndLf && byte == b'\n' => Phase::Head,
            // Malformed: hyper refuses the body itself.
            None => Phase::Through,
        };
        1
    }
}

/// The state after `byte` in a chunked body; `None` at the body's end or
/// on a byte that does not belong.
fn next_chunk_state(chunk: Chunk, byte: u8) -> Option<Chunk> {
    let digit = char::from(byte).to_digit(16).map(u64::from);
    match (chunk, byte) {
        (Chunk::Size(size, _), _) if digit.is_some() => size
            .checked_mul(16)
            .and_then(|size| size.checked_add(digit.unwrap_or(0)))
            .map(|size| Chunk::Size(size, true)),
        (Chunk::Size(size, true), b';' | b' ' | b'\t') => Some(Chunk::Extension(size)),
        (Chunk::Size(size, true) | Chunk::Extension(size), b'\r') => Some(Chunk::SizeLf(size)),
        (Chunk::Extension(size), byte) if byte != b'\n' => Some(Chunk::Extension(size)),
        (Chunk::SizeLf(0), b'\n') => Some(Chunk::TrailerStart),
        (Chunk::SizeLf(size), b'\n') => Some(Chunk::Data(size)),
        (Chunk::DataCr, b'\r') => Some(Chunk::DataLf),
        (Chunk::DataLf, b'\n') => Some(Chunk::Size(0, false)),
        (Chunk::TrailerStart, b'\r') => Some(Chunk::EndLf),
        (Chunk::TrailerStart | Chunk::Trailer, byte) if byte != b'\r' && byte != b'\n' => {
            Some(Chunk::Trailer)
        }
        (Chunk::Trailer, b'\r') => Some(Chunk::TrailerLf),
        (Chunk::TrailerLf, b'\n') => Some(Chunk::TrailerStart),
        _ => None,
    }
}

/// The request line's target has no fragment: RFC 9112 §3.2 has none in a
/// request target, and `http` would drop it without a word.
fn request_target(head: &[u8]) -> Result<(), Flaw> {
    let line = head.split(|byte| *byte == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|byte| *byte == b' ');
    let target = parts.nth(1).unwrap_or_default();
    if target.contains(&b'#') {
        return Err(Flaw::Target("a fragment (#) in the request target"));
    }
    Ok(())
}

/// How the body after a complete `head` is framed, or why the head is
/// refused. Header lines are read only for their names and framing values;
/// hyper parses them in full.
fn body_framing(head: &[u8]) -> Result<Phase, &'static str> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut unreadable = false;
    // The request line comes first; the head ends with an empty line.
    for line in head.split(|byte| *byte == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|byte| *byte == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            match (content_length(value), length) {
                (Some(value), None) => length = Some(value),
                (Some(value), Some(previous)) if value == previous => {}
                _ => unreadable = true,
            }
        }
    }
    match (chunked, length) {
        (true, Some(_)) => Err("both Content-Length and Transfer-Encoding"),
        (true, None) => Ok(Phase::Chunked(Chunk::Size(0, false))),
        // hyper refuses a bad or conflicting length itself.
        (false, _) if unreadable => Ok(Phase::Through),
        (false, Some(0) | None) => Ok(Phase::Head),
        (false, Some(length)) => Ok(Phase::Body(length)),
    }
}

/// A `Content-Length` value: digits, or a list of equal digit strings.
fn content_length(value: &[u8]) -> Option<u64> {
    let mut length = None;
    for item in value.split(|byte| *byte == b',') {
        let item = item.trim_ascii();
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let parsed: u64 = std::str::from_utf8(item).ok()?.parse().ok()?;
        match length {
            Some(previous) if previous != parsed => return None,
            _ => length = Some(parsed),
        }
    }
    length
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(bytes: &[u8]) -> Scan {
        Tracker::new(1024).scan(bytes)
    }

    /// Feeds `bytes` one byte at a time, as a slow client would send them;
    /// returns how many passed, or the first refusal.
    fn trickle(bytes: &[u8]) -> Scan {
        let mut tracker = Tracker::new(1024);
        let mut passed = 0;
        for end in 1..=bytes.len() {
            match tracker.scan(&bytes[passed..end]) {
                Scan::Pass(n) => passed += n,
                Scan::Refuse(n, reason) => return Scan::Refuse(passed + n, reason),
            }
        }
        Scan::Pass(passed)
    }

    const GET: &[u8] = b"GET /a HTTP/1.1\r\nhost: h\r\n\r\n";

    #[test]
    fn whole_requests_pass_and_partial_heads_wait() {
        for bytes in [
            GET,
            b"\r\nGET /a HTTP/1.1\r\nhost: h\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\nhello",
            b"PUT /a HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello",
            b"PUT /a HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
              A;name=v\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\n",
        ] {
            let all = [bytes, GET].concat();
            assert_eq!(scan_all(&all), Scan::Pass(all.len()), "{all:?}");
            assert_eq!(trickle(&all), Scan::Pass(all.len()), "{all:?}");
        }
        let partial = b"GET /a HTTP/1.1\r\nhost: h\r\n";
        assert_eq!(scan_all(partial), Scan::Pass(0));
        let body_cut = b"PUT /a HTTP/1.1\r\ncontent-length: 10\r\n\r\nhello";
        assert_eq!(scan_all(body_cut), Scan::Pass(body_cut.len()));
    }

    #[test]
    fn ambiguous_framing_is_refused_at_its_head() {
        for (bytes, reason) in [
            (
                &b"GET /a HTTP/1.1\nhost: h\r\n\r\n"[..],
                "a line ends in a bare LF",
            ),
            (
                b"GET /a HTTP/1.1\r\nhost: h\n\n",
                "a line ends in a bare LF",
            ),
            (b"\nGET /a HTTP/1.1\r\n\r\n", "a line ends in a bare LF"),
            (
                b"POST /a HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
                "both Content-Length and Transfer-Encoding",
            ),
            (
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                "both Content-Length and Transfer-Encoding",
            ),
        ] {
            // A good request first: it passes; the bad head after it does not.
            let all = [GET, bytes].concat();
            let flaw = Flaw::Framing(reason);
            assert_eq!(scan_all(&all), Scan::Refuse(GET.len(), flaw), "{all:?}");
            assert_eq!(trickle(&all), Scan::Refuse(GET.len(), flaw), "{all:?}");
        }
    }

    #[test]
    fn a_fragment_in_the_request_target_is_refused_at_its_head() {
        let fragment = Flaw::Target("a fragment (#) in the request target");
        for bytes in [
            &b"GET /a#b HTTP/1.1\r\nhost: h\r\n\r\n"[..],
            b"GET /a?x=1#b HTTP/1.1\r\nhost: h\r\n\r\n",
            b"GET http://h/a# HTTP/1.1\r\nhost: h\r\n\r\n",
        ] {
            let all = [GET, bytes].concat();
            assert_eq!(scan_all(&all), Scan::Refuse(GET.len(), fragment), "{all:?}");
            assert_eq!(trickle(&all), Scan::Refuse(GET.len(), fragment), "{all:?}");
        }
        // A `#` in a header or a body is not the target's.
        let fine = b"PUT /a HTTP/1.1\r\nx-tag: #1\r\ncontent-length: 1\r\n\r\n#";
        assert_eq!(scan_all(fine), Scan::Pass(fine.len()));
    }

    #[test]
    fn a_bare_lf_inside_a_body_is_the_body_s_business() {
        let bytes = b"PUT /a HTTP/1.1\r\ncontent-length: 3\r\n\r\na\nb";
        let all = [&bytes[..], GET].concat();
        assert_eq!(scan_all(&all), Scan::Pass(all.len()));
    }

    #[test]
    fn what_hyper_refuses_itself_passes_through() {
        for bytes in [
            // Chunk size with trailing garbage; a bare LF after the size.
            &b"PUT /a HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5xyz\r\nhello\r\n0\r\n\r\n"[..],
            b"PUT /a HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
            // Conflicting lengths.
            b"PUT /a HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
            b"PUT /a HTTP/1.1\r\ncontent-length: +2\r\n\r\nab",
            // The HTTP/2 preface.
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\n",
        ] {
            // Everything passes, including a bare LF later: hyper ends the
            // connection at the malformed part.
            let all = [bytes, b"GET / HTTP/1.1\nhost: h\n\n"].concat();
            assert_eq!(scan_all(&all), Scan::Pass(all.len()), "{all:?}");
        }
    }

    #[test]
    fn only_a_head_s_first_max_head_bytes_are_looked_at() {
        // A bare LF past the limit: hyper refuses the head as too large,
        // whichever way the bytes were cut.
        let mut head = b"GET /a HTTP/1.1\r\nx-long: ".to_vec();
        head.resize(1100, b'a');
        head.extend_from_slice(b"\n\r\n\r\n");
        assert_eq!(scan_all(&head), Scan::Pass(head.len()));
        assert_eq!(trickle(&head), Scan::Pass(head.len()));
    }

    #[test]
    fn an_oversized_head_is_left_to_hyper() {
        let mut tracker = Tracker::new(16);
        let head = b"GET /a HTTP/1.1\r\nx-long: aaaaaaaaaaaaaaaaaaaa";
        assert_eq!(tracker.scan(head), Scan::Pass(head.len()));
    }
}
