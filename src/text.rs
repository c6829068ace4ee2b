//! Text as users' files deliver it. Editors on Windows start UTF-8 files with a byte-order mark
//! (U+FEFF); left in place it glues itself to the first word (`\u{feff}open` is an unknown token)
//! and makes a JSON line invalid, so every reader of files strips one leading mark.

/// The UTF-8 encoding of the byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Removes one leading UTF-8 byte-order mark from bytes read from a file.
pub fn drop_bom(bytes: &mut Vec<u8>) {
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
}

/// Removes one leading byte-order mark from the first line of a file read line by line (the
/// manifest), which never passes through [`drop_bom`].
pub fn strip_bom(line: &str) -> &str {
    line.strip_prefix('\u{feff}').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leading_mark_goes_and_nothing_else_changes() {
        let dropped = |s: &str| {
            let mut v = s.as_bytes().to_vec();
            drop_bom(&mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(dropped("\u{feff}open weights"), "open weights");
        assert_eq!(dropped("\u{feff}\u{feff}x"), "\u{feff}x");
        assert_eq!(dropped("open\u{feff}"), "open\u{feff}");
        assert_eq!(dropped("\u{feff}{}"), "{}");
        assert_eq!(strip_bom("\u{feff}{\"file\": 1}"), "{\"file\": 1}");
        assert_eq!(strip_bom("\u{feff}\u{feff}x"), "\u{feff}x");
        assert_eq!(strip_bom("x\u{feff}"), "x\u{feff}");
        let mut half = b"\xEF\xBB{}".to_vec();
        drop_bom(&mut half);
        assert_eq!(half, b"\xEF\xBB{}");
    }
}
