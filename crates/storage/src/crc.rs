//! CRC32C arithmetic, so a checksummed batch can be patched without being
//! read again. A CRC over `A ‖ B` is the CRC of `A` carried through `B`'s
//! length in zeros, xored with the CRC of `B`; so when only `A` changes
//! (a LogAppendTime stamp rewrites the first bytes the CRC covers), the new
//! CRC follows from the old one, the old and new `A`, and `B`'s length.
//!
//! Polynomials modulo CRC32C's are 32-bit words in the CRC's reflected
//! bit order: bit 31 holds the coefficient of x^0.

/// CRC32C's polynomial (Castagnoli), reflected.
const POLY: u32 = 0x82F6_3B78;
/// The polynomial 1.
const ONE: u32 = 1 << 31;

/// `a · b mod POLY`.
const fn multiply(a: u32, mut b: u32) -> u32 {
    let mut product = 0;
    let mut term = ONE;
    while term != 0 {
        if a & term != 0 {
            product ^= b;
        }
        // b · x: one step towards the next term of `a`.
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
        term >>= 1;
    }
    product
}

/// `x^(2^k) mod POLY` for every k a length in bits can need.
const X_POW_2_POW: [u32; 64] = {
    let mut table = [0u32; 64];
    table[0] = ONE >> 1; // x^1
    let mut k = 1;
    while k < 64 {
        table[k] = multiply(table[k - 1], table[k - 1]);
        k += 1;
    }
    table
};

/// `x^(8·len) mod POLY`: what `len` bytes of zeros multiply a CRC by.
fn shift_of(len: usize) -> u32 {
    let mut bits = len as u64;
    let mut shift = ONE;
    let mut k = 3; // 8 = 2^3 bits a byte
    while bits != 0 && k < X_POW_2_POW.len() {
        if bits & 1 != 0 {
            shift = multiply(X_POW_2_POW[k], shift);
        }
        bits >>= 1;
        k += 1;
    }
    shift
}

/// The CRC32C of `new_head ‖ tail` from the CRC32C of `old_head ‖ tail`
/// (`crc`), without reading the tail: only its length. The heads must be
/// the same length.
pub(crate) fn replace_head(crc: u32, old_head: &[u8], new_head: &[u8], tail_len: usize) -> u32 {
    let head_change = crc32c::crc32c(old_head) ^ crc32c::crc32c(new_head);
    crc ^ multiply(shift_of(tail_len), head_change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_head_gives_the_crc_of_the_whole_read_again() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut byte = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        };
        for tail_len in [0, 1, 7, 8, 61, 1000, 4096, 65_537, 1 << 20] {
            let old: Vec<u8> = (0..22 + tail_len).map(|_| byte()).collect();
            let mut new = old.clone();
            for b in &mut new[..22] {
                *b = byte();
            }
            let patched = replace_head(crc32c::crc32c(&old), &old[..22], &new[..22], tail_len);
            assert_eq!(patched, crc32c::crc32c(&new), "tail of {tail_len} bytes");
        }
    }
}
