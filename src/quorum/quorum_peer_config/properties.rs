//! A reader for Java's `.properties` syntax (java.util.Properties.load), the
//! format of zoo.cfg and of the dynamic config files. Pure functions, called
//! by the main thread while it parses the configuration.
//!
//! The rules followed:
//! - lines end at `\n`, `\r` or `\r\n`; leading blanks (space, tab, form feed)
//!   are skipped; empty lines are ignored;
//! - a line whose first non-blank character is `#` or `!` is a comment (a
//!   comment never continues onto the next line);
//! - a line ending in an odd number of backslashes continues on the next line,
//!   whose leading blanks are dropped;
//! - the key ends at the first unescaped `=`, `:` or blank; blanks around the
//!   separator are skipped, and after a blank one `=` or `:` may still follow;
//! - in keys and values `\t`, `\n`, `\r`, `\f` and `\uXXXX` are escapes, and
//!   a backslash before any other character stands for that character;
//! - a key given twice keeps its last value.
//!
//! Java reads the bytes as ISO-8859-1; we take UTF-8 when the file is valid
//! UTF-8 (so non-ASCII paths work) and fall back to ISO-8859-1 otherwise.

use std::fmt;

/// A `\u` escape that is not followed by four hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedEscape {
    /// 1-based line on which the logical line holding the escape starts.
    pub line: usize,
}

impl fmt::Display for MalformedEscape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: malformed \\uXXXX escape", self.line)
    }
}

/// Decodes file bytes: UTF-8 when valid, ISO-8859-1 (Java's choice) otherwise.
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parses properties text into `(key, value)` pairs in order of first
/// appearance; a repeated key keeps its last value. Keys and values are
/// returned exactly as Java would store them (not trimmed).
pub fn load(text: &str) -> Result<Vec<(String, String)>, MalformedEscape> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut reader = LineReader::new(text);
    while let Some((start_line, logical)) = reader.next_logical_line() {
        let (key_raw, value_raw) = split_key_value(&logical);
        let key = unescape(key_raw).ok_or(MalformedEscape { line: start_line })?;
        let value = unescape(value_raw).ok_or(MalformedEscape { line: start_line })?;
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(out)
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

/// Splits the text into logical lines (comments and blank lines dropped,
/// continuations joined), still holding their escapes.
struct LineReader<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl<'a> LineReader<'a> {
    fn new(text: &'a str) -> Self {
        LineReader { chars: text.chars().peekable(), line: 1 }
    }

    /// Consumes a line terminator that starts with `c` (a `\r` may be
    /// followed by `\n`).
    fn end_of_line(&mut self, c: char) {
        if c == '\r' && self.chars.peek() == Some(&'\n') {
            self.chars.next();
        }
        self.line += 1;
    }

    /// Returns the next logical line and the physical line it starts on.
    fn next_logical_line(&mut self) -> Option<(usize, String)> {
        let mut buf = String::new();
        let mut start_line = self.line;
        let mut skip_blanks = true;
        let mut at_line_start = true; // first character of a natural line?
        let mut in_comment = false;
        let mut continuing = false; // inside a continuation line
        let mut preceding_backslash = false;
        loop {
            let Some(c) = self.chars.next() else {
                // End of input: a pending line is returned, a trailing lone
                // backslash is dropped.
                if buf.is_empty() || in_comment {
                    return None;
                }
                if preceding_backslash {
                    buf.pop();
                }
                return Some((start_line, buf));
            };
            if skip_blanks {
                if is_blank(c) {
                    continue;
                }
                if !continuing && (c == '\n' || c == '\r') {
                    self.end_of_line(c);
                    start_line = self.line;
                    continue;
                }
                skip_blanks = false;
                continuing = false;
            }
            if at_line_start {
                at_line_start = false;
                if c == '#' || c == '!' {
                    in_comment = true;
                    continue;
                }
            }
            if c != '\n' && c != '\r' {
                if !in_comment {
                    buf.push(c);
                }
                preceding_backslash = c == '\\' && !preceding_backslash;
                continue;
            }
            self.end_of_line(c);
            if in_comment || buf.is_empty() {
                in_comment = false;
                at_line_start = true;
                skip_blanks = true;
                preceding_backslash = false;
                buf.clear();
                start_line = self.line;
                continue;
            }
            if preceding_backslash {
                buf.pop();
                skip_blanks = true;
                continuing = true;
                preceding_backslash = false;
                continue;
            }
            return Some((start_line, buf));
        }
    }
}

/// Splits a logical line into its raw (still escaped) key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_separator = false;
    let mut preceding_backslash = false;
    for (i, c) in line.char_indices() {
        if !preceding_backslash && (c == '=' || c == ':') {
            key_end = i;
            value_start = i + c.len_utf8();
            has_separator = true;
            break;
        }
        if !preceding_backslash && is_blank(c) {
            key_end = i;
            value_start = i + c.len_utf8();
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
    }
    let rest = &line[value_start..];
    let mut skip = 0;
    for (i, c) in rest.char_indices() {
        if is_blank(c) {
            skip = i + c.len_utf8();
            continue;
        }
        if !has_separator && (c == '=' || c == ':') {
            has_separator = true;
            skip = i + c.len_utf8();
            continue;
        }
        break;
    }
    (&line[..key_end], &rest[skip..])
}

/// Resolves backslash escapes; `None` for a malformed `\uXXXX`.
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            // Cannot happen for text from LineReader (a lone trailing
            // backslash is removed there); keep it literally to be safe.
            out.push('\\');
            break;
        };
        match e {
            'u' => {
                let mut code: u32 = 0;
                for _ in 0..4 {
                    let digit = chars.next()?.to_digit(16)?;
                    code = code * 16 + digit;
                }
                // Surrogate halves are not chars in Rust: use U+FFFD, as a
                // lossy UTF-16 decode would.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        load(text).expect("valid properties")
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators() {
        assert_eq!(
            pairs("a=1\nb:2\nc 3\nd\t=\t4\ne  :  5\nf = = 6\ng\n"),
            vec![p("a", "1"), p("b", "2"), p("c", "3"), p("d", "4"), p("e", "5"), p("f", "= 6"), p("g", "")]
        );
    }

    #[test]
    fn comments_blank_lines_and_leading_whitespace() {
        let text = "# comment\n  ! another\n\n   \n  key = value  \n\t#x=1\n";
        // Java keeps trailing blanks of the value; QuorumPeerConfig trims later.
        assert_eq!(pairs(text), vec![p("key", "value  ")]);
    }

    #[test]
    fn comment_ending_in_backslash_does_not_continue() {
        assert_eq!(pairs("# a comment \\\nk=v\n"), vec![p("k", "v")]);
    }

    #[test]
    fn line_continuation() {
        assert_eq!(pairs("k = one \\\n     two\\\n three\n"), vec![p("k", "one twothree")]);
        // An even number of backslashes is an escaped backslash, no continuation.
        assert_eq!(pairs("k=a\\\\\nz=1"), vec![p("k", "a\\"), p("z", "1")]);
        // A continuation line starting with '#' is not a comment.
        assert_eq!(pairs("k=a\\\n#b\n"), vec![p("k", "a#b")]);
        // A trailing backslash at end of input is dropped.
        assert_eq!(pairs("k=a\\"), vec![p("k", "a")]);
        // An empty line after a continuation ends the logical line.
        assert_eq!(pairs("k=a\\\n\nj=b"), vec![p("k", "a"), p("j", "b")]);
    }

    #[test]
    fn line_terminators() {
        assert_eq!(pairs("a=1\r\nb=2\rc=3\n"), vec![p("a", "1"), p("b", "2"), p("c", "3")]);
        assert_eq!(pairs("a=x\\\r\n  y\r\n"), vec![p("a", "xy")]);
    }

    #[test]
    fn escapes() {
        assert_eq!(pairs("k\\ ey\\=x = a\\tb\\nc\\u0041\\u00e9\\q\\\\\n"), vec![p("k ey=x", "a\tb\ncA\u{e9}q\\")]);
        assert_eq!(pairs("a\\:b:c"), vec![p("a:b", "c")]);
    }

    #[test]
    fn malformed_unicode_escape_is_an_error() {
        assert_eq!(load("a=1\nb=\\u12\n"), Err(MalformedEscape { line: 2 }));
        assert_eq!(load("b=\\uZZZZ"), Err(MalformedEscape { line: 1 }));
    }

    #[test]
    fn last_value_wins() {
        assert_eq!(pairs("a=1\nb=2\na=3\n"), vec![p("a", "3"), p("b", "2")]);
    }

    #[test]
    fn decode_falls_back_to_latin1() {
        assert_eq!(decode("é".as_bytes()), "é");
        assert_eq!(decode(&[b'a', 0xe9]), "a\u{e9}");
    }
}
