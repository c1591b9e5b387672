//! Python's `repr()` of strings and of tuples of strings: `_METADATA` names each tree entry by
//! `repr(tuple(str(k) for k in path))`, and error messages quote paths the same way.

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// Python's `str.isprintable()` for one character.
fn is_printable(ch: char) -> bool {
    if ch == ' ' {
        return true;
    }
    !matches!(
        get_general_category(ch),
        Gc::Control
            | Gc::Format
            | Gc::Surrogate
            | Gc::PrivateUse
            | Gc::Unassigned
            | Gc::LineSeparator
            | Gc::ParagraphSeparator
            | Gc::SpaceSeparator
    )
}

/// `repr(s)` for a Python str.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let code = c as u32;
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
        }
    }
    out.push(quote);
    out
}

/// `repr(tuple(keys))` for a tuple of Python strs: `('a',)`, `('a', 'b')`, `()`.
pub fn python_tuple_repr<S: AsRef<str>>(keys: &[S]) -> String {
    match keys {
        [] => "()".to_string(),
        [one] => format!("({},)", python_str_repr(one.as_ref())),
        many => {
            let parts: Vec<String> = many.iter().map(|k| python_str_repr(k.as_ref())).collect();
            format!("({})", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_repr_like_python() {
        // Expected values printed by CPython 3.11.
        let cases = [
            ("a", "'a'"),
            ("ap'os", "\"ap'os\""),
            ("q\"uote", "'q\"uote'"),
            ("both'\"", "'both\\'\"'"),
            ("back\\slash", "'back\\\\slash'"),
            ("nl\nret\rtab\t", "'nl\\nret\\rtab\\t'"),
            ("\u{1}\u{7f}\u{a0}", "'\\x01\\x7f\\xa0'"),
            ("ünï©ødé", "'ünï©ødé'"),
            ("zw\u{200b}sp", "'zw\\u200bsp'"),
            ("🚀", "'🚀'"),
            ("\u{e000}", "'\\ue000'"),
            ("\u{f0000}", "'\\U000f0000'"),
            ("sp ace", "'sp ace'"),
            ("", "''"),
        ];
        for (input, want) in cases {
            assert_eq!(python_str_repr(input), want, "{input:?}");
        }
    }

    #[test]
    fn tuples_repr_like_python() {
        assert_eq!(python_tuple_repr(&["params", "b"]), "('params', 'b')");
        assert_eq!(python_tuple_repr(&["step"]), "('step',)");
        assert_eq!(python_tuple_repr::<&str>(&[]), "()");
        assert_eq!(python_tuple_repr(&["ap'os"]), "(\"ap'os\",)");
    }
}
