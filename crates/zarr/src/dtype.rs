//! Element types: names in numpy / zarr v2 / zarr v3 spelling, sizes, and the conversion
//! between the on-disk element bytes and the host representation handed to JavaScript.
//!
//! Host representation (what JS typed arrays hold; the TS layer does no byte logic):
//! little-endian element bytes; bool one 0/1 byte; complex interleaved re, im; float16 and
//! bfloat16 raw 16-bit patterns; float8/float4 one raw-bit byte each (float4 in the low
//! nibble); int4 and int2 one sign-extended `i8` per element. On disk (zarr v2 and v3, as
//! TensorStore writes them) every sub-byte type also takes one byte, holding the value's
//! two's-complement bits in the low 4/2 bits with the upper bits zero (int4 −1 is `0x0f` on
//! disk and `0xff` in host form).

use std::fmt;

/// Byte order of multi-byte elements on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Endian {
    /// Little endian (what Orbax/TensorStore write; the host representation is always this).
    #[default]
    Little,
    /// Big endian (accepted on read: zarr v2 `>f4`, zarr v3 `bytes` with `"endian":"big"`).
    Big,
}

/// The element types Orbax checkpoints can hold (every dtype TensorStore 0.1.86 stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variant names are the numpy names
pub enum DType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float16,
    BFloat16,
    Float32,
    Float64,
    Complex64,
    Complex128,
    Float8E4M3Fn,
    Float8E5M2,
    Float8E4M3Fnuz,
    Float8E5M2Fnuz,
    Float8E4M3B11Fnuz,
    Float8E3M4,
    Float8E8M0Fnu,
    Float4E2M1Fn,
    Int4,
    Int2,
}

/// Broad category of a dtype, for casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DTypeKind {
    /// `bool`.
    Bool,
    /// Signed integers, including int4 and int2.
    SignedInt,
    /// Unsigned integers.
    UnsignedInt,
    /// Real floating point of any width.
    Float,
    /// Complex floating point.
    Complex,
}

impl DType {
    /// Every supported dtype.
    pub const ALL: [DType; 25] = [
        DType::Bool,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::UInt8,
        DType::UInt16,
        DType::UInt32,
        DType::UInt64,
        DType::Float16,
        DType::BFloat16,
        DType::Float32,
        DType::Float64,
        DType::Complex64,
        DType::Complex128,
        DType::Float8E4M3Fn,
        DType::Float8E5M2,
        DType::Float8E4M3Fnuz,
        DType::Float8E5M2Fnuz,
        DType::Float8E4M3B11Fnuz,
        DType::Float8E3M4,
        DType::Float8E8M0Fnu,
        DType::Float4E2M1Fn,
        DType::Int4,
        DType::Int2,
    ];

    /// The numpy / ml_dtypes name (`"float32"`, `"bfloat16"`, `"float8_e4m3fn"`, `"int4"`).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::Int8 => "int8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::UInt8 => "uint8",
            DType::UInt16 => "uint16",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Complex64 => "complex64",
            DType::Complex128 => "complex128",
            DType::Float8E4M3Fn => "float8_e4m3fn",
            DType::Float8E5M2 => "float8_e5m2",
            DType::Float8E4M3Fnuz => "float8_e4m3fnuz",
            DType::Float8E5M2Fnuz => "float8_e5m2fnuz",
            DType::Float8E4M3B11Fnuz => "float8_e4m3b11fnuz",
            DType::Float8E3M4 => "float8_e3m4",
            DType::Float8E8M0Fnu => "float8_e8m0fnu",
            DType::Float4E2M1Fn => "float4_e2m1fn",
            DType::Int4 => "int4",
            DType::Int2 => "int2",
        }
    }

    /// The dtype with numpy name `name`, if supported.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The zarr v2 `dtype` string TensorStore writes: numpy typestr for numpy types (`"<f4"`,
    /// `"|b1"`, `"|i1"`, `"<c8"`), the bare name for ml_dtypes types (`"bfloat16"`,
    /// `"float8_e4m3fn"`, `"int4"`).
    pub fn zarr_v2(self) -> &'static str {
        match self {
            DType::Bool => "|b1",
            DType::Int8 => "|i1",
            DType::Int16 => "<i2",
            DType::Int32 => "<i4",
            DType::Int64 => "<i8",
            DType::UInt8 => "|u1",
            DType::UInt16 => "<u2",
            DType::UInt32 => "<u4",
            DType::UInt64 => "<u8",
            DType::Float16 => "<f2",
            DType::Float32 => "<f4",
            DType::Float64 => "<f8",
            DType::Complex64 => "<c8",
            DType::Complex128 => "<c16",
            other => other.name(),
        }
    }

    /// Parses a zarr v2 `dtype` string. Besides what [`DType::zarr_v2`] produces, accepts
    /// big-endian typestrs (`">f4"`, returned with [`Endian::Big`]) and any of `<`, `>`, `|`
    /// for one-byte types. Structured dtypes (JSON arrays) are not strings and not accepted.
    pub fn from_zarr_v2(s: &str) -> Option<(DType, Endian)> {
        if let Some(d) = DType::from_name(s) {
            // Bare names are only valid for the ml_dtypes types (TensorStore's spelling);
            // "float32" etc. are not zarr v2 typestrs.
            return (d.zarr_v2() == d.name()).then_some((d, Endian::Little));
        }
        let mut chars = s.chars();
        let order = chars.next()?;
        let endian = match order {
            '<' | '|' => Endian::Little,
            '>' => Endian::Big,
            _ => return None,
        };
        let dtype = match chars.as_str() {
            "b1" => DType::Bool,
            "i1" => DType::Int8,
            "i2" => DType::Int16,
            "i4" => DType::Int32,
            "i8" => DType::Int64,
            "u1" => DType::UInt8,
            "u2" => DType::UInt16,
            "u4" => DType::UInt32,
            "u8" => DType::UInt64,
            "f2" => DType::Float16,
            "f4" => DType::Float32,
            "f8" => DType::Float64,
            "c8" => DType::Complex64,
            "c16" => DType::Complex128,
            _ => return None,
        };
        // numpy writes "|" only for one-byte types; a multi-byte type needs a byte order.
        if order == '|' && dtype.storage_size() > 1 {
            return None;
        }
        let endian = if dtype.storage_size() == 1 {
            Endian::Little
        } else {
            endian
        };
        Some((dtype, endian))
    }

    /// The zarr v3 `data_type` name (TensorStore uses the numpy / ml_dtypes names).
    pub fn zarr_v3(self) -> &'static str {
        self.name()
    }

    /// Parses a zarr v3 `data_type` name.
    pub fn from_zarr_v3(s: &str) -> Option<DType> {
        DType::from_name(s)
    }

    /// Bytes per element on disk (1 for the sub-byte types, which are not packed).
    pub fn storage_size(self) -> usize {
        match self {
            DType::Bool
            | DType::Int8
            | DType::UInt8
            | DType::Float8E4M3Fn
            | DType::Float8E5M2
            | DType::Float8E4M3Fnuz
            | DType::Float8E5M2Fnuz
            | DType::Float8E4M3B11Fnuz
            | DType::Float8E3M4
            | DType::Float8E8M0Fnu
            | DType::Float4E2M1Fn
            | DType::Int4
            | DType::Int2 => 1,
            DType::Int16 | DType::UInt16 | DType::Float16 | DType::BFloat16 => 2,
            DType::Int32 | DType::UInt32 | DType::Float32 => 4,
            DType::Int64 | DType::UInt64 | DType::Float64 | DType::Complex64 => 8,
            DType::Complex128 => 16,
        }
    }

    /// Bytes per element in the host representation (equal to [`DType::storage_size`] for
    /// every supported type; int4/int2 widen to one `i8` either way).
    pub fn host_size(self) -> usize {
        self.storage_size()
    }

    /// Size of one byte-swappable component: the element size, or half of it for complex.
    pub fn component_size(self) -> usize {
        match self {
            DType::Complex64 => 4,
            DType::Complex128 => 8,
            other => other.storage_size(),
        }
    }

    /// The dtype's category.
    pub fn kind(self) -> DTypeKind {
        match self {
            DType::Bool => DTypeKind::Bool,
            DType::Int8
            | DType::Int16
            | DType::Int32
            | DType::Int64
            | DType::Int4
            | DType::Int2 => DTypeKind::SignedInt,
            DType::UInt8 | DType::UInt16 | DType::UInt32 | DType::UInt64 => DTypeKind::UnsignedInt,
            DType::Complex64 | DType::Complex128 => DTypeKind::Complex,
            _ => DTypeKind::Float,
        }
    }

    /// Whether elements are narrower than a byte on disk (int4, int2, float4_e2m1fn).
    pub fn is_sub_byte(self) -> bool {
        matches!(self, DType::Int4 | DType::Int2 | DType::Float4E2M1Fn)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Converts on-disk element bytes to the host representation, in place: byte-swaps
/// big-endian data, sign-extends int4/int2 from their low bits, masks float4 to its nibble
/// and normalises bools to 0/1. A no-op for little-endian types of whole bytes.
pub fn disk_to_host_in_place(dtype: DType, endian: Endian, buf: &mut [u8]) {
    match dtype {
        DType::Bool => buf.iter_mut().for_each(|b| *b = u8::from(*b != 0)),
        DType::Int4 => buf
            .iter_mut()
            .for_each(|b| *b = (((*b << 4) as i8) >> 4) as u8),
        DType::Int2 => buf
            .iter_mut()
            .for_each(|b| *b = (((*b << 6) as i8) >> 6) as u8),
        DType::Float4E2M1Fn => buf.iter_mut().for_each(|b| *b &= 0x0f),
        _ => {
            if endian == Endian::Big {
                swap_components(buf, dtype.component_size());
            }
        }
    }
}

/// Converts host-representation bytes to the little-endian on-disk form, in place: int4/int2
/// keep only their low 4/2 bits, float4 its low nibble, bools become 0/1.
pub fn host_to_disk_in_place(dtype: DType, buf: &mut [u8]) {
    match dtype {
        DType::Bool => buf.iter_mut().for_each(|b| *b = u8::from(*b != 0)),
        DType::Int4 | DType::Float4E2M1Fn => buf.iter_mut().for_each(|b| *b &= 0x0f),
        DType::Int2 => buf.iter_mut().for_each(|b| *b &= 0x03),
        _ => {}
    }
}

/// [`host_to_disk_in_place`] into a new buffer (what a writer hashes or compresses).
pub fn host_to_disk(dtype: DType, host: &[u8]) -> Vec<u8> {
    let mut out = host.to_vec();
    host_to_disk_in_place(dtype, &mut out);
    out
}

/// Converts host-representation bytes to the on-disk form with the given byte order.
pub(crate) fn host_to_disk_with_endian(dtype: DType, endian: Endian, buf: &mut [u8]) {
    host_to_disk_in_place(dtype, buf);
    if endian == Endian::Big && !dtype.is_sub_byte() && dtype != DType::Bool {
        swap_components(buf, dtype.component_size());
    }
}

fn swap_components(buf: &mut [u8], size: usize) {
    if size > 1 {
        buf.chunks_exact_mut(size).for_each(|c| c.reverse());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
            assert_eq!(DType::from_zarr_v3(d.zarr_v3()), Some(d));
            assert_eq!(DType::from_zarr_v2(d.zarr_v2()), Some((d, Endian::Little)));
            assert_eq!(d.to_string(), d.name());
        }
        assert_eq!(DType::from_name("uint4"), None);
        assert_eq!(DType::from_name("object"), None);
    }

    #[test]
    fn zarr_v2_table_matches_the_layout_spec() {
        let table = [
            (DType::Bool, "|b1"),
            (DType::Int8, "|i1"),
            (DType::UInt8, "|u1"),
            (DType::Int16, "<i2"),
            (DType::UInt64, "<u8"),
            (DType::Float16, "<f2"),
            (DType::Float32, "<f4"),
            (DType::Complex64, "<c8"),
            (DType::Complex128, "<c16"),
            (DType::BFloat16, "bfloat16"),
            (DType::Float8E4M3Fn, "float8_e4m3fn"),
            (DType::Float8E4M3B11Fnuz, "float8_e4m3b11fnuz"),
            (DType::Int4, "int4"),
            (DType::Int2, "int2"),
            (DType::Float4E2M1Fn, "float4_e2m1fn"),
        ];
        for (d, s) in table {
            assert_eq!(d.zarr_v2(), s);
        }
    }

    #[test]
    fn zarr_v2_parsing_accepts_byte_orders() {
        assert_eq!(
            DType::from_zarr_v2(">f4"),
            Some((DType::Float32, Endian::Big))
        );
        assert_eq!(
            DType::from_zarr_v2(">c16"),
            Some((DType::Complex128, Endian::Big))
        );
        assert_eq!(
            DType::from_zarr_v2("<u1"),
            Some((DType::UInt8, Endian::Little))
        );
        assert_eq!(
            DType::from_zarr_v2(">b1"),
            Some((DType::Bool, Endian::Little))
        );
        for bad in [
            "|f4", "float32", "<f16", "f4", "", "<U8", "|O", "uint4", "<M8[s]",
        ] {
            assert_eq!(DType::from_zarr_v2(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(DType::Complex128.storage_size(), 16);
        assert_eq!(DType::Complex128.component_size(), 8);
        assert_eq!(DType::BFloat16.host_size(), 2);
        for d in [DType::Int4, DType::Int2, DType::Float4E2M1Fn] {
            assert_eq!(d.storage_size(), 1);
            assert_eq!(d.host_size(), 1);
            assert!(d.is_sub_byte());
        }
    }

    #[test]
    fn sub_byte_conversions() {
        // int4 on disk: low nibble two's complement.
        let mut buf = vec![0x0f, 0x08, 0x07, 0x00, 0x0e];
        disk_to_host_in_place(DType::Int4, Endian::Little, &mut buf);
        assert_eq!(buf, [0xff, 0xf8, 0x07, 0x00, 0xfe]);
        host_to_disk_in_place(DType::Int4, &mut buf);
        assert_eq!(buf, [0x0f, 0x08, 0x07, 0x00, 0x0e]);
        // int2: -1 = 0x03, -2 = 0x02, 1 = 0x01.
        let mut buf = vec![0x03, 0x02, 0x01, 0x00];
        disk_to_host_in_place(DType::Int2, Endian::Little, &mut buf);
        assert_eq!(buf, [0xff, 0xfe, 0x01, 0x00]);
        assert_eq!(host_to_disk(DType::Int2, &buf), [0x03, 0x02, 0x01, 0x00]);
        // float4 keeps its nibble; bool normalises.
        assert_eq!(host_to_disk(DType::Float4E2M1Fn, &[0xf7]), [0x07]);
        let mut b = vec![0, 1, 2, 255];
        disk_to_host_in_place(DType::Bool, Endian::Little, &mut b);
        assert_eq!(b, [0, 1, 1, 1]);
    }

    #[test]
    fn big_endian_is_swapped_per_component() {
        let mut buf = vec![0x3f, 0x80, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00];
        disk_to_host_in_place(DType::Complex64, Endian::Big, &mut buf);
        assert_eq!(
            buf,
            [1f32.to_le_bytes(), 2f32.to_le_bytes()].concat().as_slice()
        );
        let mut round = buf.clone();
        host_to_disk_with_endian(DType::Complex64, Endian::Big, &mut round);
        assert_eq!(round, [0x3f, 0x80, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00]);
        // Little endian is untouched.
        let mut le = vec![1, 2, 3, 4];
        disk_to_host_in_place(DType::Float32, Endian::Little, &mut le);
        assert_eq!(le, [1, 2, 3, 4]);
    }
}
