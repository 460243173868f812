//! The `.npy` header: the Python dict literal (`descr`, `fortran_order`, `shape`) parsed
//! strictly, every error located, and the element type its `descr` names.

#[allow(clippy::wildcard_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// Header

/// What a `.npy` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) dtype: DType,
    pub(super) big_endian: bool,
    pub(super) fortran: bool,
    pub(super) shape: Vec<usize>,
}

/// A Python literal as it may appear in a `.npy` header.
#[derive(Debug)]
pub(super) enum Value {
    Str(String),
    Bool(bool),
    Int(u64),
    Tuple(Vec<Value>),
    Other(String),
}

pub(super) struct HeaderParser<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
    /// Tuple nesting depth, bounded so that hostile headers cannot exhaust the stack.
    pub(super) depth: usize,
}

/// The deepest tuple nesting a header may have (shapes need one level).
pub(super) const MAX_NESTING: usize = 8;

impl HeaderParser<'_> {
    pub(super) fn skip_ws(&mut self) {
        while let Some(c) = self.text[self.pos..].chars().next() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    pub(super) fn fail<T>(&self, what: &str) -> Result<T, String> {
        let found = match self.peek() {
            Some(c) => format!("'{}'", c.escape_default()),
            None => "the end of the header".to_owned(),
        };
        Err(format!("expected {what} at character {}, found {found}", self.pos))
    }

    pub(super) fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(super) fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let Some(q @ ('\'' | '"')) = self.peek() else { return self.fail("a quoted string") };
        self.pos += 1;
        let rest = &self.text[self.pos..];
        let Some(end) = rest.find(q) else {
            return Err(format!("unterminated string starting at character {}", self.pos - 1));
        };
        let s = &rest[..end];
        if s.contains('\\') {
            return Err(format!("escape sequences are not supported in header string '{s}'"));
        }
        self.pos += end + 1;
        Ok(s.to_owned())
    }

    pub(super) fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        match self.peek() {
            Some('\'' | '"') => self.string().map(Value::Str),
            Some('(') => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(format!("tuples nested more than {MAX_NESTING} deep"));
                }
                let mut items = Vec::new();
                let mut saw_comma = false;
                loop {
                    if self.eat(')') {
                        break;
                    }
                    items.push(self.value()?);
                    if self.eat(',') {
                        saw_comma = true;
                    } else if self.eat(')') {
                        break;
                    } else {
                        return self.fail("',' or ')' in a tuple");
                    }
                }
                self.depth -= 1;
                if items.len() == 1 && !saw_comma {
                    // `(3)` is the number 3 in Python, not a tuple.
                    return Ok(items.pop().expect("one item"));
                }
                Ok(Value::Tuple(items))
            }
            Some('[' | '{') => {
                // A structured dtype's list or a nested dict: not something this crate reads.
                let start = self.pos;
                let mut depth = 0i32;
                for (i, c) in self.text[start..].char_indices() {
                    match c {
                        '[' | '{' | '(' => depth += 1,
                        ']' | '}' | ')' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        self.pos = start + i + 1;
                        return Ok(Value::Other(self.text[start..self.pos].to_owned()));
                    }
                }
                Err("unbalanced brackets".to_owned())
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
                    self.pos += 1;
                }
                let digits: String =
                    self.text[start..self.pos].chars().filter(|&c| c != '_').collect();
                // Python 2 wrote long integers with an `L` suffix.
                if matches!(self.peek(), Some('L' | 'l')) {
                    self.pos += 1;
                }
                digits
                    .parse()
                    .map(Value::Int)
                    .map_err(|_| format!("dimension {digits} is too large"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
                match &self.text[start..self.pos] {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    word => Ok(Value::Other(word.to_owned())),
                }
            }
            _ => self.fail("a value"),
        }
    }

    pub(super) fn dict(&mut self) -> Result<Vec<(String, Value)>, String> {
        if !self.eat('{') {
            return self.fail("'{'");
        }
        let mut entries = Vec::new();
        loop {
            if self.eat('}') {
                break;
            }
            let key = self.string()?;
            if !self.eat(':') {
                return self.fail("':'");
            }
            let value = self.value()?;
            entries.push((key, value));
            if self.eat(',') {
                continue;
            }
            if self.eat('}') {
                break;
            }
            return self.fail("',' or '}'");
        }
        self.skip_ws();
        if self.pos != self.text.len() {
            return self.fail("only spaces after the dict");
        }
        Ok(entries)
    }
}

/// Maps a `.npy` descriptor to a dtype and whether the data is big-endian.
pub(super) fn parse_descr(descr: &str) -> Option<(DType, bool)> {
    let (order, code) = match descr.chars().next()? {
        c @ ('<' | '>' | '|' | '=') => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let dtype = match code {
        "f4" => DType::F32,
        "f2" | "e" => DType::F16,
        "f8" | "d" => DType::F64,
        "i1" | "b" => DType::I8,
        "u1" | "B" => DType::U8,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "b1" | "?" => DType::Bool,
        _ => return None,
    };
    let big = match order {
        '>' => true,
        '=' => cfg!(target_endian = "big"),
        _ => false,
    };
    Some((dtype, big && dtype.size() > 1))
}

pub(super) fn parse_header(text: &str, at: &Location) -> Result<Header> {
    let bad = |problem: String| Error::NpyHeader { at: at.clone(), problem };
    let entries = HeaderParser { text, pos: 0, depth: 0 }.dict().map_err(&bad)?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        match key.as_str() {
            "descr" => descr = Some(value),
            "fortran_order" => fortran = Some(value),
            "shape" => shape = Some(value),
            other => {
                return Err(bad(format!(
                    "unexpected key '{other}'; a header has exactly 'descr', 'fortran_order' \
                     and 'shape'"
                )));
            }
        }
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return Err(bad(
            "missing key; a header has exactly 'descr', 'fortran_order' and 'shape'".to_owned()
        ));
    };
    let (dtype, big_endian) = match descr {
        Value::Str(s) => {
            parse_descr(&s).ok_or(Error::UnsupportedDtype { at: at.clone(), descr: s })?
        }
        other => {
            return Err(Error::UnsupportedDtype { at: at.clone(), descr: describe_value(&other) });
        }
    };
    let Value::Bool(fortran) = fortran else {
        return Err(bad(format!(
            "'fortran_order' must be True or False, found {}",
            describe_value(&fortran)
        )));
    };
    let Value::Tuple(dims) = shape else {
        return Err(bad(format!(
            "'shape' must be a tuple of integers, found {}",
            describe_value(&shape)
        )));
    };
    let shape = dims
        .into_iter()
        .map(|d| match d {
            Value::Int(n) => {
                usize::try_from(n).map_err(|_| bad(format!("dimension {n} is too large")))
            }
            other => {
                Err(bad(format!("'shape' must hold integers, found {}", describe_value(&other))))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Header { dtype, big_endian, fortran, shape })
}

pub(super) fn describe_value(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("'{s}'"),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Value::Int(n) => n.to_string(),
        Value::Tuple(items) => format!("a tuple of {} items", items.len()),
        Value::Other(s) => s.clone(),
    }
}

pub(super) fn escape_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "no data".to_owned();
    }
    format!("b\"{}\"", bytes.escape_ascii())
}
