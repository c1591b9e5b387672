//! Reading JSON the way Python's `json.loads` does, for files Orbax writes with `json.dumps`
//! (JSON items, manager metrics, `_ROOT_METADATA`): `NaN` / `Infinity` / `-Infinity` are values,
//! ints stay distinct from floats (`1` vs `1.0`), big ints keep every digit, and a repeated key
//! keeps its first position with the last value. serde_json rejects the non-finite tokens and
//! forgets the int/float distinction, hence this small reader.

use crate::pyjson::PyValue;

/// Nesting deeper than this is refused (Python's own limit is the recursion limit, ~1000).
const MAX_DEPTH: usize = 512;

/// Parses `text` as Python's `json.loads` would (strict mode: no raw control characters inside
/// strings). Errors say what is wrong and at which byte offset.
pub fn parse_python_json(text: &str) -> Result<PyValue, String> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
    };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("extra data"));
    }
    Ok(value)
}

/// The tagged form the TypeScript layer decodes (the inverse of `PyValue::from_tagged`).
pub fn to_tagged(value: &PyValue) -> serde_json::Value {
    use serde_json::Value as J;
    let tag = |t: &str, arg: J| J::Array(vec![J::String(t.into()), arg]);
    match value {
        PyValue::None => J::Array(vec![J::String("n".into())]),
        PyValue::Bool(b) => tag("b", J::Bool(*b)),
        PyValue::Int(digits) => tag("i", J::String(digits.clone())),
        PyValue::Float(f) => tag("f", J::String(crate::pyjson::python_float_repr(*f))),
        PyValue::Str(s) => tag("s", J::String(s.clone())),
        PyValue::List(items) => tag("l", J::Array(items.iter().map(to_tagged).collect())),
        PyValue::Dict(entries) => tag(
            "d",
            J::Array(
                entries
                    .iter()
                    .map(|(k, v)| J::Array(vec![J::String(k.clone()), to_tagged(v)]))
                    .collect(),
            ),
        ),
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.bytes[self.pos..].starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyValue, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        match self.bytes.get(self.pos) {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(PyValue::Str(self.string()?)),
            Some(_) if self.eat("null") => Ok(PyValue::None),
            Some(_) if self.eat("true") => Ok(PyValue::Bool(true)),
            Some(_) if self.eat("false") => Ok(PyValue::Bool(false)),
            Some(_) if self.eat("NaN") => Ok(PyValue::Float(f64::NAN)),
            Some(_) if self.eat("Infinity") => Ok(PyValue::Float(f64::INFINITY)),
            Some(_) if self.eat("-Infinity") => Ok(PyValue::Float(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expecting value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<PyValue, String> {
        self.pos += 1;
        let mut entries: Vec<(String, PyValue)> = Vec::new();
        self.skip_ws();
        if self.eat("}") {
            return Ok(PyValue::Dict(entries));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error("expecting property name enclosed in double quotes"));
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(":") {
                return Err(self.error("expecting ':' delimiter"));
            }
            self.skip_ws();
            let value = self.value(depth + 1)?;
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key, value)),
            }
            self.skip_ws();
            if self.eat("}") {
                return Ok(PyValue::Dict(entries));
            }
            if !self.eat(",") {
                return Err(self.error("expecting ',' delimiter"));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<PyValue, String> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat("]") {
            return Ok(PyValue::List(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat("]") {
                return Ok(PyValue::List(items));
            }
            if !self.eat(",") {
                return Err(self.error("expecting ',' delimiter"));
            }
        }
    }

    fn number(&mut self) -> Result<PyValue, String> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.bytes.get(p.pos) {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            // A leading zero stands alone: `01` reads as `0` followed by extra data, as in Python.
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => {
                self.pos = start;
                return Err(self.error("expecting value"));
            }
        }
        let mut is_float = false;
        if self.bytes.get(self.pos) == Some(&b'.')
            && matches!(self.bytes.get(self.pos + 1), Some(b'0'..=b'9'))
        {
            self.pos += 1;
            digits(self);
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            let save = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                self.pos = save;
            } else {
                is_float = true;
            }
        }
        let literal = &self.text[start..self.pos];
        if is_float {
            literal
                .parse::<f64>()
                .map(PyValue::Float)
                .map_err(|_| self.error("bad number"))
        } else {
            let canonical = if literal == "-0" { "0" } else { literal };
            Ok(PyValue::Int(canonical.to_string()))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let chunk = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("invalid \\uXXXX escape"))?;
        let text = std::str::from_utf8(chunk).map_err(|_| self.error("invalid \\uXXXX escape"))?;
        let unit =
            u32::from_str_radix(text, 16).map_err(|_| self.error("invalid \\uXXXX escape"))?;
        self.pos += 4;
        Ok(unit)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.bytes.get(self.pos) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = *self
                        .bytes
                        .get(self.pos)
                        .ok_or_else(|| self.error("unterminated string"))?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&unit) && self.eat("\\u") {
                                let low = self.hex4()?;
                                if (0xDC00..0xE000).contains(&low) {
                                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                                } else {
                                    // A high surrogate followed by a non-low escape: Python keeps
                                    // both as lone surrogates; Rust strings cannot hold them.
                                    out.push(char::REPLACEMENT_CHARACTER);
                                    low
                                }
                            } else {
                                unit
                            };
                            out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                        }
                        _ => {
                            self.pos -= 2;
                            return Err(self.error("invalid \\escape"));
                        }
                    }
                }
                Some(_) => return Err(self.error("invalid control character")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyjson::python_dumps;

    fn roundtrip(text: &str) -> String {
        python_dumps(&parse_python_json(text).unwrap())
    }

    #[test]
    fn reads_what_json_dumps_writes_and_writes_it_back_identically() {
        for text in [
            r#"{"a": 1}"#,
            r#"{"lr": 0.001, "tags": ["a", "b"], "u": "\u00e9"}"#,
            r#"{"b": 2, "a": [1, {"z": null}], "f": 1.0, "s": "\u00fc"}"#,
            r#"{"a": NaN, "b": Infinity, "c": -Infinity}"#,
            r#"{"neg_zero": -0.0, "exp": 1e-30, "big": 123456789012345678901234567890}"#,
            r#"[true, false, null, "\ud83d\ude00", "tab\tnew\nline \"q\" \\"]"#,
        ] {
            assert_eq!(roundtrip(text), text);
        }
    }

    #[test]
    fn keeps_ints_and_floats_apart() {
        assert_eq!(parse_python_json("1").unwrap(), PyValue::Int("1".into()));
        assert_eq!(parse_python_json("1.0").unwrap(), PyValue::Float(1.0));
        assert_eq!(parse_python_json("1E2").unwrap(), PyValue::Float(100.0));
        assert_eq!(parse_python_json("-0").unwrap(), PyValue::Int("0".into()));
    }

    #[test]
    fn repeated_keys_keep_the_first_position_and_the_last_value() {
        assert_eq!(
            roundtrip(r#"{"a": 1, "b": 2, "a": 3}"#),
            r#"{"a": 3, "b": 2}"#
        );
    }

    #[test]
    fn whitespace_and_compact_forms_are_read() {
        assert_eq!(
            roundtrip(" {\n\"a\":[1,2] ,\"b\" :{}}\n"),
            r#"{"a": [1, 2], "b": {}}"#
        );
    }

    #[test]
    fn malformed_input_is_refused_with_a_position() {
        for (text, what) in [
            ("", "unexpected end of input at byte 0"),
            ("{\"a\" 1}", "expecting ':' delimiter at byte 5"),
            ("[1,]", "expecting value at byte 3"),
            ("01", "extra data at byte 1"),
            ("\"a\nb\"", "invalid control character at byte 2"),
            ("{\"a\": 1} x", "extra data at byte 9"),
            ("\"\\x\"", "invalid \\escape at byte 1"),
            ("nul", "expecting value at byte 0"),
        ] {
            assert_eq!(parse_python_json(text).unwrap_err(), what, "{text:?}");
        }
        let deep = "[".repeat(600) + &"]".repeat(600);
        assert!(parse_python_json(&deep)
            .unwrap_err()
            .starts_with("nesting too deep"));
    }

    #[test]
    fn tagged_form_is_the_inverse_of_from_tagged() {
        let value = parse_python_json(r#"{"a": [1, 2.5, NaN, null, true, "x"]}"#).unwrap();
        let back = PyValue::from_tagged(&to_tagged(&value)).unwrap();
        assert_eq!(python_dumps(&back), python_dumps(&value));
    }
}
