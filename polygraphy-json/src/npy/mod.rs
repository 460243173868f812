//! The NumPy `.npy` array format.
//!
//! Reads format versions 1.0, 2.0 and 3.0 (3.0 has a UTF-8 header) holding one of the element
//! types `<f4 <f2 <f8 |i1 |u1 <i4 <i8 |b1`; any byte order is accepted (`<`, `>`, `|`, `=`;
//! big-endian data is byte-swapped), and `fortran_order: True` arrays are reordered to C order.
//!
//! Writes version 1.0 (2.0 when the header would not fit), byte for byte what `np.save` writes
//! for the same array: the header dict `{'descr': ..., 'fortran_order': False, 'shape': ..., }`,
//! NumPy's spare spaces for growing the first axis, then spaces and a final `'\n'` so that the
//! data starts at a multiple of 64 bytes.
//!
//! NumPy has no bfloat16: a [`Tensor::BF16`] is written as `<f4` (every bfloat16 value is exactly
//! representable in float32), so it reads back as [`Tensor::F32`].

use std::io::{Read, Write};

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use precision_core::{DType, Tensor};

use crate::error::{Error, Location, Result};

mod header;
use header::{Header, escape_bytes, parse_header};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
const ALIGN: usize = 64;
/// NumPy leaves room for the first axis to grow to this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Headers larger than this are rejected rather than buffered.
const MAX_HEADER_LEN: usize = 1 << 20;
/// Without a known input length, element storage is reserved at most this many bytes ahead.
const MAX_BLIND_RESERVE: u64 = 64 << 20;

/// Reads a complete `.npy` file held in memory.
pub fn read(bytes: &[u8]) -> Result<Tensor> {
    read_at(bytes, &Location::memory())
}

/// Reads a `.npy` file from a reader, up to its end.
pub fn read_from(reader: impl Read) -> Result<Tensor> {
    read_from_at(reader, &Location::memory())
}

/// Writes a tensor as a `.npy` file (a `BF16` tensor as `<f4`).
pub fn write(writer: impl Write, tensor: &Tensor) -> Result<()> {
    write_at(writer, tensor, &Location::memory())
}

/// The `.npy` file for a tensor, as `np.save` would write it.
#[must_use]
pub fn to_bytes(tensor: &Tensor) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + tensor.size_in_bytes());
    // Writing to a Vec cannot fail, and building a header cannot fail.
    write_at(&mut out, tensor, &Location::memory()).expect("writing to memory cannot fail");
    out
}

pub(crate) fn read_at(bytes: &[u8], at: &Location) -> Result<Tensor> {
    let mut d = Decoder::new(at.clone(), Some(bytes.len() as u64));
    d.push(bytes)?;
    d.finish()
}

pub(crate) fn read_from_at(mut reader: impl Read, at: &Location) -> Result<Tensor> {
    let mut d = Decoder::new(at.clone(), None);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(at, "reading", e)),
        };
        d.push(&buf[..n])?;
    }
    d.finish()
}

// ---------------------------------------------------------------------------------------------
// Element types

/// An element type as stored in `.npy` data.
trait Elem: Copy {
    const SIZE: usize;
    fn from_le(b: &[u8]) -> Self;
    fn from_be(b: &[u8]) -> Self;
}

macro_rules! impl_elem_num {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_le(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().expect("chunk has the element size"))
            }
            fn from_be(b: &[u8]) -> Self {
                <$t>::from_be_bytes(b.try_into().expect("chunk has the element size"))
            }
        }
    )*};
}
impl_elem_num!(f32, f64, i8, u8, i32, i64, f16);

impl Elem for bool {
    const SIZE: usize = 1;
    fn from_le(b: &[u8]) -> Self {
        b[0] != 0
    }
    fn from_be(b: &[u8]) -> Self {
        b[0] != 0
    }
}

/// Collects elements of one type from byte chunks of any size.
struct Sink<T> {
    data: Vec<T>,
    carry: [u8; 8],
    carry_len: usize,
    big_endian: bool,
}

impl<T: Elem> Sink<T> {
    fn new(reserve: usize, big_endian: bool) -> Self {
        Sink { data: Vec::with_capacity(reserve), carry: [0; 8], carry_len: 0, big_endian }
    }

    fn convert(&self, b: &[u8]) -> T {
        if self.big_endian { T::from_be(b) } else { T::from_le(b) }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        if self.carry_len > 0 {
            let take = (T::SIZE - self.carry_len).min(bytes.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&bytes[..take]);
            self.carry_len += take;
            bytes = &bytes[take..];
            if self.carry_len == T::SIZE {
                let v = self.convert(&self.carry[..T::SIZE]);
                self.data.push(v);
                self.carry_len = 0;
            }
        }
        let chunks = bytes.chunks_exact(T::SIZE);
        let rest = chunks.remainder();
        if self.big_endian {
            self.data.extend(chunks.map(T::from_be));
        } else {
            self.data.extend(chunks.map(T::from_le));
        }
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len += rest.len();
    }
}

enum AnySink {
    F32(Sink<f32>),
    F16(Sink<f16>),
    F64(Sink<f64>),
    I8(Sink<i8>),
    U8(Sink<u8>),
    I32(Sink<i32>),
    I64(Sink<i64>),
    Bool(Sink<bool>),
}

macro_rules! on_sink {
    ($sink:expr, $s:ident => $body:expr) => {
        match $sink {
            AnySink::F32($s) => $body,
            AnySink::F16($s) => $body,
            AnySink::F64($s) => $body,
            AnySink::I8($s) => $body,
            AnySink::U8($s) => $body,
            AnySink::I32($s) => $body,
            AnySink::I64($s) => $body,
            AnySink::Bool($s) => $body,
        }
    };
}

impl AnySink {
    fn new(dtype: DType, reserve: usize, big_endian: bool) -> Self {
        match dtype {
            DType::F16 => AnySink::F16(Sink::new(reserve, big_endian)),
            DType::F64 => AnySink::F64(Sink::new(reserve, big_endian)),
            DType::I8 => AnySink::I8(Sink::new(reserve, big_endian)),
            DType::U8 => AnySink::U8(Sink::new(reserve, big_endian)),
            DType::I32 => AnySink::I32(Sink::new(reserve, big_endian)),
            DType::I64 => AnySink::I64(Sink::new(reserve, big_endian)),
            DType::Bool => AnySink::Bool(Sink::new(reserve, big_endian)),
            // BF16 never comes out of `parse_descr`; F32 is the remaining case.
            _ => AnySink::F32(Sink::new(reserve, big_endian)),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        on_sink!(self, s => s.push(bytes));
    }

    fn into_tensor(self, shape: &[usize], fortran: bool) -> Tensor {
        fn build<T: Clone>(data: Vec<T>, shape: &[usize], fortran: bool) -> ArrayD<T> {
            let array = if fortran {
                ArrayD::from_shape_vec(IxDyn(shape).f(), data)
            } else {
                ArrayD::from_shape_vec(IxDyn(shape), data)
            }
            .expect("element count was checked against the shape");
            if fortran && !array.is_standard_layout() {
                array.as_standard_layout().into_owned()
            } else {
                array
            }
        }
        on_sink!(self, s => Tensor::from(build(s.data, shape, fortran)))
    }
}

// ---------------------------------------------------------------------------------------------
// Incremental decoder

enum State {
    /// Collecting the magic, version and header length.
    Prefix,
    /// Collecting `len` header bytes of the given version.
    Header { major: u8, len: usize },
    /// Collecting element data.
    Data { header: Header, sink: AnySink, expected: u64, received: u64 },
}

/// Decodes a `.npy` file from byte chunks of any size, without keeping the raw bytes.
pub(crate) struct Decoder {
    at: Location,
    /// Total input length, if known in advance (for early length checks and exact reservation).
    total: Option<u64>,
    /// Without `total`, element storage is reserved at most this many bytes ahead.
    reserve_cap: u64,
    consumed: u64,
    buf: Vec<u8>,
    state: State,
}

impl Decoder {
    pub(crate) fn new(at: Location, total: Option<u64>) -> Self {
        Decoder {
            at,
            total,
            reserve_cap: MAX_BLIND_RESERVE,
            consumed: 0,
            buf: Vec::new(),
            state: State::Prefix,
        }
    }

    /// A decoder for input of unknown length that reserves at most `cap` bytes of elements
    /// ahead (an upper bound of the input's size avoids regrowing large arrays).
    pub(crate) fn with_reserve_cap(at: Location, cap: u64) -> Self {
        Decoder { reserve_cap: cap, ..Decoder::new(at, None) }
    }

    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Prefix => {
                    let take = (12 - self.buf.len()).min(bytes.len());
                    self.buf.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    self.consumed += take as u64;
                    self.check_prefix(false)?;
                }
                State::Header { len, .. } => {
                    let take = (*len - self.buf.len()).min(bytes.len());
                    self.buf.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    self.consumed += take as u64;
                    if self.buf.len() == *len {
                        self.start_data()?;
                    }
                }
                State::Data { sink, expected, received, .. } => {
                    let room = *expected - *received;
                    if bytes.len() as u64 > room {
                        let found = *received + bytes.len() as u64;
                        return Err(self.data_length(found));
                    }
                    sink.push(bytes);
                    *received += bytes.len() as u64;
                    self.consumed += bytes.len() as u64;
                    bytes = &[];
                }
            }
        }
        Ok(())
    }

    fn data_length(&self, found: u64) -> Error {
        let expected = match &self.state {
            State::Data { expected, .. } => *expected,
            _ => 0,
        };
        Error::DataLength { at: self.at.clone(), what: "the array data", expected, found }
    }

    /// Validates the collected prefix; at the end of input (`done`) a short prefix is an error.
    fn check_prefix(&mut self, done: bool) -> Result<()> {
        let b = &self.buf;
        let magic_seen = b.len().min(MAGIC.len());
        if b[..magic_seen] != MAGIC[..magic_seen] {
            if b.starts_with(b"PK") {
                return Err(Error::NpyMagic {
                    at: self.at.clone(),
                    found: format!(
                        "{} (an .npz archive, which is not supported; save a single array with \
                         np.save)",
                        escape_bytes(b)
                    ),
                });
            }
            return Err(Error::NpyMagic { at: self.at.clone(), found: escape_bytes(b) });
        }
        if b.len() < 8 {
            if done {
                if b.len() < MAGIC.len() {
                    return Err(Error::NpyMagic { at: self.at.clone(), found: escape_bytes(b) });
                }
                return Err(self.short_header(b.len() as u64, 10));
            }
            return Ok(());
        }
        let (major, minor) = (b[6], b[7]);
        let prefix_len = match (major, minor) {
            (1, 0) => 10,
            (2 | 3, 0) => 12,
            _ => return Err(Error::NpyVersion { at: self.at.clone(), major, minor }),
        };
        if b.len() < prefix_len {
            if done {
                return Err(self.short_header(b.len() as u64, prefix_len as u64));
            }
            return Ok(());
        }
        let len = if major == 1 {
            usize::from(u16::from_le_bytes([b[8], b[9]]))
        } else {
            u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize
        };
        if len > MAX_HEADER_LEN {
            return Err(Error::NpyHeader {
                at: self.at.clone(),
                problem: format!(
                    "the header claims {len} bytes, more than the {MAX_HEADER_LEN} this reader \
                     accepts; the data is probably corrupt"
                ),
            });
        }
        let end = (prefix_len + len) as u64;
        if let Some(total) = self.total
            && total < end
        {
            return Err(self.short_header(total, end));
        }
        // The prefix buffer may already hold header bytes (a version 1 prefix is 10 bytes).
        let extra = self.buf.split_off(prefix_len);
        self.buf.clear();
        self.state = State::Header { major, len };
        if len == 0 {
            self.start_data()?;
        }
        self.push(&extra)?;
        // `push` counted these bytes again.
        self.consumed -= extra.len() as u64;
        Ok(())
    }

    fn short_header(&self, found: u64, expected: u64) -> Error {
        Error::DataLength { at: self.at.clone(), what: "the .npy header", expected, found }
    }

    fn start_data(&mut self) -> Result<()> {
        let State::Header { major, .. } = self.state else { unreachable!("called in Header") };
        let raw = std::mem::take(&mut self.buf);
        let text = if major == 3 {
            String::from_utf8(raw).map_err(|_| Error::NpyHeader {
                at: self.at.clone(),
                problem: "a version 3.0 header must be UTF-8".to_owned(),
            })?
        } else {
            raw.iter().map(|&b| char::from(b)).collect()
        };
        let header = parse_header(&text, &self.at)?;
        // Also refuses shapes with a zero dimension whose other dimensions overflow, which
        // ndarray would refuse when the tensor is built.
        let count = precision_core::byte_size(header.dtype, &header.shape).map(|n| n as u64);
        let Some(expected) = count else {
            return Err(Error::NpyHeader {
                at: self.at.clone(),
                problem: format!("shape {:?} is too large", header.shape),
            });
        };
        let reserve_bytes = match self.total {
            Some(total) => {
                let available = total - self.consumed;
                if available < expected {
                    return Err(Error::DataLength {
                        at: self.at.clone(),
                        what: "the array data",
                        expected,
                        found: available,
                    });
                }
                expected
            }
            None => expected.min(self.reserve_cap),
        };
        let reserve = (reserve_bytes / header.dtype.size() as u64) as usize;
        let sink = AnySink::new(header.dtype, reserve, header.big_endian);
        self.state = State::Data { header, sink, expected, received: 0 };
        Ok(())
    }

    /// Ends the input and returns the tensor.
    pub(crate) fn finish(mut self) -> Result<Tensor> {
        match self.state {
            State::Prefix => {
                self.check_prefix(true)?;
                // A complete prefix moves on to the next state, so this is unreachable in practice.
                Err(self.short_header(self.consumed, 10))
            }
            State::Header { len, .. } => {
                let prefix = self.consumed - self.buf.len() as u64;
                Err(self.short_header(self.consumed, prefix + len as u64))
            }
            State::Data { header, sink, expected, received } => {
                if received != expected {
                    return Err(Error::DataLength {
                        at: self.at,
                        what: "the array data",
                        expected,
                        found: received,
                    });
                }
                Ok(sink.into_tensor(&header.shape, header.fortran))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The descriptor written for a dtype.
fn descr_for(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 | DType::BF16 => "<f4",
        DType::F16 => "<f2",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::Bool => "|b1",
    }
}

/// The `.npy` header (magic, version, length, padded dict) for a tensor, as NumPy writes it.
pub(crate) fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_repr = match shape {
        [] => "()".to_owned(),
        [d] => format!("({d},)"),
        dims => {
            let parts: Vec<String> = dims.iter().map(ToString::to_string).collect();
            format!("({})", parts.join(", "))
        }
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_repr}, }}",
        descr_for(dtype)
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.extend(std::iter::repeat_n(' ', GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let wrap = |prefix_len: usize| {
        let hlen = dict.len() + 1;
        let pad = ALIGN - (prefix_len + hlen) % ALIGN;
        hlen + pad
    };
    let (version, prefix_len) = if u16::try_from(wrap(10)).is_ok() { (1u8, 10) } else { (2u8, 12) };
    let total = wrap(prefix_len);
    let mut out = Vec::with_capacity(prefix_len + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix_len + total - 1, b' ');
    out.push(b'\n');
    out
}

/// Writes the elements of `a` in C order as little-endian bytes, through a bounded buffer.
fn write_elems<T, const N: usize>(
    w: &mut impl Write,
    a: &ArrayD<T>,
    to_le: impl Fn(&T) -> [u8; N],
) -> std::io::Result<()> {
    const CHUNK: usize = 1 << 16;
    let mut buf = Vec::with_capacity(CHUNK + N);
    let mut put = |v: &T, buf: &mut Vec<u8>| -> std::io::Result<()> {
        buf.extend_from_slice(&to_le(v));
        if buf.len() >= CHUNK {
            w.write_all(buf)?;
            buf.clear();
        }
        Ok(())
    };
    if let Some(slice) = a.as_slice() {
        for v in slice {
            put(v, &mut buf)?;
        }
    } else {
        for v in a {
            put(v, &mut buf)?;
        }
    }
    w.write_all(&buf)
}

pub(crate) fn write_at(mut w: impl Write, tensor: &Tensor, at: &Location) -> Result<()> {
    let io = |e| Error::io(at, "writing", e);
    w.write_all(&header_bytes(tensor.dtype(), tensor.shape())).map_err(io)?;
    match tensor {
        Tensor::F32(a) => write_elems(&mut w, a, |v| v.to_le_bytes()),
        Tensor::F16(a) => write_elems(&mut w, a, |v| v.to_le_bytes()),
        Tensor::BF16(a) => write_elems(&mut w, a, |v: &bf16| v.to_f32().to_le_bytes()),
        Tensor::F64(a) => write_elems(&mut w, a, |v| v.to_le_bytes()),
        Tensor::I8(a) => write_elems(&mut w, a, |v| v.to_le_bytes()),
        Tensor::U8(a) => write_elems(&mut w, a, |v| [*v]),
        Tensor::I32(a) => write_elems(&mut w, a, |v| v.to_le_bytes()),
        Tensor::I64(a) => write_elems(&mut w, a, |v| v.to_le_bytes()),
        Tensor::Bool(a) => write_elems(&mut w, a, |v| [u8::from(*v)]),
    }
    .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(text: &str) -> Result<Header> {
        parse_header(text, &Location::memory())
    }

    #[test]
    fn parses_headers_in_any_layout() {
        let h =
            header_of("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }   \n").unwrap();
        assert_eq!(
            h,
            Header { dtype: DType::F32, big_endian: false, fortran: false, shape: vec![1, 2] }
        );
        let h = header_of("{ \"shape\" : (3,) ,'fortran_order':True,'descr':'>i4'}").unwrap();
        assert_eq!(
            h,
            Header { dtype: DType::I32, big_endian: true, fortran: true, shape: vec![3] }
        );
        let h = header_of("{'descr': '|b1', 'fortran_order': False, 'shape': (), }").unwrap();
        assert!(h.shape.is_empty());
        let h = header_of("{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 3L)}").unwrap();
        assert_eq!(h.shape, vec![2, 3]);
        let deep = format!("{{'shape': {}{}}}", "(".repeat(100_000), ")".repeat(100_000));
        let e = header_of(&deep).unwrap_err();
        assert!(e.to_string().contains("nested more than 8 deep"), "{e}");
        let h = header_of("{'descr': '<i8', 'fortran_order': False, 'shape': ((2), 3)}").unwrap();
        assert_eq!(h.shape, vec![2, 3]);
    }

    #[test]
    fn rejects_bad_headers_with_reasons() {
        let e = header_of("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }").unwrap_err();
        assert!(e.to_string().contains("'shape' must be a tuple"), "{e}");
        let e = header_of("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }").unwrap_err();
        assert!(e.to_string().contains("unsupported dtype '<c8'"), "{e}");
        assert!(e.to_string().contains("<f4 <f2 <f8"), "{e}");
        let e = header_of("{'descr': '<f4', 'shape': (3,), }").unwrap_err();
        assert!(e.to_string().contains("missing key"), "{e}");
        let e = header_of("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}")
            .unwrap_err();
        assert!(e.to_string().contains("unexpected key 'x'"), "{e}");
        let e = header_of("{'descr': '<f4' 'fortran_order': False}").unwrap_err();
        assert!(e.to_string().contains("expected ',' or '}'"), "{e}");
        let e = header_of("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}")
            .unwrap_err();
        assert!(e.to_string().contains("unsupported dtype"), "{e}");
    }

    #[test]
    fn header_matches_numpy_layout() {
        // The header of the array in the Polygraphy samples: f32, shape (1, 2), 128 bytes.
        let h = header_bytes(DType::F32, &[1, 2]);
        assert_eq!(h.len(), 128);
        assert_eq!(&h[..10], b"\x93NUMPY\x01\x00\x76\x00");
        assert!(h.ends_with(b" \n"));
        for shape in [&[][..], &[0], &[7], &[1, 3, 48, 192], &[123_456_789_012, 1]] {
            let h = header_bytes(DType::I64, shape);
            assert_eq!(h.len() % 64, 0, "{shape:?}");
        }
    }

    #[test]
    fn decodes_one_byte_at_a_time() {
        let t = Tensor::from(
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).map(|v| v as f32).collect()).unwrap(),
        );
        let bytes = to_bytes(&t);
        let mut d = Decoder::new(Location::memory(), None);
        for b in &bytes {
            d.push(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(d.finish().unwrap(), t);
    }

    #[test]
    fn reorders_fortran_and_swaps_big_endian() {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let dict = "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }";
        let len = 128 - 10;
        bytes.extend_from_slice(&(len as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.resize(127, b' ');
        bytes.push(b'\n');
        // Column-major 2x3 of [[0, 1, 2], [3, 4, 5]] is 0 3 1 4 2 5.
        for v in [0i32, 3, 1, 4, 2, 5] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        let t = read(&bytes).unwrap();
        let expected = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(t, Tensor::I32(expected));
    }
}
