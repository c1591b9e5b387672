//! JSON exactly as the two writers of Orbax's sidecar files emit it (orbax-layout §3.1):
//! Python's `json.dumps` (`_CHECKPOINT_METADATA`, `_METADATA`, JSON items...) and TensorStore's
//! json driver (`_strings.json`, `_sharding`). serde_json differs from both on floats (`1e-05`
//! vs `0.00001`), escapes and separators, so every sidecar goes through this one formatter.

/// A JSON value that keeps Python's distinctions: ints vs floats, and dict insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None` → `null`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// A Python int of any size, as decimal digits with an optional leading `-`.
    Int(String),
    /// A Python float.
    Float(f64),
    /// A str.
    Str(String),
    /// A list (or tuple).
    List(Vec<PyValue>),
    /// A dict with str keys, in insertion order.
    Dict(Vec<(String, PyValue)>),
}

impl PyValue {
    /// An int from any primitive integer.
    pub fn int(value: impl Into<i128>) -> Self {
        PyValue::Int(value.into().to_string())
    }

    /// A str.
    pub fn str(value: impl Into<String>) -> Self {
        PyValue::Str(value.into())
    }

    /// A dict from `(key, value)` pairs.
    pub fn dict<K: Into<String>>(entries: impl IntoIterator<Item = (K, PyValue)>) -> Self {
        PyValue::Dict(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl PyValue {
    /// Decodes the tagged form the TypeScript layer sends (it alone knows whether a JS number
    /// is a Python int or float): `["n"]`, `["b", true]`, `["i", "123"]`, `["f", "1e-05"]`
    /// (any string `f64::from_str` reads, incl. `NaN`, `Infinity`), `["s", "text"]`,
    /// `["l", [..]]`, `["d", [["key", value], ..]]`.
    pub fn from_tagged(value: &serde_json::Value) -> Result<PyValue, String> {
        use serde_json::Value as J;
        let items = value
            .as_array()
            .ok_or_else(|| format!("not a tagged value: {value}"))?;
        let tag = items.first().and_then(J::as_str).unwrap_or("");
        let arg = items.get(1);
        let bad = || format!("malformed tagged value {value}");
        Ok(match (tag, arg) {
            ("n", None) => PyValue::None,
            ("b", Some(J::Bool(b))) => PyValue::Bool(*b),
            ("i", Some(J::String(digits))) => {
                let body = digits.strip_prefix('-').unwrap_or(digits);
                if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                PyValue::Int(digits.clone())
            }
            ("f", Some(J::String(text))) => PyValue::Float(text.parse::<f64>().map_err(|_| bad())?),
            ("s", Some(J::String(text))) => PyValue::Str(text.clone()),
            ("l", Some(J::Array(list))) => PyValue::List(
                list.iter()
                    .map(PyValue::from_tagged)
                    .collect::<Result<_, _>>()?,
            ),
            ("d", Some(J::Array(pairs))) => PyValue::Dict(
                pairs
                    .iter()
                    .map(|pair| match pair.as_array().map(Vec::as_slice) {
                        Some([J::String(k), v]) => Ok((k.clone(), PyValue::from_tagged(v)?)),
                        _ => Err(bad()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(bad()),
        })
    }
}

/// How one of the two writers lays JSON out.
struct Style {
    item_separator: &'static str,
    key_separator: &'static str,
    /// Object keys sorted by bytes (TensorStore) rather than in insertion order (Python).
    sort_keys: bool,
    /// Every character outside printable ASCII escaped (Python's `ensure_ascii`), rather than
    /// only control characters (TensorStore, raw UTF-8).
    ensure_ascii: bool,
}

const PYTHON: Style = Style {
    item_separator: ", ",
    key_separator: ": ",
    sort_keys: false,
    ensure_ascii: true,
};

const TENSORSTORE: Style = Style {
    item_separator: ",",
    key_separator: ":",
    sort_keys: true,
    ensure_ascii: false,
};

/// `json.dumps(value)` with Python's defaults: `", "` / `": "` separators, insertion order,
/// `ensure_ascii`, float `repr`, `NaN` / `Infinity` tokens, no trailing newline.
pub fn python_dumps(value: &PyValue) -> String {
    let mut out = String::new();
    write_value(value, &PYTHON, &mut out);
    out
}

/// TensorStore's json driver style: compact, object keys sorted by bytes, raw UTF-8; only `"`,
/// `\` and control characters are escaped (short forms, else `\u00xx` lowercase).
pub fn tensorstore_dumps(value: &PyValue) -> String {
    let mut out = String::new();
    write_value(value, &TENSORSTORE, &mut out);
    out
}

fn write_value(value: &PyValue, style: &Style, out: &mut String) {
    match value {
        PyValue::None => out.push_str("null"),
        PyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        PyValue::Int(digits) => out.push_str(digits),
        PyValue::Float(f) => out.push_str(&python_float_repr(*f)),
        PyValue::Str(s) => write_string(s, style, out),
        PyValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item_separator);
                }
                write_value(item, style, out);
            }
            out.push(']');
        }
        PyValue::Dict(entries) => {
            let mut ordered: Vec<&(String, PyValue)> = entries.iter().collect();
            if style.sort_keys {
                ordered.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            }
            out.push('{');
            for (i, (key, item)) in ordered.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item_separator);
                }
                write_string(key, style, out);
                out.push_str(style.key_separator);
                write_value(item, style, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, style: &Style, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            ' '..='~' => out.push(ch),
            c if !style.ensure_ascii => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)` (shortest round-trip digits; exponent form below 1e-4 and from 1e16),
/// with json's spellings of the non-finite values.
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    // ryu gives the shortest round-trip digits and, on ties, the closest ones, like Python's
    // repr (Rust's own `{:e}` rounds exact halves up: 902339248939235.25 → …235.3, not …235.2).
    let (digits, decpt) = shortest_digits(value.abs());
    let n = digits.len() as i32;
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", e.abs()));
    } else if decpt <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-decpt) as usize));
        out.push_str(&digits);
    } else if decpt >= n {
        out.push_str(&digits);
        out.push_str(&"0".repeat((decpt - n) as usize));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    }
    out
}

/// The shortest round-trip decimal digits of a positive finite `value` (no leading or trailing
/// zeros) and the position of the decimal point: `value = 0.DIGITS × 10^decpt`.
fn shortest_digits(value: f64) -> (String, i32) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value);
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().expect("ryu exponent is an integer")),
        None => (text, 0),
    };
    let point = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let all: String = mantissa.chars().filter(|c| *c != '.').collect();
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string();
    (digits, point + exponent - leading as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        let cases: [(f64, &str); 24] = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345678901234568e16, "1.2345678901234568e+16"),
            (123456789012345.6, "123456789012345.6"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (0.001, "0.001"),
            (1e-30, "1e-30"),
            (2.5e-7, "2.5e-07"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.30000000000000004, "0.30000000000000004"),
            (-1.5, "-1.5"),
            (f64::from_bits(0xc309_a561_d333_071a), "-902339248939235.2"),
            (f64::from_bits(0xc31d_37d9_2cda_e69d), "-2056045056145831.2"),
            (0.125, "0.125"),
        ];
        for (value, want) in cases {
            assert_eq!(python_float_repr(value), want, "{value:e}");
        }
    }

    #[test]
    fn python_dumps_matches_orbax_files() {
        let root = PyValue::dict([
            ("internal_metadata", PyValue::dict::<String>([])),
            (
                "custom_metadata",
                PyValue::dict([("model", PyValue::str("mlp")), ("v", PyValue::int(2))]),
            ),
        ]);
        assert_eq!(
            python_dumps(&root),
            r#"{"internal_metadata": {}, "custom_metadata": {"model": "mlp", "v": 2}}"#
        );
        let json_item = PyValue::dict([
            ("lr", PyValue::Float(0.001)),
            (
                "tags",
                PyValue::List(vec![PyValue::str("a"), PyValue::str("b")]),
            ),
            ("u", PyValue::str("é")),
        ]);
        assert_eq!(
            python_dumps(&json_item),
            r#"{"lr": 0.001, "tags": ["a", "b"], "u": "\u00e9"}"#
        );
        let tricky = PyValue::dict([
            ("b", PyValue::int(2)),
            (
                "a",
                PyValue::List(vec![PyValue::int(1), PyValue::dict([("z", PyValue::None)])]),
            ),
            ("f", PyValue::Float(1.0)),
            ("s", PyValue::str("ü")),
            ("n", PyValue::Float(f64::NAN)),
            ("big", PyValue::Int("123456789012345678901234567890".into())),
        ]);
        assert_eq!(
            python_dumps(&tricky),
            r#"{"b": 2, "a": [1, {"z": null}], "f": 1.0, "s": "\u00fc", "n": NaN, "big": 123456789012345678901234567890}"#
        );
    }

    #[test]
    fn python_strings_escape_everything_outside_printable_ascii() {
        let s = PyValue::str("q\"b\\/\n\r\t\u{8}\u{c}\u{1}\u{7f}β🚀\u{200b}");
        assert_eq!(
            python_dumps(&s),
            r#""q\"b\\/\n\r\t\b\f\u0001\u007f\u03b2\ud83d\ude80\u200b""#
        );
    }

    #[test]
    fn tagged_values_decode_with_int_float_distinction() {
        let tagged: serde_json::Value = serde_json::from_str(
            r#"["d", [["a", ["i", "1"]], ["b", ["f", "1"]], ["c", ["f", "1e-5"]], ["d", ["f", "NaN"]], ["e", ["l", [["n"], ["b", true], ["s", "é"]]]], ["g", ["i", "-123456789012345678901"]]]]"#,
        )
        .unwrap();
        let value = PyValue::from_tagged(&tagged).unwrap();
        assert_eq!(
            python_dumps(&value),
            r#"{"a": 1, "b": 1.0, "c": 1e-05, "d": NaN, "e": [null, true, "\u00e9"], "g": -123456789012345678901}"#
        );
        for bad in [
            r#"["i", "1.5"]"#,
            r#"["x"]"#,
            r#"["d", [["k"]]]"#,
            r#"5"#,
            r#"["f", "abc"]"#,
        ] {
            assert!(
                PyValue::from_tagged(&serde_json::from_str(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn tensorstore_style_is_compact_sorted_raw_utf8() {
        let strings = PyValue::dict([
            ("name", PyValue::str("run1")),
            ("Z", PyValue::str("y")),
            ("k.a.b", PyValue::str("r")),
            ("a", PyValue::str("x")),
            ("u", PyValue::str("héllo ✓\u{1}\u{7f}/\"")),
        ]);
        assert_eq!(
            tensorstore_dumps(&strings),
            "{\"Z\":\"y\",\"a\":\"x\",\"k.a.b\":\"r\",\"name\":\"run1\",\"u\":\"héllo ✓\\u0001\u{7f}/\\\"\"}"
        );
    }
}
