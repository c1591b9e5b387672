//! Small binary floating-point formats (float8 families, float4_e2m1fn, and float16 for
//! rounding from float64), described by a table and converted generically.
//!
//! The conversion from `f64` ports ml_dtypes' `ConvertImpl` (`ml_dtypes/include/float8.h`,
//! identical in 0.6.0, the version of the reference stack) so that casts reproduce numpy's
//! `astype` bit for bit: exact round-to-nearest-even from the source bits, overflow to the
//! format's `infinity()` (which is NaN for formats without infinity, and the largest finite
//! value for float4_e2m1fn), NaN to `quiet_NaN()` with the source sign applied by the format's
//! negation, zero to the signed zero (fnuz formats have no negative zero; e8m0fnu has no zero
//! at all and maps it to NaN). One deliberate deviation: ml_dtypes packs the result in a `u8`,
//! so for e8m0fnu an input in `[1.5·2^128, 2^129)` wraps around to `0x00`; we compute in `u64`
//! and return NaN (the overflow value) instead.

/// How a format marks NaN and infinity when decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Specials {
    /// IEEE style: all-ones exponent; zero mantissa = ±inf, otherwise NaN.
    Ieee,
    /// "fn": no infinity; all-ones exponent *and* mantissa is NaN (both signs).
    AllOnesNan,
    /// "fnuz": no infinity, no negative zero; the negative-zero pattern is the only NaN.
    NegZeroNan,
    /// e8m0fnu: unsigned, no zero; the all-ones pattern is NaN.
    AllOnesUnsigned,
    /// float4_e2m1fn: neither NaN nor infinity.
    None,
}

/// How ml_dtypes' unary minus acts on the bit pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Negation {
    /// Flip the sign bit.
    Flip,
    /// Flip the sign bit unless the magnitude bits are zero (fnuz: -0 would be NaN).
    FlipUnlessZero,
    /// Unsigned format: negation yields NaN.
    Nan,
}

/// One small float format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MiniFloat {
    /// Total bits (4, 8 or 16).
    pub bits: u32,
    /// Mantissa (fraction) bits.
    pub man_bits: u32,
    /// Exponent bias.
    pub bias: i32,
    /// Whether there is a sign bit.
    pub signed: bool,
    /// Whether the all-zero exponent encodes zero and subnormals (false only for e8m0fnu).
    pub has_zero: bool,
    /// Bits of the largest finite positive value.
    pub max_finite: u16,
    /// What ml_dtypes' `infinity()` returns (NaN for formats without infinity).
    pub inf: u16,
    /// What ml_dtypes' `quiet_NaN()` returns.
    pub nan: u16,
    pub specials: Specials,
    pub negation: Negation,
}

impl MiniFloat {
    fn sign_bit(&self) -> u16 {
        1 << (self.bits - 1)
    }

    fn mask(&self) -> u16 {
        if self.bits == 16 {
            u16::MAX
        } else {
            (1 << self.bits) - 1
        }
    }

    fn negate(&self, bits: u16) -> u16 {
        match self.negation {
            Negation::Flip => bits ^ self.sign_bit(),
            Negation::FlipUnlessZero => {
                if bits & (self.sign_bit() - 1) == 0 {
                    bits
                } else {
                    bits ^ self.sign_bit()
                }
            }
            Negation::Nan => self.nan,
        }
    }

    /// Rounds `x` to this format (round to nearest, ties to even), ml_dtypes semantics.
    pub fn encode(&self, x: f64) -> u16 {
        const F64_MAN_BITS: i32 = 52;
        const F64_BIAS: i32 = 1023;
        let bits = x.to_bits();
        let sign = bits >> 63 != 0;
        let abs = bits & !(1u64 << 63);
        let apply_sign = |r: u16| if sign { self.negate(r) } else { r };
        if abs == 0x7ff0_0000_0000_0000 {
            return apply_sign(self.inf);
        }
        if abs > 0x7ff0_0000_0000_0000 {
            return apply_sign(self.nan);
        }
        if abs == 0 {
            if !self.has_zero {
                return self.nan;
            }
            return if sign && self.signed {
                self.negate(0)
            } else {
                0
            };
        }
        if sign && !self.signed {
            return self.nan;
        }
        // Normalise to (unbiased exponent, mantissa with the implicit bit at bit 52).
        let biased = (abs >> F64_MAN_BITS) as i32;
        let fraction = abs & ((1u64 << F64_MAN_BITS) - 1);
        let (unbiased, mantissa) = if biased != 0 {
            (biased - F64_BIAS, (1u64 << F64_MAN_BITS) | fraction)
        } else {
            let shift = fraction.leading_zeros() as i32 - (64 - F64_MAN_BITS) + 1;
            (1 - F64_BIAS - shift, fraction << shift)
        };
        // `base` is the target biased exponent minus one: the implicit bit, still present in
        // the aligned mantissa, adds the one back when the two are summed below.
        let base = unbiased + self.bias - 1;
        let denormal = (-base).max(0);
        let shift = ((F64_MAN_BITS - self.man_bits as i32) + denormal).min(F64_MAN_BITS + 2) as u32;
        let rounded = round_bits_to_nearest_even(mantissa, shift);
        let aligned = rounded >> shift;
        let result = aligned + ((base.max(0) as u64) << self.man_bits);
        let result = if result > u64::from(self.max_finite) {
            self.inf
        } else {
            result as u16
        };
        apply_sign(result)
    }

    /// The exact value of `bits` (upper bits beyond the format's width are ignored).
    pub fn decode(&self, bits: u16) -> f64 {
        let bits = bits & self.mask();
        let negative = self.signed && bits & self.sign_bit() != 0;
        let magnitude = if self.signed {
            bits & (self.sign_bit() - 1)
        } else {
            bits
        };
        let signed_nan = |negative: bool| if negative { -f64::NAN } else { f64::NAN };
        let exp_field = magnitude >> self.man_bits;
        let man_field = magnitude & ((1 << self.man_bits) - 1);
        let exp_all_ones = exp_field == self.exp_all_ones();
        match self.specials {
            Specials::Ieee if exp_all_ones => {
                return if man_field == 0 {
                    if negative {
                        f64::NEG_INFINITY
                    } else {
                        f64::INFINITY
                    }
                } else {
                    signed_nan(negative)
                };
            }
            Specials::AllOnesNan if exp_all_ones && man_field == (1 << self.man_bits) - 1 => {
                return signed_nan(negative);
            }
            // ml_dtypes reads the sign bit of 0x80, so this NaN converts to a negative NaN.
            Specials::NegZeroNan if bits == self.sign_bit() => return signed_nan(true),
            Specials::AllOnesUnsigned if bits == self.mask() => return f64::NAN,
            _ => {}
        }
        let value = if exp_field == 0 && self.has_zero {
            man_field as f64 * pow2(1 - self.bias - self.man_bits as i32)
        } else {
            ((1u64 << self.man_bits) + u64::from(man_field)) as f64
                * pow2(i32::from(exp_field) - self.bias - self.man_bits as i32)
        };
        if negative {
            -value
        } else {
            value
        }
    }

    fn exp_all_ones(&self) -> u16 {
        let exp_bits = self.bits - u32::from(self.signed) - self.man_bits;
        (1 << exp_bits) - 1
    }
}

/// Adds the bias that makes a right shift by `roundoff` round to nearest, ties to even.
fn round_bits_to_nearest_even(bits: u64, roundoff: u32) -> u64 {
    if roundoff == 0 {
        return bits;
    }
    let bias = ((bits >> roundoff) & 1) + (1u64 << (roundoff - 1)) - 1;
    bits + bias
}

/// 2^e as f64, exact for the exponents used here (|e| < 1000).
fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        // Subnormal results do not occur for these formats; keep a correct fallback anyway.
        2f64.powi(e)
    }
}

/// float8_e4m3fn: max 448 = 0x7e, NaN 0x7f/0xff, no infinity.
pub(crate) const F8_E4M3FN: MiniFloat = MiniFloat {
    bits: 8,
    man_bits: 3,
    bias: 7,
    signed: true,
    has_zero: true,
    max_finite: 0x7e,
    inf: 0x7f,
    nan: 0x7f,
    specials: Specials::AllOnesNan,
    negation: Negation::Flip,
};

/// float8_e5m2: IEEE-like, max 57344 = 0x7b, inf 0x7c, NaN 0x7d..0x7f.
pub(crate) const F8_E5M2: MiniFloat = MiniFloat {
    bits: 8,
    man_bits: 2,
    bias: 15,
    signed: true,
    has_zero: true,
    max_finite: 0x7b,
    inf: 0x7c,
    nan: 0x7e,
    specials: Specials::Ieee,
    negation: Negation::Flip,
};

/// float8_e4m3fnuz: bias 8, max 240 = 0x7f, NaN 0x80.
pub(crate) const F8_E4M3FNUZ: MiniFloat = MiniFloat {
    bits: 8,
    man_bits: 3,
    bias: 8,
    signed: true,
    has_zero: true,
    max_finite: 0x7f,
    inf: 0x80,
    nan: 0x80,
    specials: Specials::NegZeroNan,
    negation: Negation::FlipUnlessZero,
};

/// float8_e5m2fnuz: bias 16, max 57344 = 0x7f, NaN 0x80.
pub(crate) const F8_E5M2FNUZ: MiniFloat = MiniFloat {
    bits: 8,
    man_bits: 2,
    bias: 16,
    signed: true,
    has_zero: true,
    max_finite: 0x7f,
    inf: 0x80,
    nan: 0x80,
    specials: Specials::NegZeroNan,
    negation: Negation::FlipUnlessZero,
};

/// float8_e4m3b11fnuz: bias 11, max 30 = 0x7f, NaN 0x80.
pub(crate) const F8_E4M3B11FNUZ: MiniFloat = MiniFloat {
    bits: 8,
    man_bits: 3,
    bias: 11,
    signed: true,
    has_zero: true,
    max_finite: 0x7f,
    inf: 0x80,
    nan: 0x80,
    specials: Specials::NegZeroNan,
    negation: Negation::FlipUnlessZero,
};

/// float8_e3m4: IEEE-like, bias 3, max 15.5 = 0x6f, inf 0x70, NaN 0x71..0x7f.
pub(crate) const F8_E3M4: MiniFloat = MiniFloat {
    bits: 8,
    man_bits: 4,
    bias: 3,
    signed: true,
    has_zero: true,
    max_finite: 0x6f,
    inf: 0x70,
    nan: 0x78,
    specials: Specials::Ieee,
    negation: Negation::Flip,
};

/// float8_e8m0fnu: unsigned powers of two 2^(e-127), 1.0 = 0x7f, max 2^127 = 0xfe, NaN 0xff.
pub(crate) const F8_E8M0FNU: MiniFloat = MiniFloat {
    bits: 8,
    man_bits: 0,
    bias: 127,
    signed: false,
    has_zero: false,
    max_finite: 0xfe,
    inf: 0xff,
    nan: 0xff,
    specials: Specials::AllOnesUnsigned,
    negation: Negation::Nan,
};

/// float4_e2m1fn: values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}, max 6 = 0x7; no NaN or infinity.
/// ml_dtypes maps overflow and ±inf to ±6 and NaN to the bit pattern 0x8 (-0.0).
pub(crate) const F4_E2M1FN: MiniFloat = MiniFloat {
    bits: 4,
    man_bits: 1,
    bias: 1,
    signed: true,
    has_zero: true,
    max_finite: 0x7,
    inf: 0x7,
    nan: 0x8,
    specials: Specials::None,
    negation: Negation::Flip,
};

/// IEEE binary16, used for correctly rounded float64 -> float16 (numpy rounds doubles to half
/// directly; the `half` crate's `from_f64` ignores the low 32 mantissa bits when rounding).
/// NaN handling for float16 is done by the caller (numpy keeps the payload).
pub(crate) const F16: MiniFloat = MiniFloat {
    bits: 16,
    man_bits: 10,
    bias: 15,
    signed: true,
    has_zero: true,
    max_finite: 0x7bff,
    inf: 0x7c00,
    nan: 0x7e00,
    specials: Specials::Ieee,
    negation: Negation::Flip,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn all_formats() -> Vec<(&'static str, MiniFloat)> {
        vec![
            ("e4m3fn", F8_E4M3FN),
            ("e5m2", F8_E5M2),
            ("e4m3fnuz", F8_E4M3FNUZ),
            ("e5m2fnuz", F8_E5M2FNUZ),
            ("e4m3b11fnuz", F8_E4M3B11FNUZ),
            ("e3m4", F8_E3M4),
            ("e8m0fnu", F8_E8M0FNU),
            ("e2m1fn", F4_E2M1FN),
        ]
    }

    #[test]
    fn maxima_match_ml_dtypes() {
        assert_eq!(F8_E4M3FN.decode(0x7e), 448.0);
        assert_eq!(F8_E5M2.decode(0x7b), 57344.0);
        assert_eq!(F8_E4M3FNUZ.decode(0x7f), 240.0);
        assert_eq!(F8_E5M2FNUZ.decode(0x7f), 57344.0);
        assert_eq!(F8_E4M3B11FNUZ.decode(0x7f), 30.0);
        assert_eq!(F8_E3M4.decode(0x6f), 15.5);
        assert_eq!(F8_E8M0FNU.decode(0xfe), 2f64.powi(127));
        assert_eq!(F4_E2M1FN.decode(0x7), 6.0);
        assert_eq!(F16.decode(0x7bff), 65504.0);
    }

    #[test]
    fn specials_decode() {
        assert!(F8_E4M3FN.decode(0x7f).is_nan());
        assert!(F8_E4M3FN.decode(0xff).is_nan());
        assert_eq!(F8_E4M3FN.decode(0x78), 256.0);
        assert_eq!(F8_E5M2.decode(0x7c), f64::INFINITY);
        assert_eq!(F8_E5M2.decode(0xfc), f64::NEG_INFINITY);
        assert!(F8_E5M2.decode(0x7d).is_nan());
        assert_eq!(F8_E3M4.decode(0x70), f64::INFINITY);
        assert!(F8_E3M4.decode(0x78).is_nan());
        for f in [F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E4M3B11FNUZ] {
            let nan = f.decode(0x80);
            assert!(nan.is_nan() && nan.is_sign_negative());
            assert_eq!(f.decode(0x00), 0.0);
        }
        assert!(F8_E8M0FNU.decode(0xff).is_nan());
        assert_eq!(F8_E8M0FNU.decode(0x7f), 1.0);
        assert_eq!(F8_E8M0FNU.decode(0x00), 2f64.powi(-127));
        // float4: the 0x8 pattern is -0.0, not NaN.
        let neg_zero = F4_E2M1FN.decode(0x8);
        assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
        assert_eq!(F4_E2M1FN.decode(0xf), -6.0);
        // Upper bits beyond the width are ignored.
        assert_eq!(F4_E2M1FN.decode(0xf1), 0.5);
        assert_eq!(F4_E2M1FN.decode(0xf9), -0.5);
    }

    #[test]
    fn smallest_normals_and_subnormals() {
        // (format, smallest normal, smallest subnormal), from the dtypes fixture values.
        let cases = [
            (F8_E4M3FN, 0.015625, 0.001953125),
            (F8_E5M2, 6.103515625e-05, 1.52587890625e-05),
            (F8_E4M3FNUZ, 0.0078125, 0.0009765625),
            (F8_E5M2FNUZ, 3.0517578125e-05, 7.62939453125e-06),
            (F8_E4M3B11FNUZ, 0.0009765625, 0.0001220703125),
            (F8_E3M4, 0.25, 0.015625),
            (F4_E2M1FN, 1.0, 0.5),
        ];
        for (f, normal, subnormal) in cases {
            assert_eq!(f.decode(1 << f.man_bits), normal);
            assert_eq!(f.decode(1), subnormal);
            assert_eq!(f.encode(normal), 1 << f.man_bits);
            assert_eq!(f.encode(subnormal), 1);
            // Half the smallest subnormal is a tie with zero: rounds to even (zero).
            assert_eq!(f.encode(subnormal / 2.0), 0);
            assert_eq!(f.encode(subnormal * 0.75), 1);
        }
    }

    #[test]
    fn every_finite_pattern_round_trips() {
        for (name, f) in all_formats() {
            for bits in 0..(1u16 << f.bits) {
                let v = f.decode(bits);
                if v.is_nan() {
                    continue;
                }
                let back = f.encode(v);
                // fnuz formats have a single zero; e4m3fnuz etc. decode 0x00 only.
                assert_eq!(back, bits, "{name} {bits:#x} -> {v} -> {back:#x}");
            }
        }
    }

    #[test]
    fn overflow_and_rounding_edges() {
        // e4m3fn: 464 is the tie between 448 (0x7e, even) and the NaN slot: rounds to 448.
        assert_eq!(F8_E4M3FN.encode(464.0), 0x7e);
        assert_eq!(F8_E4M3FN.encode(465.0), 0x7f);
        assert_eq!(F8_E4M3FN.encode(-1e9), 0xff);
        assert_eq!(F8_E4M3FN.encode(f64::INFINITY), 0x7f);
        assert_eq!(F8_E4M3FN.encode(f64::NAN), 0x7f);
        assert_eq!(F8_E4M3FN.encode(-f64::NAN), 0xff);
        assert_eq!(F8_E4M3FN.encode(-0.0), 0x80);
        // e5m2: 61440 ties between 0x7b (odd) and inf: rounds up to inf.
        assert_eq!(F8_E5M2.encode(61439.0), 0x7b);
        assert_eq!(F8_E5M2.encode(61440.0), 0x7c);
        assert_eq!(F8_E5M2.encode(f64::NEG_INFINITY), 0xfc);
        assert_eq!(F8_E5M2.encode(f64::NAN), 0x7e);
        // fnuz: overflow, inf and NaN all become 0x80; -0.0 becomes +0.
        for f in [F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E4M3B11FNUZ] {
            assert_eq!(f.encode(1e10), 0x80);
            assert_eq!(f.encode(f64::NEG_INFINITY), 0x80);
            assert_eq!(f.encode(-f64::NAN), 0x80);
            assert_eq!(f.encode(-0.0), 0x00);
            assert_eq!(f.encode(-1.0), f.encode(1.0) | 0x80);
        }
        assert_eq!(F8_E4M3B11FNUZ.encode(30.0), 0x7f);
        assert_eq!(F8_E4M3FNUZ.encode(240.0), 0x7f);
        assert_eq!(F8_E5M2FNUZ.encode(57344.0), 0x7f);
        // e3m4
        assert_eq!(F8_E3M4.encode(15.5), 0x6f);
        assert_eq!(F8_E3M4.encode(15.75), 0x70); // tie, 0x6f odd -> up -> inf
        assert_eq!(F8_E3M4.encode(f64::NAN), 0x78);
        // e8m0fnu: powers of two; zero and negatives are NaN; ties round up (the implicit
        // bit is the "odd" bit ml_dtypes rounds on).
        assert_eq!(F8_E8M0FNU.encode(1.0), 0x7f);
        assert_eq!(F8_E8M0FNU.encode(3.0), 0x81);
        assert_eq!(F8_E8M0FNU.encode(2.9), 0x80);
        assert_eq!(F8_E8M0FNU.encode(0.0), 0xff);
        assert_eq!(F8_E8M0FNU.encode(-1.0), 0xff);
        assert_eq!(F8_E8M0FNU.encode(f64::INFINITY), 0xff);
        assert_eq!(F8_E8M0FNU.encode(2f64.powi(127)), 0xfe);
        assert_eq!(F8_E8M0FNU.encode(1.75 * 2f64.powi(128)), 0xff);
        // float4: saturates, NaN -> 0x8 (-0), -NaN -> 0x0, 5 ties to 4 (even).
        assert_eq!(F4_E2M1FN.encode(6.0), 0x7);
        assert_eq!(F4_E2M1FN.encode(7.0), 0x7);
        assert_eq!(F4_E2M1FN.encode(f64::NEG_INFINITY), 0xf);
        assert_eq!(F4_E2M1FN.encode(f64::NAN), 0x8);
        assert_eq!(F4_E2M1FN.encode(-f64::NAN), 0x0);
        assert_eq!(F4_E2M1FN.encode(5.0), 0x6);
        assert_eq!(F4_E2M1FN.encode(0.25), 0x0);
        assert_eq!(F4_E2M1FN.encode(0.26), 0x1);
        assert_eq!(F4_E2M1FN.encode(-0.75), 0xa);
    }

    #[test]
    fn float16_rounding_uses_all_f64_bits() {
        // 1 + 2^-11 is a tie between 1.0 and 1 + 2^-10; a sticky bit below bit 32 of the f64
        // mantissa breaks it upward.
        let tie = 1.0 + 2f64.powi(-11);
        assert_eq!(F16.encode(tie), 0x3c00);
        assert_eq!(F16.encode(tie + 2f64.powi(-40)), 0x3c01);
        assert_eq!(F16.encode(65504.0), 0x7bff);
        assert_eq!(F16.encode(65520.0), 0x7c00);
        assert_eq!(F16.encode(65519.99), 0x7bff);
        assert_eq!(F16.encode(5.960464477539063e-08), 0x0001);
        assert_eq!(F16.encode(-2.98e-08), 0x8000);
        assert_eq!(F16.encode(-2.99e-08), 0x8001);
        assert_eq!(F16.encode(-2.9802322387695312e-08), 0x8000);
        assert_eq!(F16.encode(f64::MIN_POSITIVE), 0);
    }
}
