//! A small command-line parser in the style of Apache commons-cli, which Java's `mqadmin` uses:
//! single-dash short options (`-n addr`, `-naddr`), long options (`--namesrvAddr addr`,
//! `--namesrvAddr=addr`), and help text in commons-cli's layout.

use std::collections::BTreeMap;

use crate::error::{CliError, Result};

/// One option of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptSpec {
    /// Short name, without the dash (`n`).
    pub short: &'static str,
    /// Long name, without the dashes (`namesrvAddr`).
    pub long: &'static str,
    /// Whether the option takes a value.
    pub has_arg: bool,
    /// Whether the option must be given.
    pub required: bool,
    /// Help text.
    pub description: &'static str,
}

impl OptSpec {
    /// An option taking a value.
    pub const fn arg(
        short: &'static str,
        long: &'static str,
        required: bool,
        description: &'static str,
    ) -> Self {
        OptSpec {
            short,
            long,
            has_arg: true,
            required,
            description,
        }
    }

    /// A flag without a value.
    pub const fn flag(short: &'static str, long: &'static str, description: &'static str) -> Self {
        OptSpec {
            short,
            long,
            has_arg: false,
            required: false,
            description,
        }
    }
}

/// `-h,--help`, accepted by every command.
pub const HELP: OptSpec = OptSpec::flag("h", "help", "Print help");
/// `-n,--namesrvAddr`, accepted by every command.
pub const NAMESRV: OptSpec = OptSpec::arg(
    "n",
    "namesrvAddr",
    false,
    "Name server address list, eg: '192.168.0.1:9876;192.168.0.2:9876'",
);

/// Parsed options, keyed by short name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedArgs {
    values: BTreeMap<&'static str, Option<String>>,
}

impl ParsedArgs {
    /// The value of an option taking one.
    pub fn value(&self, short: &str) -> Option<&str> {
        self.values.get(short).and_then(|v| v.as_deref())
    }

    /// The value of a required option (checked by [`parse`], so always present).
    pub fn required(&self, short: &str) -> Result<&str> {
        self.value(short)
            .ok_or_else(|| CliError::Usage(format!("Missing required option: {short}")))
    }

    /// Whether an option was given.
    pub fn has(&self, short: &str) -> bool {
        self.values.contains_key(short)
    }
}

/// Parses `args` against `specs`. Values are trimmed, as `commandLine.getOptionValue(..).trim()`
/// in the Java commands.
pub fn parse(command: &str, specs: &[OptSpec], args: &[String]) -> Result<ParsedArgs> {
    let mut out = ParsedArgs::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (spec, inline) = if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = specs.iter().find(|s| s.long == name);
            (spec.ok_or_else(|| unrecognized(command, arg))?, inline)
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            // Exact short name first, then "-nVALUE" (a short option with its value attached).
            match specs.iter().find(|s| s.short == short) {
                Some(spec) => (spec, None),
                None => {
                    let spec = specs
                        .iter()
                        .filter(|s| s.has_arg && short.starts_with(s.short))
                        .max_by_key(|s| s.short.len())
                        .ok_or_else(|| unrecognized(command, arg))?;
                    (spec, Some(short[spec.short.len()..].to_string()))
                }
            }
        } else {
            return Err(CliError::Usage(format!(
                "unexpected argument {arg:?} for {command} (see 'mqadmin help {command}')"
            )));
        };
        let value = if spec.has_arg {
            match inline {
                Some(v) => Some(v),
                None => {
                    let v = args.get(i).ok_or_else(|| {
                        CliError::Usage(format!("Missing argument for option: {}", spec.short))
                    })?;
                    i += 1;
                    Some(v.clone())
                }
            }
        } else {
            None
        };
        out.values
            .insert(spec.short, value.map(|v| v.trim().to_string()));
    }
    if !out.has(HELP.short)
        && let Some(missing) = specs
            .iter()
            .find(|s| s.required && !out.values.contains_key(s.short))
    {
        return Err(CliError::Usage(format!(
            "Missing required option: {} (see 'mqadmin help {command}')",
            missing.short
        )));
    }
    Ok(out)
}

fn unrecognized(command: &str, arg: &str) -> CliError {
    CliError::Usage(format!(
        "Unrecognized option: {arg} (see 'mqadmin help {command}')"
    ))
}

/// commons-cli's usage text: a `usage:` line, then one line per option.
pub fn usage(command: &str, specs: &[OptSpec]) -> String {
    let mut sorted: Vec<&OptSpec> = specs.iter().collect();
    sorted.sort_by_key(|s| s.short.to_ascii_lowercase());
    let mut line = format!("usage: mqadmin {command}");
    for s in &sorted {
        let arg = if s.has_arg { " <arg>" } else { "" };
        if s.required {
            line.push_str(&format!(" -{}{arg}", s.short));
        } else {
            line.push_str(&format!(" [-{}{arg}]", s.short));
        }
    }
    let lefts: Vec<String> = sorted
        .iter()
        .map(|s| {
            let arg = if s.has_arg { " <arg>" } else { "" };
            format!(" -{},--{}{arg}", s.short, s.long)
        })
        .collect();
    let width = lefts.iter().map(String::len).max().unwrap_or(0) + 3;
    let mut text = line;
    text.push('\n');
    for (left, s) in lefts.iter().zip(&sorted) {
        text.push_str(&format!("{left:<width$}{}\n", s.description));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    const SPECS: &[OptSpec] = &[
        HELP,
        NAMESRV,
        OptSpec::arg("t", "topic", true, "topic name"),
        OptSpec::flag("m", "moreStats", "more"),
    ];

    #[test]
    fn short_long_attached_and_equals_forms() {
        let p = parse("x", SPECS, &args(&["-n", " a:1;b:2 ", "-t", "T", "-m"])).unwrap();
        assert_eq!(p.value("n"), Some("a:1;b:2"));
        assert_eq!(p.value("t"), Some("T"));
        assert!(p.has("m"));
        let p = parse("x", SPECS, &args(&["--namesrvAddr=a:1", "-tT"])).unwrap();
        assert_eq!((p.value("n"), p.value("t")), (Some("a:1"), Some("T")));
        let p = parse("x", SPECS, &args(&["--topic", "T"])).unwrap();
        assert_eq!(p.value("t"), Some("T"));
    }

    #[test]
    fn errors_are_one_line() {
        for bad in [
            &["-n", "a"][..],
            &["-t"][..],
            &["-t", "T", "-z"][..],
            &["-t", "T", "stray"][..],
        ] {
            let e = parse("x", SPECS, &args(bad)).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
        }
        // -h skips the required check so `cmd -h` prints help.
        assert!(parse("x", SPECS, &args(&["-h"])).is_ok());
    }

    #[test]
    fn usage_lists_every_option() {
        let u = usage("topicRoute", SPECS);
        assert!(
            u.starts_with("usage: mqadmin topicRoute [-h] [-m] [-n <arg>] -t <arg>\n"),
            "{u}"
        );
        assert!(u.contains(" -t,--topic <arg>"));
    }
}
