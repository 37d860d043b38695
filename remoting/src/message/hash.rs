//! Java `String.hashCode` (spec §4.6) and RocketMQ's masked CRC32 (spec §4.7).

/// Java `String.hashCode()`: `h = 31*h + c` over UTF-16 code units with 32-bit wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    continue_hash(0, s)
}

/// Java `String.hashCode()` of the concatenation of `parts`, without building it (the index
/// hashes `topic#key` for every key of every stored message).
pub fn java_string_hash_of(parts: &[&str]) -> i32 {
    parts.iter().fold(0, |h, p| continue_hash(h, p))
}

fn continue_hash(mut h: i32, s: &str) -> i32 {
    if s.is_ascii() {
        // An ASCII byte is its own UTF-16 code unit.
        for &b in s.as_bytes() {
            h = h.wrapping_mul(31).wrapping_add(i32::from(b));
        }
    } else {
        for unit in s.encode_utf16() {
            h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
        }
    }
    h
}

/// The consume-queue tag code of a message: the tag's Java hash sign-extended to i64, 0 when the
/// message has no (or an empty) tag.
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        Some(t) if !t.is_empty() => i64::from(java_string_hash(t)),
        _ => 0,
    }
}

/// `UtilAll.crc32`: IEEE CRC-32 (as `java.util.zip.CRC32`) masked with `0x7FFF_FFFF`.
pub fn crc32_masked(data: &[u8]) -> i32 {
    (crc32fast::hash(data) & 0x7FFF_FFFF) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        // Values computed with Java's String.hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // A character outside the BMP counts as two UTF-16 units.
        assert_eq!(java_string_hash("😀"), 55357 * 31 + 56832);
        for parts in [
            &["TopicTest", "#", "key-1"][..],
            &["", "#", ""],
            &["主题", "#", "ключ😀"],
            &["polygene", "lubricants"],
        ] {
            assert_eq!(
                java_string_hash_of(parts),
                java_string_hash(&parts.concat())
            );
        }
        assert_eq!(tags_code(Some("TagA")), 2598919);
        assert_eq!(tags_code(None), 0);
        assert_eq!(tags_code(Some("polygenelubricants")), -2147483648);
    }

    #[test]
    fn crc_is_masked() {
        // crc32("123456789") = 0xCBF43926; masked clears the top bit.
        assert_eq!(crc32_masked(b"123456789"), 0x4BF43926);
        assert!(crc32_masked(b"anything") >= 0);
    }
}
