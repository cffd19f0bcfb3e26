//! SipHash-1-2 exactly as Valkey's `src/siphash.c` computes it (one
//! compression round, two finalisation rounds, 64-bit output), plus its
//! ASCII case-insensitive variant. Kept private to the crate: Valkey's own
//! `siphash` symbol stays Valkey's.

#[inline(always)]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// ASCII lower-casing of eight bytes at once, as siphash.c's `siptlw` does
/// byte by byte: A-Z gain 0x20, every other byte (>= 0x80 included) stays.
/// The case-insensitive hash (the Lua scripts' and functions' dicts hash a
/// 40-byte SHA on every EVALSHA) spent most of its time folding bytes.
#[inline(always)]
fn lower8(x: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGH;
    // High bit of each byte set iff low7 >= 'A' (0x41), resp. low7 > 'Z'
    // (0x5a); low7 <= 0x7f, so no sum carries into the next byte.
    let ge_a = low7.wrapping_add(0x3f3f_3f3f_3f3f_3f3f);
    let gt_z = low7.wrapping_add(0x2525_2525_2525_2525);
    let upper = ge_a & !gt_z & !x & HIGH;
    x | (upper >> 2)
}

#[inline(always)]
fn fold(w: u64, nocase: bool) -> u64 {
    if nocase {
        lower8(w)
    } else {
        w
    }
}

/// The last `n` (< 8) bytes at `p` as a little-endian word. One arm per
/// length (a jump table, like siphash.c's `switch`), each with the widest
/// loads that fit: a byte loop mispredicted on keys of mixed lengths.
///
/// # Safety
/// `p` is valid for reads of `n` bytes; nothing is read when `n` is 0.
#[inline(always)]
unsafe fn tail(p: *const u8, n: usize) -> u64 {
    let b = |i: usize| u64::from(*p.add(i));
    let w16 = |i: usize| u64::from(u16::from_le(p.add(i).cast::<u16>().read_unaligned()));
    let w32 = |i: usize| u64::from(u32::from_le(p.add(i).cast::<u32>().read_unaligned()));
    match n {
        7 => w32(0) | w16(4) << 32 | b(6) << 48,
        6 => w32(0) | w16(4) << 32,
        5 => w32(0) | b(4) << 32,
        4 => w32(0),
        3 => w16(0) | b(2) << 16,
        2 => w16(0),
        1 => b(0),
        _ => 0,
    }
}

/// SipHash-1-2 of `len` bytes at `p`. Walks a pointer rather than a slice
/// index: one register fewer, which spared a callee-saved spill per call.
///
/// # Safety
/// `p` is valid for reads of `len` bytes; when `len` is 0 it is never read
/// and may be anything (C callers pass NULL with a zero length).
#[inline(always)]
pub(crate) unsafe fn hash_raw(p: *const u8, len: usize, k: &[u8; 16], nocase: bool) -> u64 {
    let k0 = u64::from_le_bytes(k[0..8].try_into().unwrap());
    let k1 = u64::from_le_bytes(k[8..16].try_into().unwrap());
    let mut v = [
        0x736f_6d65_7073_6575 ^ k0,
        0x646f_7261_6e64_6f6d ^ k1,
        0x6c79_6765_6e65_7261 ^ k0,
        0x7465_6462_7974_6573 ^ k1,
    ];
    let len_word = (len as u64) << 56;
    let last = if len < 8 {
        tail(p, len)
    } else {
        let blocks_end = p.add(len & !7);
        let mut q = p;
        loop {
            let m = fold(u64::from_le(q.cast::<u64>().read_unaligned()), nocase);
            v[3] ^= m;
            sipround(&mut v);
            v[0] ^= m;
            q = q.add(8);
            if q == blocks_end {
                break;
            }
        }
        // The tail is the top bytes of the word that ends the input (it
        // overlaps the last block): one load and one shift instead of the
        // jump table's per-length arms.
        if len & 7 == 0 {
            0
        } else {
            let w = u64::from_le(p.add(len - 8).cast::<u64>().read_unaligned());
            // 64 - 8 * (len % 8), as a shift count taken mod 64.
            w >> ((len as u32).wrapping_mul(8).wrapping_neg() & 63)
        }
    };
    let b = len_word | fold(last, nocase);
    v[3] ^= b;
    sipround(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    sipround(&mut v);
    sipround(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Valkey's `siphash` over a slice (the tests' entry point).
#[cfg(test)]
pub(crate) fn siphash(input: &[u8], k: &[u8; 16]) -> u64 {
    // SAFETY: a slice is valid for reads of its length.
    unsafe { hash_raw(input.as_ptr(), input.len(), k, false) }
}

/// Valkey's `siphash_nocase`: A-Z folded to a-z before hashing.
#[cfg(test)]
pub(crate) fn siphash_nocase(input: &[u8], k: &[u8; 16]) -> u64 {
    // SAFETY: a slice is valid for reads of its length.
    unsafe { hash_raw(input.as_ptr(), input.len(), k, true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of Valkey 9.1.2's own `src/siphash.c` (SipHash-1-2, not the
    /// 2-4 reference vectors) for key 00..0f and input 00..len-1, len 0..=17.
    #[test]
    fn matches_valkey_siphash_c() {
        let want: [u64; 18] = [
            0xcea28b51565c12e2,
            0x94aaf38c34ce7ba6,
            0xfe7a42c2c5fab434,
            0x1c0d255229c3364c,
            0x8be7847a474dfdf5,
            0x2858f0420f752296,
            0xe61a8a7d8ac52626,
            0xf03c4cbcf492b05a,
            0x606845b4d093af74,
            0xe304e78271c74a56,
            0xc936e00e33b32633,
            0x226212e5f29ab45c,
            0xa4377b74fbbfe0da,
            0x624317667190806f,
            0x4a72ad78e3e197d7,
            0xec8f61bc1c8966a6,
            0x1311f4dfe747a751,
            0x899c7b292c85339c,
        ];
        let mut k = [0u8; 16];
        k.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let input: Vec<u8> = (0..64u8).collect();
        for (len, want) in want.iter().enumerate() {
            assert_eq!(siphash(&input[..len], &k), *want, "len {len}");
        }
        assert_eq!(siphash_nocase(b"Hello World 123", &k), 0x7749f037a737fa56);
    }

    /// siphash.c's algorithm byte by byte (its `switch` over the tail and
    /// `siptlw`), written independently of the code above.
    fn reference(input: &[u8], k: &[u8; 16], nocase: bool) -> u64 {
        let tl = |c: u8| {
            if nocase && c.is_ascii_uppercase() {
                c + 32
            } else {
                c
            }
        };
        let k0 = u64::from_le_bytes(k[0..8].try_into().unwrap());
        let k1 = u64::from_le_bytes(k[8..16].try_into().unwrap());
        let mut v = [
            0x736f_6d65_7073_6575 ^ k0,
            0x646f_7261_6e64_6f6d ^ k1,
            0x6c79_6765_6e65_7261 ^ k0,
            0x7465_6462_7974_6573 ^ k1,
        ];
        let full = input.len() / 8 * 8;
        for c in input[..full].chunks(8) {
            let m = c
                .iter()
                .rev()
                .fold(0u64, |acc, &b| acc << 8 | u64::from(tl(b)));
            v[3] ^= m;
            sipround(&mut v);
            v[0] ^= m;
        }
        let mut b = (input.len() as u64) << 56;
        for (i, &byte) in input[full..].iter().enumerate() {
            b |= u64::from(tl(byte)) << (8 * i);
        }
        v[3] ^= b;
        sipround(&mut v);
        v[0] ^= b;
        v[2] ^= 0xff;
        sipround(&mut v);
        sipround(&mut v);
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }

    #[test]
    fn word_tail_and_swar_fold_match_bytewise_reference() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Every byte value, in every position of the tail and of a word.
        let all: Vec<u8> = (0..=255u8).collect();
        let stride = if cfg!(miri) { 37 } else { 1 };
        for len in 0..=24 {
            for start in (0..(256 - len)).step_by(stride) {
                let input = &all[start..start + len];
                let k = [start as u8; 16];
                assert_eq!(
                    siphash(input, &k),
                    reference(input, &k, false),
                    "len {len} at {start}"
                );
                assert_eq!(
                    siphash_nocase(input, &k),
                    reference(input, &k, true),
                    "nocase len {len} at {start}"
                );
            }
        }
        for _ in 0..if cfg!(miri) { 50 } else { 20_000 } {
            let len = (next() % 40) as usize;
            let input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let k: [u8; 16] = core::array::from_fn(|_| next() as u8);
            assert_eq!(siphash(&input, &k), reference(&input, &k, false));
            assert_eq!(siphash_nocase(&input, &k), reference(&input, &k, true));
        }
    }

    #[test]
    fn lower8_is_ascii_to_lowercase_on_every_byte() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                // The byte under test among neighbours at both ends of A-Z.
                let w =
                    (0x405a_415b_6061_7a7bu64 & !(0xff << (8 * pos))) | u64::from(b) << (8 * pos);
                let want = u64::from_le_bytes(w.to_le_bytes().map(|c| c.to_ascii_lowercase()));
                assert_eq!(lower8(w), want, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn nocase_folds_ascii_only() {
        let k = [7u8; 16];
        assert_eq!(
            siphash_nocase(b"Hello World 123", &k),
            siphash(b"hello world 123", &k)
        );
        assert_ne!(siphash_nocase(b"\xC4", &k), siphash(b"\xE4", &k));
        assert_ne!(siphash(b"Hello", &k), siphash(b"hello", &k));
    }
}
