//! Text for the terminal: names with control characters shown visibly, values quoted for a
//! POSIX shell, and standard output that ends quietly when its reader goes away.
//!
//! Layer, tensor and file names come from models and users and may hold anything; on the
//! console they are escaped (reports and the HTML page keep them exact). Escaping does not
//! touch backslashes, so it is idempotent: text escaped once can be escaped again safely.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `c` is shown as an escape on the console (controls, bidirectional formatting).
fn is_hidden(c: char) -> bool {
    precision_core::is_hidden_char(c)
}

/// Appends the visible escape of `c`: `\x1b` below U+0100, `\u{202e}` above.
fn push_escape(out: &mut String, c: char) {
    use std::fmt::Write as _;
    let code = u32::from(c);
    let _ =
        if code < 0x100 { write!(out, "\\x{code:02x}") } else { write!(out, "\\u{{{code:x}}}") };
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_hidden(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hidden(c) && !keep(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `name` for the console: every control or bidirectional formatting character (line breaks
/// too) shown as an escape such as `\x1b` or `\u{202e}`.
pub fn escape(name: &str) -> Cow<'_, str> {
    escape_with(name, |_| false)
}

/// A message or a block of lines for the console: as [`escape`], but line breaks are kept.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_with(text, |c| c == '\n')
}

/// Whether [`escape`] changes `name`.
pub fn needs_escape(name: &str) -> bool {
    name.chars().any(is_hidden)
}

/// `s` as one word for a POSIX shell: as is when it holds only characters no shell treats
/// specially, otherwise in single quotes (a `'` inside written `'\''`).
pub fn shell_quote(s: &str) -> Cow<'_, str> {
    let plain =
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:,=+@%".contains(c));
    if plain { Cow::Borrowed(s) } else { Cow::Owned(format!("'{}'", s.replace('\'', r"'\''"))) }
}

/// `s` as a Python string literal in double quotes that reads back exactly `s`: `\\`, `"`
/// and every hidden character escaped (`\x1b`, `\u202e`), so the literal is printable.
pub fn python_str(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if is_hidden(c) => {
                let code = u32::from(c);
                let _ = if code < 0x100 {
                    write!(out, "\\x{code:02x}")
                } else {
                    write!(out, "\\u{code:04x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Set once standard output is found closed (its reader exited, as `head` does).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` and a line break to standard output, escaped with [`escape_lines`].
///
/// A closed pipe is a normal end: this and every later call write nothing and succeed. Any
/// other failure (a full disk, `/dev/full`) is an error that says standard output failed.
pub fn out(text: &str) -> anyhow::Result<()> {
    out_exact(&escape_lines(text))
}

/// JSON text for the console: every hidden character still raw in it (`serde_json` leaves DEL,
/// C1 controls and bidirectional formatting as they are) written as a `\uXXXX` escape, which
/// JSON reads back as the same character.
pub fn json_for_console(json: &str) -> Cow<'_, str> {
    use std::fmt::Write as _;
    // Outside strings JSON has only ASCII whitespace, which stays; inside, serde_json has
    // already escaped every C0 control.
    let hidden = |c: char| is_hidden(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(hidden) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if hidden(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `text` and a line break to standard output as it is, as [`out`] does otherwise.
pub fn out_exact(text: &str) -> anyhow::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("cannot write to standard output: {e}")),
    }
}

/// Writes `text` and a line break to standard error, escaped with [`escape_lines`]; a failure
/// to write is ignored (there is nowhere left to report it).
pub fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{}", escape_lines(text));
}

/// `println!` through [`out`]: returns from the calling function with the error when standard
/// output fails.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::console::out(&format!($($arg)*))?
    };
}
pub(crate) use outln;

/// `eprintln!` through [`err`]: control characters in names reach the terminal escaped.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::console::err(&format!($($arg)*))
    };
}
pub(crate) use errln;

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn controls_and_bidi_are_shown_as_escapes() {
        assert_eq!(escape("fc_1/Relu:0"), "fc_1/Relu:0");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[2Jb"), r"a\x1b[2Jb");
        assert_eq!(escape("a\nb\tc\r\0"), r"a\x0ab\x09c\x0d\x00");
        assert_eq!(escape("x\u{7f}\u{85}\u{9b}"), r"x\x7f\x85\x9b");
        assert_eq!(escape("abc\u{202e}fed\u{2066}\u{2028}"), r"abc\u{202e}fed\u{2066}\u{2028}");
        assert_eq!(escape("ünïcödé 名前 →"), "ünïcödé 名前 →");
        assert_eq!(escape_lines("line\x1b]0;title\x07\nnext"), "line\\x1b]0;title\\x07\nnext");
        // Idempotent: escaping escaped text changes nothing.
        let once = escape("\x1b[31mred\u{202e}").into_owned();
        assert_eq!(escape(&once), once);
        assert!(needs_escape("\u{9b}") && !needs_escape("a b"));
    }

    #[test]
    fn json_for_the_console_reads_back_the_same() {
        let names = ["a\u{1b}[2J", "b\u{202e}c", "d\u{7f}\u{85}", "e\nf", "plain"];
        let json = serde_json::to_string_pretty(&names).unwrap();
        let safe = json_for_console(&json);
        assert!(!safe.chars().any(|c| is_hidden(c) && c != '\n'), "{safe}");
        let back: Vec<String> = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, names);
        assert!(matches!(json_for_console("[\"x\"]"), Cow::Borrowed(_)));
    }

    #[test]
    fn every_hidden_character_is_escaped_and_nothing_else() {
        for code in 0..0x3000_u32 {
            let Some(c) = char::from_u32(code) else { continue };
            let s = c.to_string();
            let escaped = escape(&s);
            assert_eq!(escaped != s, is_hidden(c), "U+{code:04X}");
            assert!(!escaped.chars().any(is_hidden), "U+{code:04X}");
        }
    }

    /// What `sh` makes of `words` pasted after `printf '%s\n'`: one line per argument.
    fn through_sh(words: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\n' {words}"))
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn quoted_words_reach_a_real_shell_exactly() {
        let marker = std::env::temp_dir().join(format!("precision-quote-{}", std::process::id()));
        let m = marker.display();
        let hostile = [
            "plain".to_owned(),
            "with space".to_owned(),
            " lead and trail ".to_owned(),
            "it's".to_owned(),
            "''".to_owned(),
            format!("fc$(touch${{IFS}}{m})"),
            format!("`touch {m}`"),
            format!("a;touch {m}"),
            "$HOME".to_owned(),
            "*".to_owned(),
            "~root".to_owned(),
            "a\\b\\'c".to_owned(),
            "#2".to_owned(),
            "x|y&z>w<v".to_owned(),
            "tab\there".to_owned(),
            "!event".to_owned(),
            "{a,b}".to_owned(),
            "-n".to_owned(),
            "名前".to_owned(),
        ];
        for name in &hostile {
            let quoted = shell_quote(name);
            assert_eq!(through_sh(&format!("{quoted}")), format!("{name}\n"), "{name}");
        }
        let all: Vec<String> = hostile.iter().map(|n| shell_quote(n).into_owned()).collect();
        let expected: String = hostile.iter().flat_map(|n| [n.as_str(), "\n"]).collect();
        assert_eq!(through_sh(&all.join(" ")), expected);
        assert!(!marker.exists(), "a quoted name ran a command");
        assert_eq!(shell_quote("conv_1/Relu:0,x=1"), "conv_1/Relu:0,x=1");
        assert_eq!(shell_quote(""), "''");
    }
}
