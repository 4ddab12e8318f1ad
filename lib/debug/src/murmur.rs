//! 32-bit MurmurHash2 (x86), the hash JupyterLab uses to name a cell's file
//! (`tmpFilePrefix + murmur2(code, hashSeed) + tmpFileSuffix`). It must match JupyterLab's
//! `murmur2` bit for bit, so it hashes the UTF-8 bytes of the code.

/// The seed llmspell reports in `debugInfo` (the one ipykernel uses).
pub const HASH_SEED: u32 = 0xC70F_6907;

/// MurmurHash2 of `data` with `seed`.
pub fn murmur2(data: &[u8], seed: u32) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h = seed ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jupyterlab_vectors() {
        assert_eq!(HASH_SEED, 3_339_675_911);
        assert_eq!(murmur2(b"", HASH_SEED), 3_990_065_800);
        assert_eq!(murmur2(b"print(1)", HASH_SEED), 3_773_950_048);
        assert_eq!(murmur2(b"x = 1\nprint(x)", HASH_SEED), 4_252_719_672);
        assert_eq!(murmur2("é".as_bytes(), HASH_SEED), 2_171_970_256);
    }
}
