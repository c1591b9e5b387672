//! Element-wise conversion between any two dtypes, in host representation, with numpy
//! `astype` semantics where numpy defines them.
//!
//! * float → float: round to nearest, ties to even, computed from the exact source value.
//!   float8/float4 targets follow ml_dtypes' `ConvertImpl` (ported over a small format
//!   table): e.g. e4m3fn has no infinity so overflow and ±inf become NaN, fnuz types have
//!   NaN = 0x80 and no −0, e8m0fnu maps zero and negatives to NaN, float4_e2m1fn saturates. bfloat16 from float64
//!   rounds through float32 first, as Eigen's `bfloat16(double)` (used by ml_dtypes) does.
//! * int → float: numpy converts int64 → float32 directly (one rounding); ml_dtypes converts
//!   integers to bfloat16/float8 through float32; both are reproduced.
//! * float → int: truncation toward zero. Finite values whose truncation fits in 64 bits wrap
//!   modulo 2^bits (what numpy does on x86, e.g. 300.0 → int8 44, −1.0 → uint8 255). numpy
//!   leaves NaN, ±inf and larger magnitudes platform-defined; here NaN → 0 and the others
//!   saturate to the target's minimum/maximum.
//! * int → int: two's-complement wrap (int4/int2 wrap to 4/2 bits, stored sign-extended).
//! * bool ↔ numbers: 0/1; number → bool is `x != 0` (NaN → true); complex → bool tests both
//!   parts.
//! * complex → real takes the real part; real → complex has a zero imaginary part.
//! * NaN: the sign is always kept. Payloads follow numpy where it defines them (float16
//!   keeps the top payload bits), Eigen for bfloat16 (canonical quiet NaN), ml_dtypes for
//!   float8/float4 (the format's `quiet_NaN`), and otherwise the top payload bits are kept
//!   with the quiet bit set if they would vanish.

use half::f16;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::minifloat::{self, MiniFloat};

/// One element in a width-independent form.
#[derive(Debug, Clone, Copy)]
enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// Any real float, exactly (NaN payloads carried left-aligned in the f64 fraction).
    Float(f64),
    Complex(f64, f64),
}

/// Elements converted per block: the dtype dispatch happens once per block, not per element.
const BLOCK: usize = 512;

/// Converts `src_host` (elements of `src`) into `dst_host` (elements of `dst`), both in host
/// representation. The buffers must hold the same number of elements.
pub fn cast(src: DType, src_host: &[u8], dst: DType, dst_host: &mut [u8]) -> Result<()> {
    let (ss, ds) = (src.host_size(), dst.host_size());
    if !src_host.len().is_multiple_of(ss) {
        return Err(Error::InvalidArgument(format!(
            "cast source has {} bytes, not a multiple of the {src} element size {ss}",
            src_host.len()
        )));
    }
    let n = src_host.len() / ss;
    if dst_host.len() != n * ds {
        return Err(Error::InvalidArgument(format!(
            "cast of {n} {src} elements needs {} bytes of {dst}, got {}",
            n * ds,
            dst_host.len()
        )));
    }
    if src == dst {
        dst_host.copy_from_slice(src_host);
        return Ok(());
    }
    if fast_path(src, src_host, dst, dst_host) {
        return Ok(());
    }
    // Minifloat sources decode through a 256-entry table built once per call.
    let table: Vec<f64> = minifloat_of(src)
        .map(|spec| (0..256u16).map(|b| spec.decode(b)).collect())
        .unwrap_or_default();
    let mut scratch = [Scalar::Bool(false); BLOCK];
    for (s, d) in src_host
        .chunks(BLOCK * ss)
        .zip(dst_host.chunks_mut(BLOCK * ds))
    {
        let scratch = &mut scratch[..s.len() / ss];
        decode_block(src, s, &table, scratch);
        encode_block(dst, scratch, d);
    }
    Ok(())
}

/// Direct loops for pairs that are common or whose semantics differ from the generic path.
fn fast_path(src: DType, s: &[u8], dst: DType, d: &mut [u8]) -> bool {
    match (src, dst) {
        (DType::BFloat16, DType::Float32) => {
            for (i, o) in s.chunks_exact(2).zip(d.chunks_exact_mut(4)) {
                let bits = u32::from(u16::from_le_bytes([i[0], i[1]])) << 16;
                o.copy_from_slice(&bits.to_le_bytes());
            }
        }
        (DType::Float32, DType::BFloat16) => {
            for (i, o) in s.chunks_exact(4).zip(d.chunks_exact_mut(2)) {
                let bits = u32::from_le_bytes([i[0], i[1], i[2], i[3]]);
                o.copy_from_slice(&f32_to_bf16(bits).to_le_bytes());
            }
        }
        (DType::Float16, DType::Float32) => {
            for (i, o) in s.chunks_exact(2).zip(d.chunks_exact_mut(4)) {
                let h = u16::from_le_bytes([i[0], i[1]]);
                o.copy_from_slice(&f16_to_f32_bits(h).to_le_bytes());
            }
        }
        // ml_dtypes special-cases half -> e5m2 (same exponent width): a bit shift with
        // rounding, NaN keeping its top payload bits with the quiet bit set.
        (DType::Float16, DType::Float8E5M2) => {
            for (i, o) in s.chunks_exact(2).zip(d.iter_mut()) {
                *o = f16_to_e5m2(u16::from_le_bytes([i[0], i[1]]));
            }
        }
        // ... and e5m2 -> half as a plain shift (NaN payloads included).
        (DType::Float8E5M2, DType::Float16) => {
            for (&i, o) in s.iter().zip(d.chunks_exact_mut(2)) {
                o.copy_from_slice(&(u16::from(i) << 8).to_le_bytes());
            }
        }
        _ => return false,
    }
    true
}

fn minifloat_of(dtype: DType) -> Option<&'static MiniFloat> {
    Some(match dtype {
        DType::Float8E4M3Fn => &minifloat::F8_E4M3FN,
        DType::Float8E5M2 => &minifloat::F8_E5M2,
        DType::Float8E4M3Fnuz => &minifloat::F8_E4M3FNUZ,
        DType::Float8E5M2Fnuz => &minifloat::F8_E5M2FNUZ,
        DType::Float8E4M3B11Fnuz => &minifloat::F8_E4M3B11FNUZ,
        DType::Float8E3M4 => &minifloat::F8_E3M4,
        DType::Float8E8M0Fnu => &minifloat::F8_E8M0FNU,
        DType::Float4E2M1Fn => &minifloat::F4_E2M1FN,
        _ => return None,
    })
}

fn decode_block(dtype: DType, s: &[u8], table: &[f64], out: &mut [Scalar]) {
    macro_rules! ints {
        ($t:ty, $n:expr, $variant:ident, $wide:ty) => {
            for (o, c) in out.iter_mut().zip(s.chunks_exact($n)) {
                let v = <$t>::from_le_bytes(c.try_into().expect("element width"));
                *o = Scalar::$variant(v as $wide);
            }
        };
    }
    match dtype {
        DType::Bool => {
            for (o, &b) in out.iter_mut().zip(s) {
                *o = Scalar::Bool(b != 0);
            }
        }
        DType::Int8 => ints!(i8, 1, Int, i64),
        DType::Int16 => ints!(i16, 2, Int, i64),
        DType::Int32 => ints!(i32, 4, Int, i64),
        DType::Int64 => ints!(i64, 8, Int, i64),
        DType::UInt8 => ints!(u8, 1, UInt, u64),
        DType::UInt16 => ints!(u16, 2, UInt, u64),
        DType::UInt32 => ints!(u32, 4, UInt, u64),
        DType::UInt64 => ints!(u64, 8, UInt, u64),
        // Sign-extend from the low bits, so host bytes with stray upper bits still decode.
        DType::Int4 => {
            for (o, &b) in out.iter_mut().zip(s) {
                *o = Scalar::Int(i64::from(((b << 4) as i8) >> 4));
            }
        }
        DType::Int2 => {
            for (o, &b) in out.iter_mut().zip(s) {
                *o = Scalar::Int(i64::from(((b << 6) as i8) >> 6));
            }
        }
        DType::Float16 => {
            for (o, c) in out.iter_mut().zip(s.chunks_exact(2)) {
                *o = Scalar::Float(f16_to_f64(u16::from_le_bytes([c[0], c[1]])));
            }
        }
        DType::BFloat16 => {
            for (o, c) in out.iter_mut().zip(s.chunks_exact(2)) {
                let bits = u32::from(u16::from_le_bytes([c[0], c[1]])) << 16;
                *o = Scalar::Float(f32_bits_to_f64(bits));
            }
        }
        DType::Float32 => {
            for (o, c) in out.iter_mut().zip(s.chunks_exact(4)) {
                *o = Scalar::Float(f32_bits_to_f64(u32::from_le_bytes([
                    c[0], c[1], c[2], c[3],
                ])));
            }
        }
        DType::Float64 => {
            for (o, c) in out.iter_mut().zip(s.chunks_exact(8)) {
                *o = Scalar::Float(f64::from_le_bytes(c.try_into().expect("8 bytes")));
            }
        }
        DType::Complex64 => {
            for (o, c) in out.iter_mut().zip(s.chunks_exact(8)) {
                let re = f32_bits_to_f64(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                let im = f32_bits_to_f64(u32::from_le_bytes([c[4], c[5], c[6], c[7]]));
                *o = Scalar::Complex(re, im);
            }
        }
        DType::Complex128 => {
            for (o, c) in out.iter_mut().zip(s.chunks_exact(16)) {
                let re = f64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
                let im = f64::from_le_bytes(c[8..].try_into().expect("8 bytes"));
                *o = Scalar::Complex(re, im);
            }
        }
        _ => {
            debug_assert!(minifloat_of(dtype).is_some() && table.len() == 256);
            for (o, &b) in out.iter_mut().zip(s) {
                *o = Scalar::Float(table[usize::from(b)]);
            }
        }
    }
}

fn encode_block(dtype: DType, values: &[Scalar], d: &mut [u8]) {
    macro_rules! ints {
        ($t:ty, $n:expr, $bits:expr, $signed:expr) => {
            for (v, c) in values.iter().zip(d.chunks_exact_mut($n)) {
                let raw = to_int_bits(*v, $bits, $signed);
                c.copy_from_slice(&(raw as $t).to_le_bytes());
            }
        };
    }
    match dtype {
        DType::Bool => {
            for (v, o) in values.iter().zip(d.iter_mut()) {
                *o = u8::from(match *v {
                    Scalar::Bool(b) => b,
                    Scalar::Int(i) => i != 0,
                    Scalar::UInt(u) => u != 0,
                    Scalar::Float(f) => f != 0.0,
                    Scalar::Complex(re, im) => re != 0.0 || im != 0.0,
                });
            }
        }
        DType::Int8 => ints!(i8, 1, 8, true),
        DType::Int16 => ints!(i16, 2, 16, true),
        DType::Int32 => ints!(i32, 4, 32, true),
        DType::Int64 => ints!(i64, 8, 64, true),
        DType::UInt8 => ints!(u8, 1, 8, false),
        DType::UInt16 => ints!(u16, 2, 16, false),
        DType::UInt32 => ints!(u32, 4, 32, false),
        DType::UInt64 => ints!(u64, 8, 64, false),
        DType::Int4 | DType::Int2 => {
            let bits = if dtype == DType::Int4 { 4 } else { 2 };
            let shift = 8 - bits;
            for (v, o) in values.iter().zip(d.iter_mut()) {
                let raw = to_int_bits(*v, bits, true) as u8;
                *o = (((raw << shift) as i8) >> shift) as u8;
            }
        }
        DType::Float16 => {
            for (v, c) in values.iter().zip(d.chunks_exact_mut(2)) {
                let bits = match *v {
                    Scalar::Float(f) | Scalar::Complex(f, _) => f64_to_f16(f),
                    other => minifloat::F16.encode(int_like_to_f64(other)),
                };
                c.copy_from_slice(&bits.to_le_bytes());
            }
        }
        DType::BFloat16 => {
            for (v, c) in values.iter().zip(d.chunks_exact_mut(2)) {
                c.copy_from_slice(&f32_to_bf16(to_f32_bits(*v)).to_le_bytes());
            }
        }
        DType::Float32 => {
            for (v, c) in values.iter().zip(d.chunks_exact_mut(4)) {
                c.copy_from_slice(&to_f32_bits(*v).to_le_bytes());
            }
        }
        DType::Float64 => {
            for (v, c) in values.iter().zip(d.chunks_exact_mut(8)) {
                c.copy_from_slice(&to_f64(*v).to_le_bytes());
            }
        }
        DType::Complex64 => {
            for (v, c) in values.iter().zip(d.chunks_exact_mut(8)) {
                let (re, im) = match *v {
                    Scalar::Complex(re, im) => (f64_to_f32_bits(re), f64_to_f32_bits(im)),
                    other => (to_f32_bits(other), 0),
                };
                c[..4].copy_from_slice(&re.to_le_bytes());
                c[4..].copy_from_slice(&im.to_le_bytes());
            }
        }
        DType::Complex128 => {
            for (v, c) in values.iter().zip(d.chunks_exact_mut(16)) {
                let (re, im) = match *v {
                    Scalar::Complex(re, im) => (re, im),
                    other => (to_f64(other), 0.0),
                };
                c[..8].copy_from_slice(&re.to_le_bytes());
                c[8..].copy_from_slice(&im.to_le_bytes());
            }
        }
        _ => {
            let spec = minifloat_of(dtype).expect("remaining dtypes are minifloats");
            for (v, o) in values.iter().zip(d.iter_mut()) {
                *o = match *v {
                    Scalar::Float(f) | Scalar::Complex(f, _) => spec.encode(f) as u8,
                    // ml_dtypes' float8 constructor from an integer goes through float32.
                    other => spec.encode(f64::from(f32::from_bits(to_f32_bits(other)))) as u8,
                };
            }
        }
    }
}

/// Value of a non-float scalar as f64 (ints round to nearest if beyond 2^53).
fn int_like_to_f64(v: Scalar) -> f64 {
    match v {
        Scalar::Bool(b) => f64::from(u8::from(b)),
        Scalar::Int(i) => i as f64,
        Scalar::UInt(u) => u as f64,
        Scalar::Float(f) | Scalar::Complex(f, _) => f,
    }
}

fn to_f64(v: Scalar) -> f64 {
    int_like_to_f64(v)
}

/// float32 bits of `v`; integers convert directly (one rounding, as numpy's int → float32).
fn to_f32_bits(v: Scalar) -> u32 {
    match v {
        Scalar::Bool(b) => f32::from(u8::from(b)).to_bits(),
        Scalar::Int(i) => (i as f32).to_bits(),
        Scalar::UInt(u) => (u as f32).to_bits(),
        Scalar::Float(f) | Scalar::Complex(f, _) => f64_to_f32_bits(f),
    }
}

/// Integer bits of `v` for a `bits`-wide target (the caller truncates to the width).
fn to_int_bits(v: Scalar, bits: u32, signed: bool) -> u64 {
    match v {
        Scalar::Bool(b) => u64::from(b),
        Scalar::Int(i) => i as u64,
        Scalar::UInt(u) => u,
        Scalar::Float(f) | Scalar::Complex(f, _) => float_to_int_bits(f, bits, signed),
    }
}

fn float_to_int_bits(f: f64, bits: u32, signed: bool) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if f.is_nan() {
        return 0;
    }
    let t = f.trunc();
    if (-TWO_63..TWO_63).contains(&t) {
        return t as i64 as u64;
    }
    if (0.0..TWO_64).contains(&t) {
        return t as u64;
    }
    // Beyond 64 bits (or infinite): saturate to the target's range.
    match (t > 0.0, signed) {
        (true, true) => (1u64 << (bits - 1)) - 1,
        (true, false) => {
            if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            }
        }
        (false, true) => neg_mask(bits),
        (false, false) => 0,
    }
}

/// Bits of the most negative `bits`-wide integer, sign-extended to 64 bits.
fn neg_mask(bits: u32) -> u64 {
    (i64::MIN >> (64 - bits)) as u64
}

const F32_EXP: u32 = 0x7f80_0000;
const F64_EXP: u64 = 0x7ff0_0000_0000_0000;

/// float32 bits → f64, exact; NaN payloads move to the top of the f64 fraction.
fn f32_bits_to_f64(bits: u32) -> f64 {
    if bits & 0x7fff_ffff > F32_EXP {
        let sign = u64::from(bits >> 31) << 63;
        let payload = u64::from(bits & 0x007f_ffff) << 29;
        return f64::from_bits(sign | F64_EXP | payload);
    }
    f64::from(f32::from_bits(bits))
}

/// f64 → float32 bits, round to nearest even; NaN keeps sign and top payload bits.
fn f64_to_f32_bits(f: f64) -> u32 {
    if f.is_nan() {
        let bits = f.to_bits();
        let sign = ((bits >> 63) as u32) << 31;
        let mut payload = ((bits & 0x000f_ffff_ffff_ffff) >> 29) as u32;
        if payload == 0 {
            payload = 0x0040_0000;
        }
        return sign | F32_EXP | payload;
    }
    (f as f32).to_bits()
}

/// float16 bits → f64 (numpy's `npy_halfbits_to_doublebits` for NaN: payload kept).
fn f16_to_f64(h: u16) -> f64 {
    if h & 0x7fff > 0x7c00 {
        let sign = u64::from(h >> 15) << 63;
        let payload = u64::from(h & 0x03ff) << 42;
        return f64::from_bits(sign | F64_EXP | payload);
    }
    f16::from_bits(h).to_f64()
}

/// float16 bits → float32 bits (numpy's `npy_halfbits_to_floatbits` for NaN).
fn f16_to_f32_bits(h: u16) -> u32 {
    if h & 0x7fff > 0x7c00 {
        return (u32::from(h >> 15) << 31) | F32_EXP | (u32::from(h & 0x03ff) << 13);
    }
    f16::from_bits(h).to_f32().to_bits()
}

/// f64 → float16 bits: correctly rounded (numpy `npy_double_to_half`), NaN payload kept and
/// forced non-zero as numpy does.
fn f64_to_f16(f: f64) -> u16 {
    if f.is_nan() {
        let bits = f.to_bits();
        let sign = ((bits >> 63) as u16) << 15;
        let mut ret = 0x7c00 + ((bits & 0x000f_ffff_ffff_ffff) >> 42) as u16;
        if ret == 0x7c00 {
            ret += 1;
        }
        return sign | ret;
    }
    minifloat::F16.encode(f)
}

/// float32 bits → bfloat16 bits, round to nearest even (Eigen `float_to_bfloat16_rtne`):
/// NaN becomes the canonical quiet NaN with the sign kept.
fn f32_to_bf16(bits: u32) -> u16 {
    if bits & 0x7fff_ffff > F32_EXP {
        return ((bits >> 16) as u16 & 0x8000) | 0x7fc0;
    }
    let lsb = (bits >> 16) & 1;
    (bits.wrapping_add(0x7fff + lsb) >> 16) as u16
}

/// ml_dtypes' `ConvertImpl<Eigen::half, float8_e5m2>`.
fn f16_to_e5m2(h: u16) -> u8 {
    let abs = h & 0x7fff;
    if abs == 0x7c00 {
        return (h >> 8) as u8;
    }
    if abs > 0x7c00 {
        return ((h >> 8) as u8) | 0b10;
    }
    let lsb = (h >> 8) & 1;
    ((u32::from(h) + 0x7f + u32::from(lsb)) >> 8) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast_vec(src: DType, bytes: &[u8], dst: DType) -> Vec<u8> {
        let n = bytes.len() / src.host_size();
        let mut out = vec![0u8; n * dst.host_size()];
        cast(src, bytes, dst, &mut out).unwrap();
        out
    }

    fn f64s(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn as_f64s(b: &[u8]) -> Vec<f64> {
        b.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn length_mismatches_are_invalid_arguments() {
        let mut out = [0u8; 3];
        let e = cast(DType::Float32, &[0; 8], DType::Float16, &mut out).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_ARGUMENT");
        let e = cast(DType::Float32, &[0; 7], DType::Int8, &mut out).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_ARGUMENT");
    }

    #[test]
    fn float8_from_float64_known_patterns() {
        let values = [448.0, 464.0, 465.0, f64::INFINITY, f64::NAN, -0.0, 1.0];
        assert_eq!(
            cast_vec(DType::Float64, &f64s(&values), DType::Float8E4M3Fn),
            [0x7e, 0x7e, 0x7f, 0x7f, 0x7f, 0x80, 0x38]
        );
        let values = [57344.0, 61440.0, f64::NEG_INFINITY, f64::NAN, 1.0];
        assert_eq!(
            cast_vec(DType::Float64, &f64s(&values), DType::Float8E5M2),
            [0x7b, 0x7c, 0xfc, 0x7e, 0x3c]
        );
        let values = [240.0, 1e6, -0.0, f64::NAN];
        assert_eq!(
            cast_vec(DType::Float64, &f64s(&values), DType::Float8E4M3Fnuz),
            [0x7f, 0x80, 0x00, 0x80]
        );
        assert_eq!(
            cast_vec(
                DType::Float64,
                &f64s(&[30.0, 30.9, 31.0]),
                DType::Float8E4M3B11Fnuz
            ),
            [0x7f, 0x7f, 0x80]
        );
        assert_eq!(
            cast_vec(DType::Float64, &f64s(&[57344.0]), DType::Float8E5M2Fnuz),
            [0x7f]
        );
        assert_eq!(
            cast_vec(DType::Float64, &f64s(&[15.5, f64::NAN]), DType::Float8E3M4),
            [0x6f, 0x78]
        );
        assert_eq!(
            cast_vec(
                DType::Float64,
                &f64s(&[1.0, 0.0, f64::NAN]),
                DType::Float8E8M0Fnu
            ),
            [0x7f, 0xff, 0xff]
        );
        assert_eq!(
            cast_vec(
                DType::Float64,
                &f64s(&[6.0, 100.0, -0.5, f64::NAN]),
                DType::Float4E2M1Fn
            ),
            [0x7, 0x7, 0x9, 0x8]
        );
    }

    #[test]
    fn float8_to_float64_and_back() {
        for d in [
            DType::Float8E4M3Fn,
            DType::Float8E5M2,
            DType::Float8E4M3Fnuz,
            DType::Float8E5M2Fnuz,
            DType::Float8E4M3B11Fnuz,
            DType::Float8E3M4,
            DType::Float8E8M0Fnu,
        ] {
            let all: Vec<u8> = (0..=255).collect();
            let wide = cast_vec(d, &all, DType::Float64);
            let back = cast_vec(DType::Float64, &wide, d);
            let wide32 = cast_vec(d, &all, DType::Float32);
            let back32 = cast_vec(DType::Float32, &wide32, d);
            for (i, (&b, &b32)) in back.iter().zip(&back32).enumerate() {
                let v = as_f64s(&wide)[i];
                if v.is_nan() {
                    assert!(
                        as_f64s(&cast_vec(d, &[b], DType::Float64))[0].is_nan(),
                        "{d} {i:#x}"
                    );
                } else {
                    assert_eq!(b, i as u8, "{d} {i:#x} via f64");
                    assert_eq!(b32, i as u8, "{d} {i:#x} via f32");
                }
            }
        }
    }

    #[test]
    fn float8_to_float8_converts_through_the_value() {
        // e4m3fn 448 (0x7e) -> e5m2: 448 = 1.75 * 2^8 -> exactly representable (0x5f).
        assert_eq!(
            cast_vec(DType::Float8E4M3Fn, &[0x7e], DType::Float8E5M2),
            [0x5f]
        );
        // e5m2 inf -> e4m3fn: no infinity -> NaN.
        assert_eq!(
            cast_vec(DType::Float8E5M2, &[0x7c], DType::Float8E4M3Fn),
            [0x7f]
        );
        // e4m3fn NaN -> fnuz NaN.
        assert_eq!(
            cast_vec(DType::Float8E4M3Fn, &[0xff], DType::Float8E4M3Fnuz),
            [0x80]
        );
    }

    #[test]
    fn half_and_bfloat16() {
        // float32 -> bfloat16: ties to even, overflow to inf, NaN canonical with sign.
        let v = [
            f32::from_bits(0x3f80_8000), // tie, even below
            f32::from_bits(0x3f81_8000), // tie, odd below -> up
            f32::from_bits(0x3f80_8001),
            f32::MAX,
            f32::from_bits(0xffc0_0001),
        ];
        let out = cast_vec(DType::Float32, &f32s(&v), DType::BFloat16);
        let bits: Vec<u16> = out
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(bits, [0x3f80, 0x3f82, 0x3f81, 0x7f80, 0xffc0]);
        // bfloat16 -> float32 is exact (the bench's fast path), including NaN payloads.
        let back = cast_vec(DType::BFloat16, &out, DType::Float32);
        assert_eq!(&back[4..8], &0x3f82_0000u32.to_le_bytes());
        // float64 -> bfloat16 rounds through float32 (Eigen): 1 + 2^-8 + 2^-30 rounds to
        // f32 1 + 2^-8 (a bf16 tie) and then to even 1.0, while a direct rounding would go up.
        let x = 1.0 + 2f64.powi(-8) + 2f64.powi(-30);
        assert_eq!(
            cast_vec(DType::Float64, &f64s(&[x]), DType::BFloat16),
            0x3f80u16.to_le_bytes()
        );
        // float64 -> float16 rounds directly and uses every mantissa bit.
        let tie = 1.0 + 2f64.powi(-11);
        let out = cast_vec(
            DType::Float64,
            &f64s(&[tie, tie + 2f64.powi(-40), 65520.0, f64::NAN, -1.0]),
            DType::Float16,
        );
        let bits: Vec<u16> = out
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(bits, [0x3c00, 0x3c01, 0x7c00, 0x7e00, 0xbc00]);
        // float16 -> float32, NaN payload kept without quieting (numpy).
        let out = cast_vec(DType::Float16, &0x7c01u16.to_le_bytes(), DType::Float32);
        assert_eq!(out, 0x7f80_2000u32.to_le_bytes());
        // float16 -> e5m2 (ml_dtypes' bit-shift path): 0x3c80 is a tie -> even (0x3c).
        let h: Vec<u8> = [0x3c80u16, 0x3d80, 0x7c00, 0x7c01, 0xfbff]
            .iter()
            .flat_map(|b| b.to_le_bytes())
            .collect();
        assert_eq!(
            cast_vec(DType::Float16, &h, DType::Float8E5M2),
            [0x3c, 0x3e, 0x7c, 0x7e, 0xfc]
        );
        // e5m2 -> float16 is exact, NaN payload included.
        assert_eq!(
            cast_vec(DType::Float8E5M2, &[0x3c, 0x7d, 0xfc], DType::Float16),
            [0x00, 0x3c, 0x00, 0x7d, 0x00, 0xfc]
        );
    }

    #[test]
    fn float_to_int_truncates_and_wraps() {
        let v = f64s(&[2.9, -2.9, 300.0, -1.0, f64::NAN, f64::INFINITY, -1e30, 1e19]);
        assert_eq!(
            cast_vec(DType::Float64, &v, DType::Int8),
            [2, 0xfe, 44, 0xff, 0, 0x7f, 0x80, 0]
        );
        assert_eq!(
            cast_vec(DType::Float64, &v, DType::UInt8),
            [2, 0xfe, 44, 0xff, 0, 0xff, 0, 0]
        );
        let i64s: Vec<i64> = cast_vec(DType::Float64, &v, DType::Int64)
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(
            i64s,
            [
                2,
                -2,
                300,
                -1,
                0,
                i64::MAX,
                i64::MIN,
                10_000_000_000_000_000_000u64 as i64
            ]
        );
        let u64s: Vec<u64> = cast_vec(DType::Float64, &v, DType::UInt64)
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(u64s[3], u64::MAX);
        assert_eq!(u64s[5], u64::MAX);
        assert_eq!(u64s[7], 10_000_000_000_000_000_000);
        // float -> int4: truncate then wrap to 4 bits, sign-extended in host form.
        assert_eq!(
            cast_vec(DType::Float32, &f32s(&[7.9, 8.0, -8.5, -9.0]), DType::Int4),
            [7, 0xf8, 0xf8, 7]
        );
    }

    #[test]
    fn int_to_int_wraps_and_int_to_float_rounds_once() {
        let v: Vec<u8> = [300i64, -1, i64::MAX]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(cast_vec(DType::Int64, &v, DType::UInt8), [44, 255, 255]);
        assert_eq!(cast_vec(DType::Int64, &v, DType::Int4), [0xfc, 0xff, 0xff]);
        assert_eq!(cast_vec(DType::Int64, &v, DType::Int2), [0, 0xff, 0xff]);
        assert_eq!(cast_vec(DType::UInt8, &[200], DType::Int8), [200]);
        // int4 host bytes widen with their sign.
        assert_eq!(
            cast_vec(DType::Int4, &[0xff, 0x07], DType::Int16),
            [0xff, 0xff, 7, 0]
        );
        // 2^24 + 1 as int64 -> float32 rounds to even (2^24).
        let big = (1i64 << 24) + 1;
        assert_eq!(
            cast_vec(DType::Int64, &big.to_le_bytes(), DType::Float32),
            16_777_216f32.to_le_bytes()
        );
        // uint64 max -> float64 = 2^64.
        assert_eq!(
            as_f64s(&cast_vec(
                DType::UInt64,
                &u64::MAX.to_le_bytes(),
                DType::Float64
            )),
            [18_446_744_073_709_551_616.0]
        );
        // Integers into float8 go through float32.
        assert_eq!(
            cast_vec(DType::Int32, &1000i32.to_le_bytes(), DType::Float8E4M3Fn),
            [0x7f]
        );
        assert_eq!(
            cast_vec(DType::Int32, &(-3i32).to_le_bytes(), DType::Float8E4M3Fn),
            [0xc4]
        );
    }

    #[test]
    fn bools_and_complex() {
        let v = f64s(&[0.0, -0.0, 0.5, f64::NAN]);
        assert_eq!(cast_vec(DType::Float64, &v, DType::Bool), [0, 0, 1, 1]);
        assert_eq!(
            as_f64s(&cast_vec(DType::Bool, &[0, 1], DType::Float64)),
            [0.0, 1.0]
        );
        // complex -> real takes the real part; complex -> bool tests both parts.
        let c = f64s(&[1.5, -2.0, 0.0, 3.0, 0.0, 0.0]);
        assert_eq!(
            as_f64s(&cast_vec(DType::Complex128, &c, DType::Float64)),
            [1.5, 0.0, 0.0]
        );
        assert_eq!(cast_vec(DType::Complex128, &c, DType::Bool), [1, 1, 0]);
        assert_eq!(cast_vec(DType::Complex128, &c, DType::Int8), [1, 0, 0]);
        // real -> complex, complex128 -> complex64 per component.
        assert_eq!(
            cast_vec(DType::Float32, &f32s(&[2.5]), DType::Complex64),
            f32s(&[2.5, 0.0])
        );
        assert_eq!(
            cast_vec(DType::Complex128, &f64s(&[1.0, -0.1]), DType::Complex64),
            f32s(&[1.0, -0.1])
        );
        assert_eq!(
            cast_vec(DType::Int16, &(-7i16).to_le_bytes(), DType::Complex128),
            f64s(&[-7.0, 0.0])
        );
    }

    #[test]
    fn nan_signs_survive_float_casts() {
        let neg_nan = f64s(&[-f64::NAN]);
        let f32_bits = cast_vec(DType::Float64, &neg_nan, DType::Float32);
        assert_eq!(
            u32::from_le_bytes(f32_bits.clone().try_into().unwrap()),
            0xffc0_0000
        );
        let back = as_f64s(&cast_vec(DType::Float32, &f32_bits, DType::Float64))[0];
        assert!(back.is_nan() && back.is_sign_negative());
        // A float32 NaN payload survives float32 -> float64 -> float32.
        let payload = 0x7f80_1234u32.to_le_bytes();
        let wide = cast_vec(DType::Float32, &payload, DType::Float64);
        assert_eq!(cast_vec(DType::Float64, &wide, DType::Float32), payload);
    }

    #[test]
    fn identity_is_a_copy_and_blocks_cover_long_inputs() {
        let data: Vec<u8> = (0..4000u32)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        assert_eq!(cast_vec(DType::Float32, &data, DType::Float32), data);
        let as_i32 = cast_vec(DType::Float32, &data, DType::Int32);
        for (i, c) in as_i32.chunks_exact(4).enumerate() {
            assert_eq!(i32::from_le_bytes(c.try_into().unwrap()), i as i32);
        }
    }
}
