//! MS-XCA plain LZ77 ("XPRESS", not the Huffman variant): the compression of ETW's compressed
//! log mode.
//!
//! The stream is a sequence of 32-bit little-endian flag words, each followed by the items it
//! describes, most significant bit first: 0 = one literal byte, 1 = a match. A match is a u16
//! `(distance - 1) << 3 | min(length - 3, 7)`; lengths from 10 on continue in a shared nibble
//! (the low then the high half of one byte shared by two matches), then a byte, then a u16 or a
//! u16 0 + u32 for long matches. Distances go up to 8192. The stream has no end marker: the
//! compressor fills the unused bits of the last flag word with ones and the decompressor stops at
//! the end of its input (or, here, when the expected size is reached).
//!
//! The compressor is a greedy single-probe LZ77 in the manner of LZ4 and Snappy: a hash table of
//! the last position of each 4-byte sequence, matches extended 8 bytes at a time, literals copied
//! in runs, and a search step that grows while no match turns up, so incompressible data is
//! skipped over quickly.

use super::FormatError;

/// Largest distance a match can reach back (13 bits of offset).
const MAX_DISTANCE: usize = 8192;
/// Shortest match the format can express.
const MIN_MATCH: usize = 3;
/// Shortest match the compressor looks for (the hash covers 4 bytes).
const SEARCH_MATCH: usize = 4;
/// Longest match the format can express (`length - 3` in a u32).
const MAX_MATCH: usize = (u32::MAX as usize).saturating_add(MIN_MATCH);
/// The hash table has `1 << HASH_BITS` entries (32 KB).
const HASH_BITS: u32 = 13;
/// After `1 << SKIP_TRIGGER` positions without a match, the search step grows by one.
const SKIP_TRIGGER: u32 = 5;

/// Compresses `src` into a new vector.
pub fn compress(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress_into(src, &mut out);
    out
}

/// The most `compress_into` appends for `n` input bytes: every byte a literal, one flag bit
/// each, plus the flag word that follows the last full one.
fn max_compressed_len(n: usize) -> usize {
    n + (n / 32 + 1) * 4
}

#[inline(always)]
fn read_u32(src: &[u8], p: usize) -> u32 {
    let b: [u8; 4] = src[p..p + 4].try_into().expect("4 bytes");
    u32::from_le_bytes(b)
}

#[inline(always)]
fn hash(v: u32) -> usize {
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
}

/// How many leading bytes `a` and `b` have in common.
#[inline(always)]
fn common_len(a: &[u8], b: &[u8]) -> usize {
    let mut l = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_le_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        let d = x ^ y;
        if d != 0 {
            return l + (d.trailing_zeros() / 8) as usize;
        }
        l += 8;
    }
    l + a[l..]
        .iter()
        .zip(&b[l..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Compresses `src`, appending the stream to `out` (greedy LZ77 with a hash table of the last
/// position of each 4-byte sequence).
pub fn compress_into(src: &[u8], out: &mut Vec<u8>) {
    let n = src.len();
    let mut w = Writer::new(out, max_compressed_len(n));
    let mut anchor = 0;
    if n > SEARCH_MATCH {
        // The last position of each hashed 4-byte sequence (0 at first: a candidate like any
        // other, its bytes are checked). Past 4 GiB positions wrap and no longer match.
        let mut table = vec![0u32; 1 << HASH_BITS];
        // A match may start at any position from which 4 bytes can be read.
        let limit = n - SEARCH_MATCH + 1;
        let mut i = 0;
        'search: while i < limit {
            let mut step = 1 << SKIP_TRIGGER;
            let cand = loop {
                let seq = read_u32(src, i);
                let h = hash(seq);
                let cand = table[h] as usize;
                table[h] = i as u32;
                if cand < i && i - cand <= MAX_DISTANCE && read_u32(src, cand) == seq {
                    break cand;
                }
                i += step >> SKIP_TRIGGER;
                step += 1;
                if i >= limit {
                    break 'search;
                }
            };
            let len = (SEARCH_MATCH
                + common_len(&src[cand + SEARCH_MATCH..], &src[i + SEARCH_MATCH..]))
            .min(MAX_MATCH);
            w.literals(src, anchor, i);
            w.matched(i - cand, len);
            i += len;
            anchor = i;
            if i < limit {
                // Index a position inside the match, so the next search has a near candidate.
                table[hash(read_u32(src, i - 2))] = (i - 2) as u32;
            }
        }
    }
    w.literals(src, anchor, n);
    w.finish();
}

/// Appends items and their flag words to the output.
///
/// The output vector is grown (zero-filled) ahead of `pos`, the end of what is written, so
/// items are stored with fixed-size copies that may spill into the slack; `finish` cuts the
/// vector back to `pos`.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// End of the stream written so far.
    pos: usize,
    /// Flag bits of the current word so far, the first item in the highest bit used.
    flags: u32,
    /// Items described by the current flag word so far (0..32).
    count: u32,
    /// Where the current flag word goes.
    flag_pos: usize,
    /// Position of the byte whose high nibble the next long match may use.
    nibble_pos: Option<usize>,
    /// Where the stream starts.
    start: usize,
    /// How long the output may get: the start plus the longest stream, plus `SLACK`.
    limit: usize,
}

/// Slack the writer keeps after `pos` before each item: a 32-byte literal copy or the longest
/// match (10 bytes), then a flag word.
const SLACK: usize = 64;

impl<'a> Writer<'a> {
    /// A writer appending to `out` a stream of at most `max_len` bytes.
    fn new(out: &'a mut Vec<u8>, max_len: usize) -> Self {
        let start = out.len();
        let mut w = Writer {
            pos: start + 4,
            out,
            flags: 0,
            count: 0,
            flag_pos: start,
            nibble_pos: None,
            start,
            limit: start + max_len + SLACK,
        };
        w.room();
        w
    }

    /// Makes sure `SLACK` bytes after `pos` can be written.
    #[inline(always)]
    fn room(&mut self) {
        if self.pos + SLACK > self.out.len() {
            self.grow();
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        // Doubles what is written, within what the stream can need.
        let len = self.pos + SLACK + (self.pos - self.start).max(4096);
        self.out
            .resize(len.min(self.limit).max(self.pos + SLACK), 0);
    }

    /// Stores the full flag word and starts the next one.
    #[inline(always)]
    fn next_word(&mut self) {
        self.out[self.flag_pos..self.flag_pos + 4].copy_from_slice(&self.flags.to_le_bytes());
        self.flags = 0;
        self.count = 0;
        self.flag_pos = self.pos;
        self.pos += 4;
    }

    /// The literals `src[from..to]`, each one item with a 0 flag bit.
    #[inline(always)]
    fn literals(&mut self, src: &[u8], mut from: usize, to: usize) {
        while from < to {
            self.room();
            let k = ((32 - self.count) as usize).min(to - from);
            if let Some(chunk) = src.get(from..from + 32) {
                // Copies 32 bytes, of which the bytes past `k` are overwritten later.
                self.out[self.pos..self.pos + 32].copy_from_slice(chunk);
            } else {
                self.out[self.pos..self.pos + k].copy_from_slice(&src[from..from + k]);
            }
            self.pos += k;
            from += k;
            // k is 32 only when the word is empty (flags 0), where a shift by 32 would overflow.
            self.flags = self.flags.checked_shl(k as u32).unwrap_or(0);
            self.count += k as u32;
            if self.count == 32 {
                self.next_word();
            }
        }
    }

    /// One match, with a 1 flag bit.
    #[inline(always)]
    fn matched(&mut self, dist: usize, len: usize) {
        self.room();
        let off = ((dist - 1) as u16) << 3;
        let l = len - MIN_MATCH;
        if l < 7 {
            self.out[self.pos..self.pos + 2].copy_from_slice(&(off | l as u16).to_le_bytes());
            self.pos += 2;
        } else {
            self.long_match(off, len);
        }
        self.flags = (self.flags << 1) | 1;
        self.count += 1;
        if self.count == 32 {
            self.next_word();
        }
    }

    /// Appends `bytes` (room made by the caller).
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// The token and length bytes of a match of 10 bytes or more.
    fn long_match(&mut self, off: u16, len: usize) {
        self.put(&(off | 7).to_le_bytes());
        let l = len - MIN_MATCH - 7;
        let nib = l.min(15) as u8;
        match self.nibble_pos.take() {
            Some(p) => self.out[p] |= nib << 4,
            None => {
                self.nibble_pos = Some(self.pos);
                self.put(&[nib]);
            }
        }
        if l < 15 {
            return;
        }
        let l = l - 15;
        if l < 255 {
            self.put(&[l as u8]);
            return;
        }
        self.put(&[255]);
        let total = len - MIN_MATCH;
        if total < 1 << 16 {
            self.put(&(total as u16).to_le_bytes());
        } else {
            self.put(&0u16.to_le_bytes());
            self.put(&(total as u32).to_le_bytes());
        }
    }

    /// Stores the last flag word, its unused bits ones (a decoder that meets them at the end of
    /// its input stops), and cuts the output to the stream.
    fn finish(self) {
        let rest = 32 - self.count;
        let last = if rest == 32 {
            u32::MAX
        } else {
            (self.flags << rest) | ((1u32 << rest) - 1)
        };
        self.out[self.flag_pos..self.flag_pos + 4].copy_from_slice(&last.to_le_bytes());
        self.out.truncate(self.pos);
    }
}

/// Output bytes the decompressor sets up front at most; beyond that the output grows with what
/// is decoded, so a corrupt stream that claims a huge size fails before it costs memory.
const INITIAL_OUTPUT: usize = 1 << 20;
/// Bytes past the end of an item the decompressor may write when room allows (fixed-size
/// copies), overwritten by later items or cut off at the end.
const DECODE_SLACK: usize = 32;

/// Decompresses `src`, which must expand to exactly `want` bytes.
pub fn decompress(src: &[u8], want: usize) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(want.min(INITIAL_OUTPUT) + DECODE_SLACK);
    decompress_into(src, want, &mut out)?;
    Ok(out)
}

/// Decompresses `src`, appending exactly `want` bytes to `out`. Error offsets are positions in
/// `src`. Never reads or writes out of bounds, whatever `src` holds; on an error `out` holds what
/// was decoded before it.
pub fn decompress_into(src: &[u8], want: usize, out: &mut Vec<u8>) -> Result<(), FormatError> {
    let start = out.len();
    let end = start.saturating_add(want);
    // The output is zero-filled ahead of `op` and written by index; slack past `end` only
    // where the vector has the capacity already.
    let first = start + want.min(INITIAL_OUTPUT);
    let slack = DECODE_SLACK.min(out.capacity().saturating_sub(first));
    out.resize(first + slack, 0);
    let mut op = start;
    let r = decode(src, start, end, out, &mut op);
    out.truncate(op);
    r
}

/// Makes `out` at least `need` long (`need` <= `end`), growing with what was decoded.
#[cold]
#[inline(never)]
fn grow(out: &mut Vec<u8>, start: usize, end: usize, need: usize) {
    let doubled = out.len().saturating_add(out.len() - start);
    let len = doubled.min(end.saturating_add(DECODE_SLACK)).max(need);
    out.resize(len, 0);
}

/// The decoding loop of `decompress_into`: `out[start..*op]` is decoded, `out` is at least `*op`
/// long, and `end` is where the output must stop.
fn decode(
    src: &[u8],
    start: usize,
    end: usize,
    out: &mut Vec<u8>,
    op_out: &mut usize,
) -> Result<(), FormatError> {
    let err = |at: usize, what: &str| Err(FormatError::new(at as u64, what.to_string()));
    let mut ip = 0usize;
    let mut op = start;
    let mut nibble_pos: Option<usize> = None;
    let r = 'done: {
        while op < end {
            let Some(&[a, b, c, d]) = src.get(ip..ip + 4) else {
                break 'done err(
                    ip,
                    "compressed stream ends before the expected size (flags)",
                );
            };
            ip += 4;
            // The unread flags, the next item's in the highest bit.
            let mut flags = u32::from_le_bytes([a, b, c, d]);
            let mut left = 32u32;
            while left > 0 && op < end {
                let lits = flags.leading_zeros().min(left);
                if lits > 0 {
                    // A run of literals, cut at the expected size.
                    let k = (lits as usize).min(end - op);
                    if let (Some(s), Some(dst)) = (
                        src.get(ip..ip + DECODE_SLACK),
                        out.get_mut(op..op + DECODE_SLACK),
                    ) {
                        // Copies 32 bytes, of which those past `k` are overwritten later.
                        dst.copy_from_slice(s);
                    } else {
                        if out.len() < op + k {
                            grow(out, start, end, op + k);
                        }
                        let avail = k.min(src.len() - ip);
                        if let (Some(s), Some(dst)) =
                            (src.get(ip..ip + avail), out.get_mut(op..op + avail))
                        {
                            dst.copy_from_slice(s);
                        }
                        if avail < k {
                            op += avail;
                            break 'done err(
                                src.len(),
                                "compressed stream ends before the expected size (literal)",
                            );
                        }
                    }
                    ip += k;
                    op += k;
                    // A shift by 32 (all 32 flags were literals) would overflow.
                    flags = flags.checked_shl(lits).unwrap_or(0);
                    left -= lits;
                    continue;
                }
                flags <<= 1;
                left -= 1;
                let at = ip;
                let Some(&[lo, hi]) = src.get(ip..ip + 2) else {
                    break 'done err(
                        at,
                        "compressed stream ends before the expected size (match)",
                    );
                };
                ip += 2;
                let m = u16::from_le_bytes([lo, hi]);
                let dist = usize::from(m >> 3) + 1;
                let mut len = usize::from(m & 7);
                if len == 7 {
                    match long_length(src, &mut ip, &mut nibble_pos) {
                        Ok(l) => len = l,
                        Err((at, what)) => break 'done err(at, what),
                    }
                }
                len += MIN_MATCH;
                if dist > op - start {
                    break 'done err(at, "match reaches before the start of the data");
                }
                if len > end - op {
                    break 'done err(at, "match runs past the expected size");
                }
                let from = op - dist;
                if len <= 16 && dist >= 16 && op + 16 <= out.len() {
                    // One fixed 16-byte copy; the bytes past `len` are overwritten later.
                    out.copy_within(from..from + 16, op);
                } else {
                    if out.len() < op + len {
                        grow(out, start, end, op + len);
                    }
                    copy_match(out, from, op, len);
                }
                op += len;
            }
        }
        Ok(())
    };
    *op_out = op;
    r
}

/// Reads the rest of a match length whose token said 7, past the token at `*ip`: the shared
/// nibble, then a byte, a u16 and a u32 as needed. Returns `length - 3`, or where and why the
/// stream is bad.
fn long_length(
    src: &[u8],
    ip: &mut usize,
    nibble_pos: &mut Option<usize>,
) -> Result<usize, (usize, &'static str)> {
    let truncated = |at: usize| (at, "truncated match length");
    let at = *ip - 2;
    let nib = match nibble_pos.take() {
        Some(p) => src.get(p).ok_or(truncated(p))? >> 4,
        None => {
            *nibble_pos = Some(*ip);
            let b = *src.get(*ip).ok_or(truncated(*ip))?;
            *ip += 1;
            b & 0x0F
        }
    };
    let mut len = usize::from(nib);
    if len == 15 {
        let b = *src.get(*ip).ok_or(truncated(*ip))?;
        *ip += 1;
        len = usize::from(b);
        if len == 255 {
            let Some(&[a, b]) = src.get(*ip..*ip + 2) else {
                return Err(truncated(*ip));
            };
            *ip += 2;
            len = usize::from(u16::from_le_bytes([a, b]));
            if len == 0 {
                let Some(&[a, b, c, d]) = src.get(*ip..*ip + 4) else {
                    return Err(truncated(*ip));
                };
                *ip += 4;
                len = u32::from_le_bytes([a, b, c, d]) as usize;
            }
            if len < 15 + 7 {
                return Err((at, "invalid match length"));
            }
            len -= 15 + 7;
        }
        len += 15;
    }
    Ok(len + 7)
}

/// Copies the `len` bytes at `from` to `to` (`from` < `to`, `to + len` <= `out.len()`), the way
/// LZ77 defines it: when the two overlap, the copy repeats the last `to - from` bytes.
#[inline(always)]
fn copy_match(out: &mut [u8], from: usize, to: usize, len: usize) {
    let dist = to - from;
    if dist >= len {
        out.copy_within(from..from + len, to);
        return;
    }
    // `out[from..to + done]` repeats with period `dist`, and `to + done - from` stays a multiple
    // of it, so copying from `from` continues the pattern; each copy doubles what is there.
    let mut done = 0;
    while done < len {
        let k = (len - done).min(to + done - from);
        out.copy_within(from..from + k, to + done);
        done += k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::{
        in_type, out_type, provider_traits, tracelogging_extended_items, write_event_record,
        EventDescriptor, EventHeaderFields, EventSchemaBuilder,
    };
    use crate::Guid;

    fn round_trip(data: &[u8]) -> Vec<u8> {
        let c = compress(data);
        let d = decompress(&c, data.len()).expect("decompresses");
        assert_eq!(d, data);
        // The same through the appending forms, after bytes already there.
        let mut c2 = b"head".to_vec();
        compress_into(data, &mut c2);
        assert_eq!(&c2[..4], b"head");
        assert_eq!(c2[4..], c[..]);
        let mut d2 = b"before".to_vec();
        decompress_into(&c, data.len(), &mut d2).expect("decompresses after bytes");
        assert_eq!(&d2[..6], b"before");
        assert_eq!(d2[6..], data[..]);
        assert_eq!(
            reference_decompress(&c, data.len()).expect("reference"),
            data
        );
        c
    }

    /// The straightforward decoder, one item and one byte at a time, as MS-XCA 2.4 words it: the
    /// fast decoder must agree with it on every input, good or bad, errors included.
    fn reference_decompress(src: &[u8], want: usize) -> Result<Vec<u8>, (Vec<u8>, FormatError)> {
        let mut out = Vec::new();
        let err =
            |out: Vec<u8>, at: usize, what: &str| Err((out, FormatError::new(at as u64, what)));
        let byte = |ip: &mut usize| -> Option<u8> {
            let b = *src.get(*ip)?;
            *ip += 1;
            Some(b)
        };
        let (mut ip, mut flags, mut flag_count) = (0usize, 0u32, 0u32);
        let mut nibble_pos: Option<usize> = None;
        let ends = "compressed stream ends before the expected size";
        while out.len() < want {
            if flag_count == 0 {
                let Some(w) = src.get(ip..ip + 4) else {
                    return err(out, ip, &format!("{ends} (flags)"));
                };
                flags = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                ip += 4;
                flag_count = 32;
            }
            flag_count -= 1;
            if flags & (1 << flag_count) == 0 {
                let Some(b) = byte(&mut ip) else {
                    return err(out, ip, &format!("{ends} (literal)"));
                };
                out.push(b);
                continue;
            }
            let at = ip;
            let (Some(lo), Some(hi)) = (byte(&mut ip), byte(&mut ip)) else {
                return err(out, at, &format!("{ends} (match)"));
            };
            let m = u16::from_le_bytes([lo, hi]);
            let dist = usize::from(m >> 3) + 1;
            let mut len = usize::from(m & 7);
            if len == 7 {
                len = match nibble_pos.take() {
                    Some(p) => usize::from(src[p] >> 4),
                    None => {
                        nibble_pos = Some(ip);
                        let Some(b) = byte(&mut ip) else {
                            return err(out, ip, "truncated match length");
                        };
                        usize::from(b & 0x0F)
                    }
                };
                if len == 15 {
                    let Some(b) = byte(&mut ip) else {
                        return err(out, ip, "truncated match length");
                    };
                    len = usize::from(b);
                    if len == 255 {
                        let Some(w) = src.get(ip..ip + 2) else {
                            return err(out, ip, "truncated match length");
                        };
                        ip += 2;
                        len = usize::from(u16::from_le_bytes([w[0], w[1]]));
                        if len == 0 {
                            let Some(w) = src.get(ip..ip + 4) else {
                                return err(out, ip, "truncated match length");
                            };
                            ip += 4;
                            len = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize;
                        }
                        if len < 15 + 7 {
                            return err(out, at, "invalid match length");
                        }
                        len -= 15 + 7;
                    }
                    len += 15;
                }
                len += 7;
            }
            len += MIN_MATCH;
            if dist > out.len() {
                return err(out, at, "match reaches before the start of the data");
            }
            if len > want - out.len() {
                return err(out, at, "match runs past the expected size");
            }
            for _ in 0..len {
                out.push(out[out.len() - dist]);
            }
        }
        Ok(out)
    }

    /// Checks the fast decoder against the reference on `src`: the same bytes, or the same error
    /// after the same bytes.
    fn same_as_reference(src: &[u8], want: usize) {
        let mut out = vec![0xAB; 3];
        let fast = decompress_into(src, want, &mut out);
        assert_eq!(&out[..3], &[0xAB; 3]);
        match (reference_decompress(src, want), fast) {
            (Ok(r), Ok(())) => assert_eq!(out[3..], r[..]),
            (Err((r, re)), Err(e)) => {
                assert_eq!(e, re);
                assert_eq!(out[3..], r[..], "{e}");
            }
            (r, f) => panic!("reference {:?}, fast {f:?}", r.map(|v| v.len())),
        }
    }

    use evtrace_testkit::XorShift as Rng;

    fn mixed(rng: &mut Rng, len: usize) -> Vec<u8> {
        let mut d: Vec<u8> = Vec::with_capacity(len);
        while d.len() < len {
            match rng.below(4) {
                0 => {
                    for _ in 0..rng.below(40) {
                        d.push(rng.next() as u8);
                    }
                }
                1 if !d.is_empty() => {
                    let dist = 1 + rng.below(d.len().min(MAX_DISTANCE + 100));
                    let long = rng.below(8) == 0;
                    let n = 3 + rng.below(if long { 400 } else { 30 });
                    for _ in 0..n {
                        d.push(d[d.len() - dist]);
                    }
                }
                2 => d.extend(std::iter::repeat_n(rng.next() as u8, rng.below(100))),
                _ => d.extend_from_slice(b"event record "),
            }
        }
        d.truncate(len);
        d
    }

    /// A 64 KB trace buffer's worth of event records as a session writes them: the same header,
    /// TraceLogging metadata and tag in every record, a timestamp, thread and counter that vary.
    fn event_records() -> Vec<u8> {
        let schema = EventSchemaBuilder::new("Sample")
            .field("counter", in_type::UINT64, 0)
            .field("thread", in_type::UINT32, 0)
            .field("tag", in_type::COUNTED_ANSI_STRING, out_type::UTF8)
            .build();
        let ext = tracelogging_extended_items(&provider_traits("evtrace-test-xpress"), &schema);
        let mut h = EventHeaderFields {
            thread_id: 0x78d0,
            process_id: 0x78d0,
            timestamp: 0x0298_d24c_1d02,
            provider_id: Guid([
                0x5b, 0x5c, 0xe6, 0x0a, 0x14, 0xf5, 0x6a, 0x5f, 1, 2, 3, 4, 5, 6, 7, 8,
            ]),
            descriptor: EventDescriptor {
                id: 1,
                channel: 11,
                level: 4,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut rng = Rng(99);
        let mut buf = vec![0u8; 0x10000 - 0x48];
        let mut at = 0;
        for k in 0u64.. {
            h.timestamp += 60 + rng.below(40) as i64;
            let thread = (k as u32 % 2).to_le_bytes();
            let payload: [&[u8]; 4] = [&k.to_le_bytes(), &thread, &[16, 0], b"0123456789abcdef"];
            if buf.len() - at < 512 {
                break;
            }
            at += write_event_record(&mut buf[at..], &h, &ext, &payload);
        }
        buf.truncate(at);
        buf
    }

    #[test]
    fn event_records_round_trip_small() {
        let data = event_records();
        let c = round_trip(&data);
        // Every record repeats the one before but for a few bytes.
        assert!(c.len() < data.len() / 10, "{} vs {}", c.len(), data.len());
        for cut in [1, 100, 4096, data.len() / 2] {
            round_trip(&data[..cut]);
            round_trip(&data[cut..]);
        }
    }

    #[test]
    fn random_shapes_round_trip() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for len in (0..200).chain([1000, 4095, 4096, 4097, 65_535, 65_536, 65_537, 200_000]) {
            let d = mixed(&mut rng, len);
            round_trip(&d);
        }
        // Noise: all literals, through the skipping search.
        let noise: Vec<u8> = (0..100_000).map(|_| rng.next() as u8).collect();
        let c = round_trip(&noise);
        assert!(c.len() <= max_compressed_len(noise.len()));
    }

    #[test]
    fn decoder_agrees_with_the_reference_on_bad_streams() {
        let mut rng = Rng(12345);
        for round in 0..300 {
            let len = 1 + rng.below(3000);
            let d = mixed(&mut rng, len);
            let good = compress(&d);
            same_as_reference(&good, d.len());
            // Wrong sizes: shorter, longer.
            same_as_reference(&good, d.len() / 2);
            same_as_reference(&good, d.len() + 1 + rng.below(100));
            // Truncated.
            same_as_reference(&good[..rng.below(good.len())], d.len());
            // Bytes flipped.
            let mut bad = good.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bad.len());
                bad[i] ^= rng.next() as u8 | 1;
            }
            same_as_reference(&bad, d.len());
            // Random bytes, random sizes.
            let junk: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            let want = rng.below(if round % 2 == 0 { 100 } else { 100_000 });
            same_as_reference(&junk, want);
        }
        // One literal, then matches only: a u32 length, a length from the shared high nibble,
        // then the stream ends.
        let m = [
            0xFF, 0xFF, 0xFF, 0x7F, b'a', 0x07, 0x00, 0x0F, 0xFF, 0x00, 0x00, 0x00, 0x10, 0x00,
            0x00, 0x07, 0x00,
        ];
        assert_eq!(decompress(&m, 4110).unwrap(), vec![b'a'; 4110]);
        same_as_reference(&m, 4110);
        same_as_reference(&m, 4109);
        same_as_reference(&m, 5000);
    }

    #[test]
    fn huge_expected_size_fails_without_huge_output() {
        // A corrupt stream that claims a vast size: the output grows with what is decoded, so
        // the error comes before any large allocation.
        let mut s = 0x3FFF_FFFFu32.to_le_bytes().to_vec();
        s.extend_from_slice(b"ab");
        s.extend_from_slice(&[0x18, 0x00]); // distance 4 with 2 bytes decoded
        let mut out = Vec::new();
        let e = decompress_into(&s, usize::MAX, &mut out).unwrap_err();
        assert_eq!(e.offset, 6, "{e}");
        assert_eq!(out, b"ab");
        assert!(out.capacity() <= INITIAL_OUTPUT + DECODE_SLACK);
        assert!(decompress(&s[..5], usize::MAX).is_err());
    }

    #[test]
    fn round_trips_many_shapes() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"abcabcabcabcabcabcabc");
        round_trip(&[0u8; 100_000]);
        let text: Vec<u8> = (0..50_000)
            .flat_map(|i| format!("event {i} value={}\n", i % 7).into_bytes())
            .collect();
        let c = round_trip(&text);
        assert!(c.len() < text.len() / 3, "{} vs {}", c.len(), text.len());
        let mut x: u64 = 0x1234_5678;
        let noise: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        round_trip(&noise);
        // Match lengths at every encoding boundary: 3..10 direct, nibble, byte, u16, u32.
        for len in [
            3, 9, 10, 24, 25, 279, 280, 281, 65_000, 65_538, 70_000, 300_000,
        ] {
            let mut d = b"xyz".to_vec();
            d.extend(std::iter::repeat_n(b'q', len));
            d.extend_from_slice(b"end");
            round_trip(&d);
        }
        // Exactly 32 items fill one flag word.
        round_trip(&(0u8..32).collect::<Vec<_>>());
    }

    #[test]
    fn known_vector_from_ms_xca() {
        // MS-XCA 3.1: "abcdefghijklmnopqrstuvwxyz" is stored as one flag word and 26 literals.
        let data = b"abcdefghijklmnopqrstuvwxyz";
        let c = compress(data);
        assert_eq!(&c[..4], &[0x3F, 0x00, 0x00, 0x00]);
        assert_eq!(&c[4..], data);
        // MS-XCA 3.2: "abc" repeated 100 times.
        let d: Vec<u8> = b"abc".repeat(100);
        let expect = [
            0xFF, 0xFF, 0xFF, 0x1F, 0x61, 0x62, 0x63, 0x17, 0x00, 0x0F, 0xFF, 0x26, 0x01,
        ];
        assert_eq!(compress(&d), expect);
        assert_eq!(decompress(&expect, 300).unwrap(), d);
    }

    #[test]
    fn corrupt_streams_are_errors_not_panics() {
        assert!(decompress(&[], 1).is_err());
        assert!(decompress(&[0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00], 5).is_err());
        let good = compress(&b"hello hello hello hello".repeat(20));
        for cut in 0..good.len() {
            let _ = decompress(&good[..cut], 460);
        }
        let mut x: u32 = 7;
        for _ in 0..2000 {
            let mut bad = good.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let i = (x as usize >> 8) % bad.len();
            bad[i] ^= (x >> 24) as u8 | 1;
            let _ = decompress(&bad, 460);
        }
    }
}
