//! The task's network namespace holder, as Fargate's pause container: a process that does
//! nothing, so every container of a task can join its namespace (`--network container:…`) in
//! `dependsOn` order, and reach each other on `localhost`, whichever of them starts first or
//! exits. No image can be assumed present (nor pulled), so cutover makes its own: a 129-byte
//! static x86-64 program that calls pause(2) forever, in a one-file image made with
//! `docker import`. Pure: the bytes and the tarball; the import is in [`super::docker`].

/// The image's name; the tag changes whenever the bytes do.
pub const IMAGE: &str = "cutover-local/pause:1";

/// The program: an ELF64 executable of one loadable segment whose code is
/// `mov eax, 34 (pause); syscall; jmp back`. Killed with SIGKILL (`docker rm --force`), as PID 1
/// of its namespace ignores SIGTERM.
pub fn program() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let code: [u8; 9] = [0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7];
    let size = HEADERS + code.len() as u64;
    let mut b = Vec::with_capacity(size as usize);
    // ELF header.
    b.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    b.extend_from_slice(&64u64.to_le_bytes()); // program headers
    b.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&64u16.to_le_bytes());
    b.extend_from_slice(&56u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&[0; 6]);
    // One PT_LOAD, read + execute, the whole file at BASE.
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&5u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&BASE.to_le_bytes());
    b.extend_from_slice(&BASE.to_le_bytes());
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&0x1000u64.to_le_bytes());
    b.extend_from_slice(&code);
    b
}

/// A tar archive (ustar) holding one executable file `name` with `bytes`.
pub fn tarball(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(&mut header, 0, name.as_bytes());
    put(&mut header, 100, b"0000755\0");
    put(&mut header, 108, b"0000000\0");
    put(&mut header, 116, b"0000000\0");
    put(
        &mut header,
        124,
        format!("{:011o}\0", bytes.len()).as_bytes(),
    );
    put(&mut header, 136, b"00000000000\0");
    put(&mut header, 148, b"        ");
    header[156] = b'0';
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(bytes);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.resize(out.len() + 1024, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_one_segment_that_loops_on_pause() {
        let p = program();
        assert_eq!(p.len(), 129);
        assert_eq!(&p[..4], b"\x7fELF");
        let entry = u64::from_le_bytes(p[24..32].try_into().unwrap());
        assert_eq!(entry, 0x40_0078);
        // mov eax, 34 (pause); syscall; jmp -9 (back to the mov).
        assert_eq!(&p[120..], &[0xb8, 34, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]);
    }

    #[test]
    fn the_tarball_has_a_valid_header_and_padding() {
        let t = tarball("pause", &program());
        assert_eq!(t.len(), 512 + 512 + 1024);
        assert_eq!(&t[..5], b"pause");
        assert_eq!(&t[124..136], b"00000000201\0");
        let mut h = t[..512].to_vec();
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        h[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, h.iter().map(|&b| u32::from(b)).sum::<u32>());
    }
}
