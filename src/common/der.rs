//! A minimal DER reader: one element at a time, every length checked
//! against the bytes there are. Used by the JKS reader (its protected key
//! entries) and the X509AuthenticationProvider (a certificate's subject).

/// One DER element of `data`: (tag, contents, rest). Definite lengths of up
/// to 4 bytes; anything else is an error.
pub fn element(data: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "bad DER encoding".to_string();
    let (&tag, rest) = data.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if len > rest.len() {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// Like `element`, but also gives the element's whole encoding.
pub fn element_whole(data: &[u8]) -> Result<(u8, &[u8], &[u8], &[u8]), String> {
    let (tag, contents, rest) = element(data)?;
    Ok((tag, contents, &data[..data.len() - rest.len()], rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked() {
        assert_eq!(element(&[0x04, 0x01, 0xaa, 0xbb]).unwrap(), (0x04, &[0xaa][..], &[0xbb][..]));
        assert_eq!(element(&[0x04, 0x81, 0x01, 0xaa]).unwrap().1, &[0xaa]);
        assert!(element(&[0x04, 0x02, 0xaa]).is_err());
        assert!(element(&[0x04, 0x85, 1, 1, 1, 1, 1]).is_err());
        assert!(element(&[0x04, 0x80]).is_err());
        assert!(element(&[0x04]).is_err());
        let (_, _, whole, rest) = element_whole(&[0x30, 0x00, 0x01]).unwrap();
        assert_eq!((whole, rest), (&[0x30, 0x00][..], &[0x01][..]));
    }
}
