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

use super::FormatError;

/// Largest distance a match can reach back (13 bits of offset).
const MAX_DISTANCE: usize = 8192;
const MIN_MATCH: usize = 3;
const HASH_BITS: u32 = 13;

/// Compresses `src` into a new vector.
pub fn compress(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len() / 2 + 8);
    compress_into(src, &mut out);
    out
}

/// Compresses `src`, appending the stream to `out` (greedy LZ77 with a hash table of the last
/// position of each 3-byte prefix).
pub fn compress_into(src: &[u8], out: &mut Vec<u8>) {
    let mut table = vec![u32::MAX; 1 << HASH_BITS];
    let mut flags: u32 = 0;
    let mut flag_count: u32 = 0;
    let mut flag_pos = out.len();
    out.extend_from_slice(&[0; 4]);
    // Position of the byte whose high nibble the next long match may use.
    let mut nibble_pos: Option<usize> = None;
    let n = src.len();
    let mut i = 0;

    let hash = |p: usize| -> usize {
        let v = u32::from(src[p]) | u32::from(src[p + 1]) << 8 | u32::from(src[p + 2]) << 16;
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    };

    while i < n {
        let mut best_len = 0;
        let mut best_dist = 0;
        if i + MIN_MATCH <= n {
            let h = hash(i);
            let cand = table[h];
            table[h] = i as u32;
            if cand != u32::MAX {
                let c = cand as usize;
                let dist = i - c;
                if dist <= MAX_DISTANCE {
                    let max = n - i;
                    let mut l = 0;
                    while l < max && src[c + l] == src[i + l] {
                        l += 1;
                    }
                    if l >= MIN_MATCH {
                        best_len = l;
                        best_dist = dist;
                    }
                }
            }
        }
        if best_len >= MIN_MATCH {
            flags = (flags << 1) | 1;
            emit_match(out, best_dist, best_len, &mut nibble_pos);
            // Index the positions inside the match so later data can refer to them.
            let end = i + best_len;
            let mut p = i + 1;
            while p < end && p + MIN_MATCH <= n {
                table[hash(p)] = p as u32;
                p += 1;
            }
            i = end;
        } else {
            flags <<= 1;
            out.push(src[i]);
            i += 1;
        }
        flag_count += 1;
        if flag_count == 32 {
            out[flag_pos..flag_pos + 4].copy_from_slice(&flags.to_le_bytes());
            flags = 0;
            flag_count = 0;
            flag_pos = out.len();
            out.extend_from_slice(&[0; 4]);
        }
    }
    // Unused flag bits are ones: a decoder that meets them at the end of input stops.
    let rest = 32 - flag_count;
    let last = if rest == 32 {
        u32::MAX
    } else {
        (flags << rest) | ((1u32 << rest) - 1)
    };
    out[flag_pos..flag_pos + 4].copy_from_slice(&last.to_le_bytes());
}

fn emit_match(out: &mut Vec<u8>, dist: usize, len: usize, nibble_pos: &mut Option<usize>) {
    let off = ((dist - 1) as u16) << 3;
    let mut l = len - MIN_MATCH;
    if l < 7 {
        out.extend_from_slice(&(off | l as u16).to_le_bytes());
        return;
    }
    out.extend_from_slice(&(off | 7).to_le_bytes());
    l -= 7;
    let nib = l.min(15) as u8;
    match nibble_pos.take() {
        Some(p) => out[p] |= nib << 4,
        None => {
            *nibble_pos = Some(out.len());
            out.push(nib);
        }
    }
    if l < 15 {
        return;
    }
    l -= 15;
    if l < 255 {
        out.push(l as u8);
        return;
    }
    out.push(255);
    let total = len - MIN_MATCH;
    if total < 1 << 16 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
    }
}

/// Decompresses `src`, which must expand to exactly `want` bytes.
pub fn decompress(src: &[u8], want: usize) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(want);
    decompress_into(src, want, &mut out)?;
    Ok(out)
}

/// Decompresses `src`, appending exactly `want` bytes to `out`. Error offsets are positions in
/// `src`. Never reads or writes out of bounds, whatever `src` holds.
pub fn decompress_into(src: &[u8], want: usize, out: &mut Vec<u8>) -> Result<(), FormatError> {
    let start = out.len();
    let err = |at: usize, what: &str| Err(FormatError::new(at as u64, what.to_string()));
    let mut ip = 0usize;
    let mut flags: u32 = 0;
    let mut flag_count = 0u32;
    let mut nibble_pos: Option<usize> = None;
    let byte = |ip: &mut usize| -> Option<u8> {
        let b = *src.get(*ip)?;
        *ip += 1;
        Some(b)
    };
    while out.len() - start < want {
        if flag_count == 0 {
            let Some(w) = src.get(ip..ip + 4) else {
                return err(
                    ip,
                    "compressed stream ends before the expected size (flags)",
                );
            };
            flags = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            ip += 4;
            flag_count = 32;
        }
        flag_count -= 1;
        if flags & (1 << flag_count) == 0 {
            let Some(b) = byte(&mut ip) else {
                return err(
                    ip,
                    "compressed stream ends before the expected size (literal)",
                );
            };
            out.push(b);
            continue;
        }
        let at = ip;
        let (Some(lo), Some(hi)) = (byte(&mut ip), byte(&mut ip)) else {
            return err(
                at,
                "compressed stream ends before the expected size (match)",
            );
        };
        let m = u16::from_le_bytes([lo, hi]);
        let dist = usize::from(m >> 3) + 1;
        let mut len = usize::from(m & 7);
        if len == 7 {
            let nib = match nibble_pos.take() {
                Some(p) => src[p] >> 4,
                None => {
                    nibble_pos = Some(ip);
                    let Some(b) = byte(&mut ip) else {
                        return err(ip, "truncated match length");
                    };
                    b & 0x0F
                }
            };
            len = usize::from(nib);
            if len == 15 {
                let Some(b) = byte(&mut ip) else {
                    return err(ip, "truncated match length");
                };
                len = usize::from(b);
                if len == 255 {
                    let Some(w) = src.get(ip..ip + 2) else {
                        return err(ip, "truncated match length");
                    };
                    ip += 2;
                    len = usize::from(u16::from_le_bytes([w[0], w[1]]));
                    if len == 0 {
                        let Some(w) = src.get(ip..ip + 4) else {
                            return err(ip, "truncated match length");
                        };
                        ip += 4;
                        len = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize;
                    }
                    if len < 15 + 7 {
                        return err(at, "invalid match length");
                    }
                    len -= 15 + 7;
                }
                len += 15;
            }
            len += 7;
        }
        len += MIN_MATCH;
        let have = out.len() - start;
        if dist > have {
            return err(at, "match reaches before the start of the data");
        }
        if len > want - have {
            return err(at, "match runs past the expected size");
        }
        let from = out.len() - dist;
        // Overlapping copies repeat the last `dist` bytes, so copy byte by byte.
        for k in 0..len {
            let b = out[from + k];
            out.push(b);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) -> Vec<u8> {
        let c = compress(data);
        let d = decompress(&c, data.len()).expect("decompresses");
        assert_eq!(d, data);
        c
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
