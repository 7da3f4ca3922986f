//! PathUtils: what makes a znode path valid.

/// validatePath: Err(reason) when `path` is not a valid znode path.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".into());
    }
    // One pass over the characters after the leading '/', remembering the
    // two before each (`i` counts characters, as Java's index does for
    // every path that can pass); nothing is allocated unless it fails.
    let mut chars = path.chars().peekable();
    chars.next();
    let (mut before_last, mut last) = ('\0', '/');
    let mut i = 0;
    while let Some(c) = chars.next() {
        i += 1;
        let next_is_end = matches!(chars.peek(), None | Some('/'));
        let reason = if c == '\0' {
            Some(format!("null character not allowed @{i}"))
        } else if c == '/' && last == '/' {
            Some(format!("empty node name specified @{i}"))
        } else if c == '.' && next_is_end && (last == '/' || (last == '.' && i >= 2 && before_last == '/')) {
            Some(format!("relative paths not allowed @{i}"))
        } else if is_invalid_char(c) {
            Some(format!("invalid character @{i}"))
        } else {
            None
        };
        if let Some(r) = reason {
            return Err(format!("Invalid path string \"{path}\" caused by {r}"));
        }
        before_last = last;
        last = c;
    }
    Ok(())
}

/// The characters Java refuses: controls, the C1 block, surrogates and the
/// private-use area, the specials block, and (being surrogate pairs in
/// Java's UTF-16) everything beyond the Basic Multilingual Plane.
fn is_invalid_char(c: char) -> bool {
    let u = c as u32;
    (0x01..=0x1f).contains(&u)
        || (0x7f..=0x9f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || (0xfff0..=0xffff).contains(&u)
        || u > 0xffff
}

#[cfg(test)]
mod tests {
    use super::validate_path;

    #[test]
    fn java_rules() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/a/..b", "/ü"] {
            assert!(validate_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "/a/", "/a//b", "/a/./b", "/a/../b", "/.", "/..", "/a\u{1}", "/a\0b", "/\u{1F600}"] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
        let reason = |p: &str| validate_path(p).unwrap_err();
        assert_eq!(reason("/a//b"), "Invalid path string \"/a//b\" caused by empty node name specified @3");
        assert_eq!(reason("/ab/.."), "Invalid path string \"/ab/..\" caused by relative paths not allowed @5");
        assert_eq!(reason("/\u{e9}\u{1}"), "Invalid path string \"/\u{e9}\u{1}\" caused by invalid character @2");
    }
}
