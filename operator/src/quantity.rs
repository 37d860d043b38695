//! Kubernetes quantities (`10Gi`, `500M`) as byte counts, for the storage size checks.

/// Parses a quantity into bytes. `None` when it is not a quantity or not a whole byte count.
pub fn parse_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    if num.is_empty() {
        return None;
    }
    let mult: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        _ => return None,
    };
    if let Some((int, frac)) = num.split_once('.') {
        if frac.contains('.') || (int.is_empty() && frac.is_empty()) {
            return None;
        }
        let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let digits = frac.len() as u32;
        let frac_v: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        let scale = 10u64.checked_pow(digits)?;
        let whole = int.checked_mul(mult)?;
        // The fraction must give whole bytes, as Kubernetes storage sizes do in practice.
        let part = frac_v.checked_mul(mult)?;
        if part % scale != 0 {
            return None;
        }
        whole.checked_add(part / scale)
    } else {
        num.parse::<u64>().ok()?.checked_mul(mult)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn parses_binary_and_decimal_suffixes() {
        assert_eq!(parse_bytes("10Gi"), Some(10 << 30));
        assert_eq!(parse_bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(parse_bytes("500M"), Some(500_000_000));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("Gi"), None);
        assert_eq!(parse_bytes("10GB"), None);
        assert_eq!(parse_bytes("-1Gi"), None);
        assert_eq!(parse_bytes("99999999999Ei"), None);
    }
}
