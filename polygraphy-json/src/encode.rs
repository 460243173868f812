//! Writing Polygraphy JSON laid out exactly as Python's `json.dumps(obj, indent=4)` does, with
//! array payloads streamed through a base64 encoder.

use std::fmt::Write as _;
use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD;
use base64::write::EncoderWriter;
use precision_core::{NamedTensors, Tensor};

use crate::error::{Error, Location, Result};
use crate::{IterationResult, RunResults, npy};

/// A JSON writer that tracks indentation.
pub(crate) struct JsonWriter<W: Write> {
    w: W,
    at: Location,
}

impl<W: Write> JsonWriter<W> {
    pub(crate) fn new(w: W, at: Location) -> Self {
        JsonWriter { w, at }
    }

    pub(crate) fn into_inner(self) -> W {
        self.w
    }

    fn io(&self, e: io::Error) -> Error {
        Error::io(&self.at, "writing", e)
    }

    fn raw(&mut self, s: &str) -> Result<()> {
        self.w.write_all(s.as_bytes()).map_err(|e| self.io(e))
    }

    /// A newline and `level` indents of four spaces.
    fn newline(&mut self, level: usize) -> Result<()> {
        const SPACES: &str = "                                                                ";
        self.raw("\n")?;
        let mut n = level * 4;
        while n > 0 {
            let k = n.min(SPACES.len());
            self.raw(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }

    /// A string as Python's `json` writes it (`ensure_ascii=True`).
    fn string(&mut self, s: &str) -> Result<()> {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(c),
                _ => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{u:04x}");
                    }
                }
            }
        }
        out.push('"');
        self.raw(&out)
    }

    /// `"key": ` at the given indentation (after a newline).
    fn key(&mut self, level: usize, key: &str) -> Result<()> {
        self.newline(level)?;
        self.string(key)?;
        self.raw(": ")
    }

    fn class(&mut self, level: usize, class: &str) -> Result<()> {
        self.key(level, "polygraphy_class")?;
        self.string(class)?;
        self.newline(level - 1)?;
        self.raw("}")
    }

    /// An ndarray object whose opening brace is already positioned at `level - 1`.
    fn ndarray(&mut self, level: usize, tensor: &Tensor, at: &Location) -> Result<()> {
        self.raw("{")?;
        self.key(level, "array")?;
        self.raw("\"")?;
        {
            let mut enc = EncoderWriter::new(&mut self.w, &STANDARD);
            npy::write_at(&mut enc, tensor, at)?;
            enc.finish().map_err(|e| Error::io(at, "writing", e))?;
        }
        self.raw("\",")?;
        self.class(level, "ndarray")
    }

    fn lazy_array(&mut self, level: usize, tensor: &Tensor, at: &Location) -> Result<()> {
        self.raw("{")?;
        self.key(level, "values")?;
        self.ndarray(level + 1, tensor, at)?;
        self.raw(",")?;
        self.class(level, "LazyArray")
    }

    fn float(&mut self, v: f64) -> Result<()> {
        self.raw(&python_float(v))
    }

    fn iteration(&mut self, level: usize, it: &IterationResult, at: &Location) -> Result<()> {
        self.raw("{")?;
        self.key(level, "outputs")?;
        if it.outputs.is_empty() {
            self.raw("{}")?;
        } else {
            self.raw("{")?;
            for (i, (name, t)) in it.outputs.iter().enumerate() {
                if i > 0 {
                    self.raw(",")?;
                }
                self.key(level + 1, name)?;
                self.lazy_array(level + 2, t, &at.with(format!("output '{name}'")))?;
            }
            self.newline(level)?;
            self.raw("}")?;
        }
        self.raw(",")?;
        self.key(level, "runtime")?;
        self.float(it.runtime)?;
        self.raw(",")?;
        self.key(level, "runner_name")?;
        self.string(&it.runner_name)?;
        self.raw(",")?;
        self.class(level, "IterationResult")
    }

    /// A `RunResults` with all iterations (`only: None`), or only iteration `k` of each runner
    /// that has one (`only: Some(k)`, as Polygraphy's `RunResults.split` does).
    pub(crate) fn run_results(&mut self, results: &RunResults, only: Option<usize>) -> Result<()> {
        let at = self.at.clone();
        self.raw("{")?;
        self.key(1, "lst")?;
        let runners: Vec<_> = results
            .runners
            .iter()
            .filter_map(|r| match only {
                None => Some((r, 0, &r.iterations[..])),
                Some(k) => r.iterations.get(k).map(|it| (r, k, std::slice::from_ref(it))),
            })
            .collect();
        if runners.is_empty() {
            self.raw("[]")?;
        } else {
            self.raw("[")?;
            for (i, &(runner, first, iterations)) in runners.iter().enumerate() {
                if i > 0 {
                    self.raw(",")?;
                }
                self.newline(2)?;
                self.raw("[")?;
                self.newline(3)?;
                self.string(&runner.name)?;
                self.raw(",")?;
                self.newline(3)?;
                if iterations.is_empty() {
                    self.raw("[]")?;
                } else {
                    self.raw("[")?;
                    for (k, it) in iterations.iter().enumerate() {
                        if k > 0 {
                            self.raw(",")?;
                        }
                        self.newline(4)?;
                        let at = at
                            .with(format!("runner '{}'", runner.name))
                            .with(format!("iteration {}", first + k));
                        self.iteration(5, it, &at)?;
                    }
                    self.newline(3)?;
                    self.raw("]")?;
                }
                self.newline(2)?;
                self.raw("]")?;
            }
            self.newline(1)?;
            self.raw("]")?;
        }
        self.raw(",")?;
        self.class(1, "RunResults")
    }

    /// A feed dict at the given level (its opening brace is already positioned).
    fn feed(&mut self, level: usize, feed: &NamedTensors, at: &Location) -> Result<()> {
        if feed.is_empty() {
            return self.raw("{}");
        }
        self.raw("{")?;
        for (i, (name, t)) in feed.iter().enumerate() {
            if i > 0 {
                self.raw(",")?;
            }
            self.key(level, name)?;
            self.ndarray(level + 1, t, &at.with(format!("input '{name}'")))?;
        }
        self.newline(level - 1)?;
        self.raw("}")
    }

    /// An inputs file: a list of feed dicts.
    pub(crate) fn inputs(&mut self, feeds: &[NamedTensors]) -> Result<()> {
        if feeds.is_empty() {
            return self.raw("[]");
        }
        let at = self.at.clone();
        self.raw("[")?;
        for (i, feed) in feeds.iter().enumerate() {
            if i > 0 {
                self.raw(",")?;
            }
            self.newline(1)?;
            self.feed(2, feed, &at.with(format!("iteration {i}")))?;
        }
        self.newline(0)?;
        self.raw("]")
    }

    /// One feed dict as a whole document (one file of the directory form).
    pub(crate) fn single_feed(&mut self, feed: &NamedTensors, index: usize) -> Result<()> {
        let at = self.at.with(format!("iteration {index}"));
        self.feed(1, feed, &at)
    }
}

/// A float as Python's `repr` writes it; non-finite values become `null`, since standard JSON
/// has no literal for them.
pub(crate) fn python_float(v: f64) -> String {
    if !v.is_finite() {
        return "null".to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Python's repr.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        if exp < 0 {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        } else if exp + 1 >= n {
            let zeros = "0".repeat((exp + 1 - n) as usize);
            format!("{sign}{digits}{zeros}.0")
        } else {
            let (int, frac) = digits.split_at((exp + 1) as usize);
            format!("{sign}{int}.{frac}")
        }
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::python_float;

    #[test]
    fn floats_match_python_repr() {
        for (v, s) in [
            (0.003_747_701_644_897_461, "0.003747701644897461"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.234_567_890_123_456_7e15, "1234567890123456.8"),
            (123_456_789.0, "123456789.0"),
            (1e22, "1e+22"),
            (0.0, "0.0"),
            (f64::NAN, "null"),
        ] {
            assert_eq!(python_float(v), s, "{v}");
        }
    }
}
