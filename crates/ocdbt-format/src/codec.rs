//! Byte-level primitives: a bounds-checked reader with the three varint widths of the format,
//! and the matching writers.

use crate::error::{Error, Result};

/// A cursor over untrusted bytes. Every read is bounds-checked and reports what it was reading.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Position from the start of the data.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        let b = *self.data.get(self.pos).ok_or(Error::Truncated { what })?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::Truncated { what });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub(crate) fn u64le(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn i32le(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    /// LEB128 with riegeli's limits: at most `ceil(bits / 7)` bytes and no value bits beyond
    /// `bits`. Non-shortest encodings are accepted, as TensorStore accepts them.
    fn varint(&mut self, bits: u32, what: &'static str) -> Result<u64> {
        let max_len = bits.div_ceil(7);
        let mut result: u64 = 0;
        for i in 0..max_len {
            let b = self.u8(what)?;
            let low = u64::from(b & 0x7f);
            let shift = 7 * i;
            // The 10th byte of a 64-bit varint may only carry bit 63.
            if shift == 63 && low > 1 {
                return Err(Error::InvalidVarint { what, bits });
            }
            result |= low << shift;
            if b & 0x80 == 0 {
                if bits < 64 && result >> bits != 0 {
                    return Err(Error::InvalidVarint { what, bits });
                }
                return Ok(result);
            }
        }
        Err(Error::InvalidVarint { what, bits })
    }

    pub(crate) fn varint64(&mut self, what: &'static str) -> Result<u64> {
        self.varint(64, what)
    }

    pub(crate) fn varint32(&mut self, what: &'static str) -> Result<u32> {
        // The 32-bit check above guarantees the value fits.
        Ok(self.varint(32, what)? as u32)
    }

    /// A `varint16` is read as a `varint32` and then range-checked, like TensorStore does.
    pub(crate) fn varint16(&mut self, what: &'static str) -> Result<u16> {
        let v = self.varint32(what)?;
        u16::try_from(v).map_err(|_| Error::InvalidVarint { what, bits: 16 })
    }

    /// Validates an untrusted element count before anything is allocated for it: every
    /// element occupies at least one byte, so a count above the remaining bytes can only be
    /// a truncated or hostile object.
    pub(crate) fn count(&mut self, n: u64, what: &'static str) -> Result<usize> {
        if n > self.remaining() as u64 {
            return Err(Error::Truncated { what });
        }
        Ok(n as usize)
    }

    /// Reads `n` values with `f`, after checking `n` against the remaining bytes.
    pub(crate) fn column<T>(
        &mut self,
        n: usize,
        what: &'static str,
        mut f: impl FnMut(&mut Self, &'static str) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.count(n as u64, what)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(f(self, what)?);
        }
        Ok(out)
    }

    pub(crate) fn expect_end(&self, what: &'static str) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::TrailingBytes {
                what,
                count: count as u64,
            }),
        }
    }
}

/// Appends the shortest LEB128 encoding of `v`.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Number of bytes [`put_varint`] writes for `v`.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Length of the longest common prefix of `a` and `b`.
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn shortest_varints_round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            2048,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let bytes = enc(v);
            assert_eq!(bytes.len(), varint_len(v), "{v}");
            assert_eq!(Reader::new(&bytes).varint64("v").unwrap(), v);
        }
        assert_eq!(enc(2048), [0x80, 0x10]);
        assert_eq!(
            enc(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn width_limits_are_enforced() {
        // 2^32 does not fit a varint32.
        let big = enc(1 << 32);
        assert!(matches!(
            Reader::new(&big).varint32("x"),
            Err(Error::InvalidVarint { bits: 32, .. })
        ));
        assert_eq!(
            Reader::new(&enc(u32::MAX as u64)).varint32("x").unwrap(),
            u32::MAX
        );
        // Six bytes are too many for a varint32 even when the value is small.
        let long = [0x81, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert!(Reader::new(&long).varint32("x").is_err());
        // 65536 does not fit a varint16.
        assert!(Reader::new(&enc(65536)).varint16("x").is_err());
        assert_eq!(Reader::new(&enc(65535)).varint16("x").unwrap(), 65535);
        // A 10th byte carrying more than bit 63.
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Reader::new(&over).varint64("x").is_err());
        // 11 bytes.
        let eleven = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ];
        assert!(Reader::new(&eleven).varint64("x").is_err());
    }

    #[test]
    fn non_shortest_varints_are_accepted_and_truncation_detected() {
        assert_eq!(Reader::new(&[0x81, 0x00]).varint64("x").unwrap(), 1);
        assert!(matches!(
            Reader::new(&[0x81]).varint64("x"),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn counts_beyond_remaining_bytes_are_refused() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.count(3, "n").is_ok());
        assert!(matches!(r.count(4, "n"), Err(Error::Truncated { .. })));
        assert!(matches!(
            r.count(u64::MAX, "n"),
            Err(Error::Truncated { .. })
        ));
    }
}
