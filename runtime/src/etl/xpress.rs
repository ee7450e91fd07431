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
mod tests;
