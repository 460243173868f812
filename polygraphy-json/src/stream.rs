//! A reader between the file and the JSON parser that decodes array payloads as they stream by.
//!
//! `serde_json` hands a string to a visitor only once it holds all of it, which for a large array
//! means holding its whole base64 text. This reader instead recognises the string value of an
//! `"array"` key while the bytes pass, decodes it in bounded chunks straight into a tensor, and
//! hands the parser a short placeholder string (`\u0001PGJ<n>`) in its place; the ndarray seed
//! then takes tensor `n` from the shared table. Strings it does not recognise (escaped keys,
//! latin-1 payloads) pass through unchanged and are decoded by the seed as before.

use std::cell::RefCell;
use std::io::{self, BufRead, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use precision_core::Tensor;

use crate::error::{Error, Location, Result};
use crate::npy::Decoder;

/// The prefix of the placeholder strings (after JSON unescaping).
pub(crate) const TOKEN_PREFIX: &str = "\u{1}PGJ";
/// Base64 characters decoded per step (a multiple of 4).
const CHUNK: usize = 1 << 16;

/// Tensors decoded from the stream, by placeholder index.
#[derive(Default)]
pub(crate) struct Payloads(RefCell<Vec<Option<Result<Tensor>>>>);

impl Payloads {
    /// Takes the tensor a placeholder string stands for, if `s` is one.
    pub(crate) fn take(&self, s: &str) -> Option<Result<Tensor>> {
        let index: usize = s.strip_prefix(TOKEN_PREFIX)?.parse().ok()?;
        self.0.borrow_mut().get_mut(index)?.take()
    }

    fn push(&self, result: Result<Tensor>) -> usize {
        let mut v = self.0.borrow_mut();
        v.push(Some(result));
        v.len() - 1
    }
}

enum Mode {
    /// Ordinary JSON, passed through.
    Normal,
    /// Just after the opening quote of a value of an `"array"` key.
    PayloadStart,
    /// Inside an intercepted payload string.
    Payload(Box<PayloadDecoder>),
    /// Just after a backslash inside an intercepted payload string.
    PayloadEscape(Box<PayloadDecoder>),
    /// Skipping the rest of a payload string after an error (`true` after a backslash).
    Skip(Box<PayloadDecoder>, bool),
}

/// Streams base64 text into a `.npy` decoder.
struct PayloadDecoder {
    text: Vec<u8>,
    /// Characters of the string consumed so far (for error offsets).
    offset: usize,
    decoded: Vec<u8>,
    npy: Decoder,
    error: Option<Error>,
}

impl PayloadDecoder {
    fn new(reserve_cap: u64) -> Self {
        PayloadDecoder {
            text: Vec::with_capacity(CHUNK + 4),
            offset: 0,
            decoded: vec![0; CHUNK / 4 * 3],
            npy: Decoder::with_reserve_cap(Location::memory(), reserve_cap),
            error: None,
        }
    }

    fn bad(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(Error::Base64 { at: Location::memory(), message });
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (CHUNK + 4 - self.text.len()).min(bytes.len());
            self.text.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            // Keep the last characters back: only the end of the string may hold padding.
            if self.text.len() == CHUNK + 4 {
                self.decode(CHUNK, false);
                self.text.drain(..CHUNK);
            }
        }
    }

    fn decode(&mut self, n: usize, last: bool) {
        if self.error.is_some() {
            self.offset += n;
            return;
        }
        let chunk = &self.text[..n];
        let body = if last { &chunk[..n.saturating_sub(2)] } else { chunk };
        if let Some(i) = find(body, |b| b == b'=') {
            let at = self.offset + i;
            self.bad(format!("padding '=' at offset {at} before the end of the string"));
            return;
        }
        match STANDARD.decode_slice(chunk, &mut self.decoded) {
            Ok(len) => {
                if let Err(e) = self.npy.push(&self.decoded[..len]) {
                    self.error = Some(e);
                }
            }
            Err(e) => {
                let offset = self.offset;
                self.bad(match e {
                    base64::DecodeSliceError::DecodeError(
                        base64::DecodeError::InvalidByte(o, b)
                        | base64::DecodeError::InvalidLastSymbol(o, b),
                    ) => format!("invalid character {:?} at offset {}", char::from(b), offset + o),
                    other => other.to_string(),
                });
            }
        }
        self.offset += n;
    }

    fn finish(mut self) -> Result<Tensor> {
        let n = self.text.len();
        if self.error.is_none() && !n.is_multiple_of(4) {
            let total = self.offset + n;
            self.bad(format!(
                "its length {total} is not a multiple of 4; the string is truncated or corrupt"
            ));
        }
        self.decode(n, true);
        match self.error {
            Some(e) => Err(e),
            None => self.npy.finish(),
        }
    }
}

/// The position of the first byte matching `hit`: whole blocks are tested without early exit
/// first, which the compiler vectorizes (payload strings are long).
fn find(bytes: &[u8], hit: impl Fn(u8) -> bool) -> Option<usize> {
    const BLOCK: usize = 64;
    let mut start = 0;
    for block in bytes.chunks_exact(BLOCK) {
        let block: &[u8; BLOCK] = block.try_into().expect("chunks_exact gives whole blocks");
        let mut any = 0u8;
        for &b in block {
            any |= u8::from(hit(b));
        }
        if any != 0 {
            break;
        }
        start += BLOCK;
    }
    bytes[start..].iter().position(|&b| hit(b)).map(|i| start + i)
}

/// Decodes a complete base64 payload (one that did not stream past a [`PayloadReader`]).
pub(crate) fn decode_base64(text: &[u8]) -> Result<Tensor> {
    let mut decoder = PayloadDecoder::new(text.len() as u64 / 4 * 3 + 3);
    decoder.feed(text);
    decoder.finish()
}

/// Reads JSON from `inner`, replacing the base64 payloads of `"array"` keys by placeholders.
pub(crate) struct PayloadReader<'a, R> {
    inner: R,
    payloads: &'a Payloads,
    /// Bytes left in the input, if known: a bound for reserving tensor storage.
    remaining: Option<u64>,
    mode: Mode,
    pending: Vec<u8>,
    pending_pos: usize,
    lexer: Lexer,
}

/// Lexical state for `Mode::Normal`.
#[derive(Default)]
struct Lexer {
    in_string: bool,
    escape: bool,
    /// Length of the current string so far, and whether it still matches `array`.
    key_len: usize,
    key_match: bool,
    /// 0: nothing; 1: after the string "array"; 2: after `"array":`.
    stage: u8,
}

impl Lexer {
    /// Copies ordinary JSON to `out`, stopping after the opening quote of a payload; returns the
    /// bytes copied and whether a payload starts.
    fn pass(&mut self, input: &[u8], out: &mut [u8]) -> (usize, bool) {
        let n = input.len().min(out.len());
        for (i, &b) in input[..n].iter().enumerate() {
            out[i] = b;
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    self.key_match = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    self.stage = u8::from(self.key_match && self.key_len == 5);
                } else {
                    self.key_match &= self.key_len < 5 && b == b"array"[self.key_len];
                    self.key_len += 1;
                }
                continue;
            }
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => {}
                b':' if self.stage == 1 => self.stage = 2,
                b'"' if self.stage == 2 => {
                    self.stage = 0;
                    return (i + 1, true);
                }
                b'"' => {
                    self.in_string = true;
                    self.key_len = 0;
                    self.key_match = true;
                    self.stage = 0;
                }
                _ => self.stage = 0,
            }
        }
        (n, false)
    }

    /// Continues inside a string that is not intercepted.
    fn resume_string(&mut self) {
        self.in_string = true;
        self.escape = false;
        self.key_len = 0;
        self.key_match = false;
        self.stage = 0;
    }
}

impl<'a, R: BufRead> PayloadReader<'a, R> {
    pub(crate) fn new(inner: R, payloads: &'a Payloads, size: Option<u64>) -> Self {
        PayloadReader {
            inner,
            payloads,
            remaining: size,
            mode: Mode::Normal,
            pending: Vec::new(),
            pending_pos: 0,
            lexer: Lexer::default(),
        }
    }

    fn emit_pending(&mut self, out: &mut [u8]) -> usize {
        let n = (self.pending.len() - self.pending_pos).min(out.len());
        out[..n].copy_from_slice(&self.pending[self.pending_pos..self.pending_pos + n]);
        self.pending_pos += n;
        if self.pending_pos == self.pending.len() {
            self.pending.clear();
            self.pending_pos = 0;
        }
        n
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(n as u64);
        }
    }

    /// Ends an intercepted payload: stores its tensor and emits the placeholder and the quote.
    fn finish_payload(&mut self, decoder: PayloadDecoder) {
        let index = self.payloads.push(decoder.finish());
        self.pending.extend_from_slice(format!("\\u0001PGJ{index}\"").as_bytes());
        self.mode = Mode::Normal;
        self.lexer = Lexer::default();
    }
}

impl<R: BufRead> Read for PayloadReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pending_pos < self.pending.len() {
                return Ok(self.emit_pending(out));
            }
            let input = self.inner.fill_buf()?;
            if input.is_empty() {
                // The parser reports the early end; an unfinished payload is dropped.
                return Ok(0);
            }
            match std::mem::replace(&mut self.mode, Mode::Normal) {
                Mode::Normal => {
                    let (n, payload) = self.lexer.pass(input, out);
                    if payload {
                        self.mode = Mode::PayloadStart;
                    }
                    self.consume(n);
                    return Ok(n);
                }
                Mode::PayloadStart => {
                    let first = input[0];
                    if first == b'\\' || first >= 0x80 {
                        // An escaped or non-ASCII payload (legacy latin-1): the seed decodes it.
                        self.lexer.resume_string();
                        continue;
                    }
                    let cap = self.remaining.map_or(64 << 20, |r| r / 4 * 3 + 3);
                    self.mode = Mode::Payload(Box::new(PayloadDecoder::new(cap)));
                }
                Mode::Payload(mut decoder) => {
                    let stop = find(input, |b| b == b'"' || b == b'\\');
                    let end = stop.unwrap_or(input.len());
                    decoder.feed(&input[..end]);
                    let stop_byte = stop.map(|i| input[i]);
                    match stop_byte {
                        None => {
                            self.mode = Mode::Payload(decoder);
                            self.consume(end);
                        }
                        Some(b'"') => {
                            self.consume(end + 1);
                            self.finish_payload(*decoder);
                        }
                        Some(_) => {
                            self.consume(end + 1);
                            self.mode = Mode::PayloadEscape(decoder);
                        }
                    }
                }
                Mode::PayloadEscape(mut decoder) => {
                    if input[0] == b'/' {
                        // `\/` is a valid JSON spelling of `/`, which base64 uses.
                        decoder.feed(b"/");
                        self.consume(1);
                        self.mode = Mode::Payload(decoder);
                    } else {
                        let at = decoder.offset + decoder.text.len();
                        decoder.bad(format!("escape sequence at offset {at}; base64 needs none"));
                        self.mode = Mode::Skip(decoder, true);
                    }
                }
                Mode::Skip(decoder, mut escape) => {
                    let mut done = None;
                    for (i, &b) in input.iter().enumerate() {
                        if escape {
                            escape = false;
                        } else if b == b'\\' {
                            escape = true;
                        } else if b == b'"' {
                            done = Some(i);
                            break;
                        }
                    }
                    if let Some(i) = done {
                        self.consume(i + 1);
                        self.finish_payload(*decoder);
                    } else {
                        let n = input.len();
                        self.consume(n);
                        self.mode = Mode::Skip(decoder, escape);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use std::io::BufReader;

    fn through(doc: &str, capacity: usize, payloads: &Payloads) -> String {
        let inner = BufReader::with_capacity(capacity, doc.as_bytes());
        let mut out = String::new();
        PayloadReader::new(inner, payloads, Some(doc.len() as u64))
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn payloads_are_replaced_at_any_buffer_boundary() {
        // Large enough to span several decoding chunks, with a length that needs padding.
        let n = 3 * CHUNK / 4 + 5;
        let t = Tensor::U8(
            ArrayD::from_shape_vec(IxDyn(&[n]), (0..n).map(|i| i as u8).collect()).unwrap(),
        );
        let b64 = STANDARD.encode(crate::npy::to_bytes(&t));
        let doc = format!(
            "{{\"a\\\"rray\": \"array\", \"array\" :\n \"{b64}\", \"x\": {{\"array\": \"\\u0093NUMPY\"}}, \"array\": 1}}"
        );
        for capacity in [1, 2, 3, 7, 64, 1 << 20] {
            let payloads = Payloads::default();
            let out = through(&doc, capacity, &payloads);
            assert_eq!(
                out,
                "{\"a\\\"rray\": \"array\", \"array\" :\n \"\\u0001PGJ0\", \"x\": {\"array\": \"\\u0093NUMPY\"}, \"array\": 1}",
                "capacity {capacity}"
            );
            assert_eq!(payloads.take("\u{1}PGJ0").unwrap().unwrap(), t);
            assert!(payloads.take("\u{1}PGJ0").is_none());
            assert!(payloads.take("\u{1}PGJ1").is_none());
        }
    }

    #[test]
    fn bad_payloads_are_stored_as_errors_and_skipped() {
        let payloads = Payloads::default();
        let doc = r#"{"array": "AB\"CD\\", "array": "A=AA", "array": "", "array": "A\/\/\/", "array": "\/\/\/=", "k": 1}"#;
        let out = through(doc, 4, &payloads);
        let expected = r#"{"array": "\u0001PGJ0", "array": "\u0001PGJ1", "array": "\u0001PGJ2", "array": "\u0001PGJ3", "array": "\/\/\/=", "k": 1}"#;
        assert_eq!(out, expected);
        // `\/` is `/`, so "A///" is valid base64 (of bytes that are not a .npy file); a payload
        // starting with an escape passes through for the seed to decode.
        let escaped = payloads.take("\u{1}PGJ3").unwrap().unwrap_err().to_string();
        assert!(escaped.contains("expected magic"), "{escaped}");
        let errors: Vec<String> = (0..3)
            .map(|i| payloads.take(&format!("\u{1}PGJ{i}")).unwrap().unwrap_err().to_string())
            .collect();
        assert!(errors[0].contains("escape sequence at offset 2"), "{}", errors[0]);
        assert!(errors[1].contains("padding '=' at offset 1"), "{}", errors[1]);
        assert!(errors[2].contains("found no data"), "{}", errors[2]);
    }
}
