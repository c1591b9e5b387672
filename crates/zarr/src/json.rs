//! A minimal JSON value and writer that reproduces TensorStore's metadata bytes: compact,
//! object keys sorted bytewise, and numbers printed the way nlohmann::json prints them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A JSON value. Objects are `BTreeMap`s so keys always serialise in byte order, which is
/// what TensorStore emits (independent of serde_json's `preserve_order` feature).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn object<const N: usize>(pairs: [(&str, Json); N]) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// A JSON array of unsigned integers.
    pub fn uints(values: &[u64]) -> Json {
        Json::Array(values.iter().map(|&v| Json::UInt(v)).collect())
    }

    /// Converts a parsed serde_json value, keeping the integer/float distinction.
    pub fn from_serde(v: &serde_json::Value) -> Json {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Json::UInt(u)
                } else if let Some(i) = n.as_i64() {
                    Json::Int(i)
                } else {
                    Json::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Json::Str(s.clone()),
            serde_json::Value::Array(a) => Json::Array(a.iter().map(Json::from_serde).collect()),
            serde_json::Value::Object(o) => Json::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Json::from_serde(v)))
                    .collect(),
            ),
        }
    }

    /// Compact serialisation.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            Json::Float(f) => out.push_str(&format_double(*f)),
            Json::Str(s) => write_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// nlohmann's string escaping with `ensure_ascii = false`: only `"`, `\` and control
/// characters are escaped.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats a finite double like nlohmann::json's `dump()`: shortest round-trip digits, plain
/// notation with a trailing `.0` for decimal exponents in (-4, 15], otherwise `d.ddde+XX`.
/// Non-finite values print as `null` (nlohmann's behaviour; callers spell them as strings).
pub(crate) fn format_double(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` prints the shortest digits that round-trip: "d.ddde<exp>".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().expect("integer exponent");
    let k = digits.len() as i32;
    // value = 0.d1d2...dk × 10^n
    let n = exp + 1;
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    const MIN_EXP: i32 = -4;
    const MAX_EXP: i32 = 15;
    if k <= n && n <= MAX_EXP {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
        out.push_str(".0");
    } else if 0 < n && n <= MAX_EXP {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if MIN_EXP < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_nlohmann() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456789012345.0, "123456789012345.0"),
            (1e14, "100000000000000.0"),
            (1e15, "1e+15"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (5.877471754111438e-39, "5.877471754111438e-39"),
            (3.4028234663852886e38, "3.4028234663852886e+38"),
            (f64::from(0.1f32), "0.10000000149011612"),
            (1234.5678, "1234.5678"),
        ];
        for (x, s) in cases {
            assert_eq!(format_double(x), s, "{x}");
        }
        assert_eq!(format_double(f64::NAN), "null");
    }

    #[test]
    fn objects_are_compact_and_sorted() {
        let j = Json::object([
            ("zarr_format", Json::UInt(2)),
            ("chunks", Json::uints(&[2, 3])),
            ("compressor", Json::Null),
            ("a\"b", Json::Str("x\ny\u{1}".into())),
            ("neg", Json::Int(-1)),
            ("t", Json::Bool(true)),
        ]);
        assert_eq!(
            j.dump(),
            r#"{"a\"b":"x\ny\u0001","chunks":[2,3],"compressor":null,"neg":-1,"t":true,"zarr_format":2}"#
        );
    }

    #[test]
    fn serde_numbers_keep_their_kind() {
        let v: serde_json::Value = serde_json::from_str(r#"[0, 0.0, -3, 1e300, "s"]"#).unwrap();
        assert_eq!(Json::from_serde(&v).dump(), r#"[0,0.0,-3,1e+300,"s"]"#);
    }
}
