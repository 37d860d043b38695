//! Java `.properties` text: `broker.conf`, `namesrv.conf`, and the bodies of
//! UPDATE_BROKER_CONFIG / GET_NAMESRV_CONFIG and friends.
//!
//! Parsing follows `java.util.Properties.load` for what config files use: `#`/`!` comments,
//! `key=value`, `key:value` and `key value`, surrounding blanks trimmed, backslash line
//! continuations and the usual escapes. Rendering writes `key=value` lines in key order.

use std::collections::BTreeMap;

/// Parses properties text into an ordered map. Later keys win, as in Java.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut logical = line.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some(next) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        out.insert(unescape(key), unescape(trim_end_unescaped(value)));
    }
    out
}

/// Renders a map as properties text, one `key=value` line each.
pub fn render<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        out.push_str(&escape(k, true));
        out.push('=');
        out.push_str(&escape(v, false));
        out.push('\n');
    }
    out
}

/// Trims trailing blanks (Java keeps them, but they are always a typo in config files), except one
/// written as `\ `.
fn trim_end_unescaped(s: &str) -> &str {
    let mut end = s.len();
    while end > 0 && s.as_bytes()[end - 1].is_ascii_whitespace() {
        if ends_with_odd_backslashes(&s[..end - 1]) {
            break;
        }
        end -= 1;
    }
    &s[..end]
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => return (&line[..i], line[i + 1..].trim_start()),
            ' ' | '\t' | '\x0c' => {
                let rest = line[i..].trim_start();
                let rest = rest
                    .strip_prefix('=')
                    .or_else(|| rest.strip_prefix(':'))
                    .unwrap_or(rest);
                return (&line[..i], rest.trim_start());
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn escape(s: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let len = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '=' | ':' if is_key => {
                out.push('\\');
                out.push(c);
            }
            ' ' if is_key || i == 0 || i + 1 == len => out.push_str("\\ "),
            '#' | '!' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_file_forms() {
        let text = "# comment\n! also\nbrokerClusterName = DefaultCluster\nbrokerName:broker-a\n\
                    brokerId 0\n  deleteWhen=04\nnamesrvAddr=10.0.0.1:9876;\\\n   10.0.0.2:9876\nempty=\n";
        let p = parse(text);
        assert_eq!(p["brokerClusterName"], "DefaultCluster");
        assert_eq!(p["brokerName"], "broker-a");
        assert_eq!(p["brokerId"], "0");
        assert_eq!(p["deleteWhen"], "04");
        assert_eq!(p["namesrvAddr"], "10.0.0.1:9876;10.0.0.2:9876");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn render_round_trips() {
        let mut m = BTreeMap::new();
        m.insert("a key".to_string(), " value with = and : ".to_string());
        m.insert("path".to_string(), "C:\\store\\x".to_string());
        m.insert("#hash".to_string(), "multi\nline".to_string());
        let text = render(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(parse(&text), m);
    }
}
