//! Kubernetes objects (JSON-shaped Python dicts) to and from enveloped protobuf bodies.
//!
//! The Rust twin of `src/kube/native/protobuf.py`, whose docstring describes the JSON <->
//! protobuf mapping; this file follows it step for step so that both return the same result, or
//! raise ValueError with the same message, on any input (`tests/codec/test_protobuf.py` checks
//! that with hypothesis). The schema is `proto_schema.rs`, generated with the Python table by
//! `tools/gen_proto_schema.py`.
//!
//! Decoding reads the envelope (`envelope::decode`), then the object's message in one pass over
//! the bytes, building dicts directly: field numbers index a dense table, keys are interned
//! Python strings made once per field, and equal short string values within one object share
//! one str object.
//!
//! Encoding makes one pass over each dict (`PyDict_Next`), finding each key's field by its
//! cached Python hash in the message's `Layout` (the reference looks each schema field up
//! instead: the same values, as keys are unique), then writes the message *backwards* into a
//! growable buffer, as gogo-protobuf's generated marshallers do into a presized one: a nested
//! message is written first and its length and tag prepended after, so one pass suffices and
//! nothing is moved. Fields, list items and map entries are therefore visited in reverse; when a
//! value is wrong, the encoder runs again forwards (`Encoder::forward`) so that the error
//! reported is the first one in field order, the one the Python reference reports.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyType};

use crate::envelope::{self, Envelope};
use crate::proto_schema::{API_VERSIONS, FIELDS, MESSAGES, META_KINDS, META_PACKAGE};

/// Nested messages (and envelopes) at most; deeper input is an error, not a stack overflow.
pub const MAX_DEPTH: usize = 100;
/// 0001-01-01T00:00:00Z, Go's zero `time.Time`: JSON null.
const ZERO_TIME: i64 = -62_135_596_800;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the times RFC 3339 can write.
const MIN_TIME: i64 = -62_167_219_200;
const MAX_TIME: i64 = 253_402_300_799;

/// What a field holds; see tools/gen_proto_schema.py.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Message,
    Map,
    Time,
    MicroTime,
    Quantity,
    IntOrString,
    Raw,
    StringList,
}

pub const REPEATED: u8 = 1;
pub const KEEP: u8 = 2;
pub const INLINE: u8 = 4;

/// One field of the schema table.
#[derive(Debug)]
pub struct Field {
    pub number: u32,
    pub name: &'static str,
    pub kind: Kind,
    /// Index into `MESSAGES` of a `Message` or `Map` (entry) field's message.
    pub message: usize,
    pub flags: u8,
}

impl Field {
    fn repeated(&self) -> bool {
        self.flags & REPEATED != 0
    }

    fn wire(&self) -> u8 {
        match self.kind {
            Kind::Bool | Kind::Int32 | Kind::Int64 => 0,
            _ => 2,
        }
    }

    fn tag(&self) -> u64 {
        u64::from(self.number) << 3 | u64::from(self.wire())
    }
}

/// One message of the schema table: its fields are `FIELDS[fields]`, sorted by number.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: Range<usize>,
}

/// Per-interpreter state, made on first use.
struct State {
    /// One interned key per entry of `FIELDS`.
    keys: Vec<Py<PyString>>,
    kind_key: Py<PyString>,
    api_version_key: Py<PyString>,
    messages: HashMap<&'static str, usize>,
    api_versions: HashMap<&'static str, &'static str>,
    dumps: Py<PyAny>,
    loads: Py<PyAny>,
    json_decode_error: Py<PyType>,
    json_encode_error: Py<PyType>,
    sorted: Py<PyAny>,
    /// Decoding: `numbers[starts[m] + n]` is 1 + the `FIELDS` index of field `n` of message
    /// `m` (0: none), for `n < limits[m]`.
    numbers: Vec<u16>,
    starts: Vec<(usize, u64)>,
    /// Encoding: how each message finds its fields among a dict's keys.
    layouts: Vec<Layout>,
}

/// A message's fields as the encoder finds them in a dict: `flat` lists the `FIELDS` indices of
/// its own fields, then the fields of each inline (embedded) field's message, flattened the
/// same way, since JSON holds those in the same object; `blocks[i]` is where own field `i`'s
/// block starts in `flat` (inline fields only). `table` is an open-addressing hash table of the
/// keys' Python hashes: (hash, 1 + index into `flat`), 0 for an empty slot.
struct Layout {
    flat: Vec<usize>,
    blocks: Vec<usize>,
    table: Vec<(isize, u32)>,
    /// Per slot, the last other str object that matched by content (a strong reference, so
    /// its address cannot be reused): orjson caches its keys, so the next dict usually holds
    /// the same object and matches by pointer.
    seen: Vec<AtomicPtr<ffi::PyObject>>,
}

fn flatten(message: usize, flat: &mut Vec<usize>, blocks: &mut Vec<usize>) {
    let range = MESSAGES[message].fields.clone();
    let start = flat.len();
    flat.extend(range.clone());
    let mut own_blocks = vec![0; range.len()];
    for (i, index) in range.enumerate() {
        if FIELDS[index].flags & INLINE != 0 {
            own_blocks[i] = flat.len() - start;
            flatten(FIELDS[index].message, flat, &mut Vec::new());
        }
    }
    *blocks = own_blocks;
}

fn layout(py: Python<'_>, keys: &[Py<PyString>], message: usize) -> PyResult<Layout> {
    let mut flat = Vec::new();
    let mut blocks = Vec::new();
    flatten(message, &mut flat, &mut blocks);
    let size = (flat.len() * 2).next_power_of_two().max(4);
    let mut table = vec![(0isize, 0u32); size];
    for (slot, &index) in flat.iter().enumerate() {
        if FIELDS[index].flags & INLINE != 0 {
            continue;
        }
        let hash = keys[index].bind(py).hash()?;
        let mut i = hash as usize & (size - 1);
        while table[i].1 != 0 {
            i = (i + 1) & (size - 1);
        }
        table[i] = (hash, slot as u32 + 1);
    }
    let seen = flat
        .iter()
        .map(|_| AtomicPtr::new(std::ptr::null_mut()))
        .collect();
    Ok(Layout {
        flat,
        blocks,
        table,
        seen,
    })
}

impl Layout {
    /// The slot of the field named by `key`, a str object, if this message has one.
    ///
    /// # Safety
    /// `key` must point to a live str object.
    unsafe fn find(&self, keys: &[Py<PyString>], key: *mut ffi::PyObject) -> Option<usize> {
        let hash = if ffi::PyUnicode_CheckExact(key) != 0
            && (*key.cast::<ffi::PyASCIIObject>()).hash != -1
        {
            (*key.cast::<ffi::PyASCIIObject>()).hash
        } else {
            let hash = ffi::PyObject_Hash(key);
            if hash == -1 {
                ffi::PyErr_Clear();
                return None;
            }
            hash
        };
        let mask = self.table.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let (entry_hash, slot) = self.table[i];
            if slot == 0 {
                return None;
            }
            if entry_hash == hash {
                let slot = slot as usize - 1;
                let index = self.flat[slot];
                // Relaxed is enough: the GIL orders every access.
                let seen = self.seen[slot].load(Ordering::Relaxed);
                if keys[index].as_ptr() == key || seen == key {
                    return Some(slot);
                }
                if str_equals(key, FIELDS[index].name) {
                    ffi::Py_INCREF(key);
                    let old = self.seen[slot].swap(key, Ordering::Relaxed);
                    if !old.is_null() {
                        ffi::Py_DECREF(old);
                    }
                    return Some(slot);
                }
            }
            i = (i + 1) & mask;
        }
    }
}

/// Whether the str object `key` holds exactly `name`.
///
/// # Safety
/// `key` must point to a live str object.
unsafe fn str_equals(key: *mut ffi::PyObject, name: &str) -> bool {
    let mut len: ffi::Py_ssize_t = 0;
    let data = ffi::PyUnicode_AsUTF8AndSize(key, &mut len);
    if data.is_null() {
        ffi::PyErr_Clear();
        return false;
    }
    std::slice::from_raw_parts(data.cast::<u8>(), len as usize) == name.as_bytes()
}

static STATE: PyOnceLock<State> = PyOnceLock::new();

fn state(py: Python<'_>) -> PyResult<&'static State> {
    STATE.get_or_try_init(py, || {
        let orjson = py.import("orjson")?;
        let keys: Vec<Py<PyString>> = FIELDS
            .iter()
            .map(|f| PyString::intern(py, f.name).unbind())
            .collect();
        let mut numbers = Vec::new();
        let mut starts = Vec::with_capacity(MESSAGES.len());
        for message in MESSAGES.iter() {
            let fields = &FIELDS[message.fields.clone()];
            let limit = fields.last().map_or(0, |f| f.number as usize + 1);
            let start = numbers.len();
            numbers.resize(start + limit, 0u16);
            for (i, f) in fields.iter().enumerate() {
                numbers[start + f.number as usize] = (message.fields.start + i + 1) as u16;
            }
            starts.push((start, limit as u64));
        }
        let layouts = (0..MESSAGES.len())
            .map(|m| layout(py, &keys, m))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(State {
            numbers,
            starts,
            layouts,
            keys,
            kind_key: PyString::intern(py, "kind").unbind(),
            api_version_key: PyString::intern(py, "apiVersion").unbind(),
            messages: MESSAGES
                .iter()
                .enumerate()
                .map(|(i, m)| (m.name, i))
                .collect(),
            api_versions: API_VERSIONS.iter().copied().collect(),
            dumps: orjson.getattr("dumps")?.unbind(),
            loads: orjson.getattr("loads")?.unbind(),
            json_decode_error: orjson
                .getattr("JSONDecodeError")?
                .cast_into::<PyType>()?
                .unbind(),
            json_encode_error: orjson
                .getattr("JSONEncodeError")?
                .cast_into::<PyType>()?
                .unbind(),
            sorted: py.import("builtins")?.getattr("sorted")?.unbind(),
        })
    })
}

/// A failure: a ValueError with this message, or a Python exception passed through.
enum Error {
    Value(String),
    Py(PyErr),
}

impl From<PyErr> for Error {
    fn from(err: PyErr) -> Self {
        Error::Py(err)
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> Self {
        match err {
            Error::Value(message) => PyValueError::new_err(message),
            Error::Py(err) => err,
        }
    }
}

/// `text` for an error message: lone surrogates (not UTF-8) become "?", as in the reference.
fn printable(text: &Bound<'_, PyString>) -> PyResult<String> {
    if let Ok(s) = text.to_str() {
        return Ok(s.to_owned());
    }
    // SAFETY: a valid str object, and C-string literals; the result is a new reference.
    let encoded = unsafe {
        Bound::from_owned_ptr_or_err(
            text.py(),
            ffi::PyUnicode_AsEncodedString(text.as_ptr(), c"utf-8".as_ptr(), c"replace".as_ptr()),
        )?
    };
    let bytes = encoded.cast_into::<PyBytes>()?;
    Ok(String::from_utf8_lossy(bytes.as_bytes()).into_owned())
}

/// The message of a top-level kind.
fn lookup(state: &State, api_version: &str, kind: &str) -> Option<usize> {
    let package = state.api_versions.get(api_version)?;
    if kind.is_empty() || kind.contains('.') {
        return None;
    }
    if let Some(&index) = state.messages.get(format!("{package}.{kind}").as_str()) {
        return Some(index);
    }
    if META_KINDS.contains(&kind) {
        return state
            .messages
            .get(format!("{META_PACKAGE}.{kind}").as_str())
            .copied();
    }
    None
}

fn unknown_kind(api_version: &str, kind: &str) -> Error {
    Error::Value(format!(
        "no protobuf message for kind \"{kind}\" in \"{api_version}\""
    ))
}

/// The field numbered `number` of message `message`, as an index into `FIELDS`.
#[inline]
fn field_by_number(state: &State, message: usize, number: u64) -> Option<usize> {
    let (start, limit) = state.starts[message];
    if number >= limit {
        return None;
    }
    match state.numbers[start + number as usize] {
        0 => None,
        index => Some(index as usize - 1),
    }
}

// -- decoding -----------------------------------------------------------------------------------

fn int32(value: u64) -> i32 {
    value as u32 as i32
}

fn int64(value: u64) -> i64 {
    value as i64
}

/// A cursor over `data[..end]`: one message of the object's raw bytes.
struct Decoder<'py, 'a> {
    py: Python<'py>,
    state: &'static State,
    data: &'a [u8],
    pos: usize,
    end: usize,
    /// Short strings already made from this input, by a hash of their bytes: one str object
    /// serves every equal value (enum-like values and names repeat a lot in objects).
    strings: Vec<Option<(usize, usize, Bound<'py, PyAny>)>>,
}

/// Strings up to this long are shared within one decoded object.
const SHARED_STRING_MAX: usize = 32;
const SHARED_STRING_SLOTS: usize = 256;

#[inline]
fn bytes_hash(bytes: &[u8]) -> usize {
    let mut hash: u64 = bytes.len() as u64;
    for &b in bytes {
        hash = (hash.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    (hash >> 32) as usize
}

impl<'py> Decoder<'py, '_> {
    fn varint(&mut self) -> Result<u64, Error> {
        let offset = self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            if self.pos >= self.end {
                return Err(Error::Value(format!("truncated varint at offset {offset}")));
            }
            let byte = self.data[self.pos];
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Error::Value(format!(
            "varint longer than 10 bytes at offset {offset}"
        )))
    }

    /// (field number, wire type, offset of the tag).
    fn tag(&mut self) -> Result<(u64, u8, usize), Error> {
        let offset = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > (1 << 29) - 1 {
            return Err(Error::Value(format!(
                "invalid field number {field} at offset {offset}"
            )));
        }
        Ok((field, (key & 7) as u8, offset))
    }

    fn take(&mut self, field: u64, offset: usize, need: u64) -> Result<usize, Error> {
        let left = self.end - self.pos;
        if need > left as u64 {
            return Err(Error::Value(format!(
                "field {field} at offset {offset} needs {need} bytes, only {left} left"
            )));
        }
        let start = self.pos;
        self.pos += need as usize;
        Ok(start)
    }

    fn length_delimited(&mut self, field: u64, offset: usize) -> Result<(usize, usize), Error> {
        let len = self.varint()?;
        let start = self.take(field, offset, len)?;
        Ok((start, self.pos))
    }

    fn skip_scalar(&mut self, field: u64, wire_type: u8, offset: usize) -> Result<(), Error> {
        match wire_type {
            0 => self.varint().map(drop),
            1 => self.take(field, offset, 8).map(drop),
            2 => self.length_delimited(field, offset).map(drop),
            5 => self.take(field, offset, 4).map(drop),
            4 => Err(Error::Value(format!(
                "end group {field} at offset {offset} without a start group"
            ))),
            _ => Err(Error::Value(format!(
                "invalid wire type {wire_type} at offset {offset}"
            ))),
        }
    }

    /// Skips a field the message does not know, groups included (nested, no recursion).
    fn skip(&mut self, field: u64, wire_type: u8, offset: usize) -> Result<(), Error> {
        if wire_type != 3 {
            return self.skip_scalar(field, wire_type, offset);
        }
        let mut open = vec![(field, offset)];
        while let Some(&(group, group_offset)) = open.last() {
            if self.pos >= self.end {
                return Err(Error::Value(format!(
                    "group {group} at offset {group_offset} is not terminated"
                )));
            }
            let (inner, inner_type, inner_offset) = self.tag()?;
            match inner_type {
                3 => open.push((inner, inner_offset)),
                4 if inner == group => {
                    open.pop();
                }
                4 => {
                    return Err(Error::Value(format!(
                        "end group {inner} at offset {inner_offset} does not close group {group}"
                    )))
                }
                _ => self.skip_scalar(inner, inner_type, inner_offset)?,
            }
        }
        Ok(())
    }

    /// The str of `data[start..end]`, decoded by Python's own strict UTF-8 decoder.
    fn text(
        &mut self,
        start: usize,
        end: usize,
        name: &str,
        offset: usize,
    ) -> Result<Bound<'py, PyAny>, Error> {
        let bytes = &self.data[start..end];
        if bytes.len() > SHARED_STRING_MAX || self.strings.is_empty() {
            return self.new_text(start, end, name, offset);
        }
        let slot = bytes_hash(bytes) & (SHARED_STRING_SLOTS - 1);
        if let Some((s, e, text)) = &self.strings[slot] {
            if &self.data[*s..*e] == bytes {
                return Ok(text.clone());
            }
        }
        let text = self.new_text(start, end, name, offset)?;
        self.strings[slot] = Some((start, end, text.clone()));
        Ok(text)
    }

    fn new_text(
        &self,
        start: usize,
        end: usize,
        name: &str,
        offset: usize,
    ) -> Result<Bound<'py, PyAny>, Error> {
        let bytes = &self.data[start..end];
        // SAFETY: a valid buffer of that length; the result is a new reference or NULL with an
        // exception set, which is cleared: an invalid string is reported as our own error.
        unsafe {
            let ptr = ffi::PyUnicode_DecodeUTF8(
                bytes.as_ptr().cast(),
                bytes.len() as ffi::Py_ssize_t,
                c"strict".as_ptr(),
            );
            if ptr.is_null() {
                let err = PyErr::fetch(self.py);
                if err.is_instance_of::<pyo3::exceptions::PyUnicodeDecodeError>(self.py) {
                    return Err(Error::Value(format!(
                        "field {name} at offset {offset} is not valid UTF-8"
                    )));
                }
                return Err(Error::Py(err));
            }
            Ok(Bound::from_owned_ptr(self.py, ptr))
        }
    }

    fn varint_value(&self, kind: Kind, value: u64) -> Bound<'py, PyAny> {
        match kind {
            Kind::Bool => PyBool::new(self.py, value != 0).to_owned().into_any(),
            Kind::Int32 => int32(value).into_pyobject(self.py).unwrap().into_any(),
            _ => int64(value).into_pyobject(self.py).unwrap().into_any(),
        }
    }

    /// Appends `value` to the list at `key` in `out`, making it if absent (`setdefault`).
    fn append(
        &self,
        out: &Bound<'py, PyDict>,
        key: &Bound<'py, PyString>,
        value: Bound<'py, PyAny>,
    ) -> Result<(), Error> {
        let list = self.setdefault(out, key, || PyList::empty(self.py).into_any())?;
        list.cast::<PyList>().map_err(PyErr::from)?.append(value)?;
        Ok(())
    }

    fn setdefault(
        &self,
        out: &Bound<'py, PyDict>,
        key: &Bound<'py, PyString>,
        make: impl FnOnce() -> Bound<'py, PyAny>,
    ) -> Result<Bound<'py, PyAny>, Error> {
        if let Some(existing) = out.get_item(key)? {
            return Ok(existing);
        }
        let value = make();
        out.set_item(key, &value)?;
        Ok(value)
    }

    /// Reads the message spanning `pos..end` into `out`.
    fn message(
        &mut self,
        end: usize,
        message: usize,
        depth: usize,
        out: &Bound<'py, PyDict>,
    ) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Value(format!(
                "messages nested deeper than {MAX_DEPTH} at offset {}",
                self.pos
            )));
        }
        let saved_end = self.end;
        self.end = end;
        let py = self.py;
        while self.pos < end {
            let (number, wire_type, offset) = self.tag()?;
            let Some(index) = field_by_number(self.state, message, number) else {
                self.skip(number, wire_type, offset)?;
                continue;
            };
            let f = &FIELDS[index];
            let key = self.state.keys[index].bind(py);
            if f.wire() == 0 && wire_type == 2 && f.repeated() {
                // Packed repeated numbers.
                let (start, stop) = self.length_delimited(number, offset)?;
                let list = self.setdefault(out, key, || PyList::empty(py).into_any())?;
                let list = list.cast::<PyList>().map_err(PyErr::from)?;
                let mut packed = Decoder {
                    py,
                    state: self.state,
                    data: self.data,
                    pos: start,
                    end: stop,
                    strings: Vec::new(),
                };
                while packed.pos < stop {
                    let value = packed.varint()?;
                    list.append(self.varint_value(f.kind, value))?;
                }
                continue;
            }
            if wire_type != f.wire() {
                return Err(Error::Value(format!(
                    "field {} at offset {offset} has wire type {wire_type}, expected {}",
                    f.name,
                    f.wire()
                )));
            }
            let value = if f.wire() == 0 {
                let raw = self.varint()?;
                let zero = match f.kind {
                    Kind::Int32 => int32(raw) == 0,
                    _ => raw == 0,
                };
                if zero && !f.repeated() && f.flags & KEEP == 0 {
                    out.del_item(key).ok(); // a zero Go writes and its JSON omits
                    continue;
                }
                self.varint_value(f.kind, raw)
            } else {
                let (start, stop) = self.length_delimited(number, offset)?;
                if f.kind == Kind::Map {
                    let (entry_key, item) = self.entry(start, stop, f.message, depth)?;
                    let map = self.setdefault(out, key, || PyDict::new(py).into_any())?;
                    map.set_item(entry_key, item)?;
                    continue;
                }
                if f.flags & INLINE != 0 {
                    self.pos = start;
                    self.message(stop, f.message, depth + 1, out)?;
                    continue;
                }
                if f.kind == Kind::String && start == stop && !f.repeated() && f.flags & KEEP == 0 {
                    out.del_item(key).ok();
                    continue;
                }
                self.value(start, stop, f, offset, depth)?
            };
            if f.repeated() {
                self.append(out, key, value)?;
            } else {
                out.set_item(key, value)?;
            }
        }
        self.end = saved_end;
        Ok(())
    }

    /// The JSON value of one length-delimited field whose payload is `data[start..stop]`.
    fn value(
        &mut self,
        start: usize,
        stop: usize,
        f: &Field,
        offset: usize,
        depth: usize,
    ) -> Result<Bound<'py, PyAny>, Error> {
        let py = self.py;
        match f.kind {
            Kind::String => return self.text(start, stop, f.name, offset),
            Kind::Bytes => {
                return Ok(PyString::new(py, &base64_encode(&self.data[start..stop])).into_any())
            }
            _ => {}
        }
        self.pos = start;
        if f.kind == Kind::Message {
            let out = PyDict::new(py);
            self.message(stop, f.message, depth + 1, &out)?;
            return Ok(out.into_any());
        }
        // The apimachinery types with a JSON shape of their own: read their few fields here.
        let kind = f.kind;
        let mut varints: [u64; 3] = [0; 3]; // fields 1 and 2 of Time and IntOrString
        let mut seen_raw: Option<(usize, usize)> = None;
        let mut text: Option<Bound<'py, PyAny>> = None; // Quantity 1, IntOrString 3
        let mut items: Option<Bound<'py, PyList>> = None; // StringList 1
        let saved_end = self.end;
        self.end = stop;
        while self.pos < stop {
            let (number, wire_type, field_offset) = self.tag()?;
            let timelike = matches!(kind, Kind::Time | Kind::MicroTime | Kind::IntOrString);
            if timelike && (number == 1 || number == 2) {
                let name = special_name(kind, number);
                if wire_type != 0 {
                    return Err(Error::Value(format!(
                        "field {name} at offset {field_offset} has wire type {wire_type}, expected 0"
                    )));
                }
                varints[number as usize] = self.varint()?;
            } else if number == 1 || (kind == Kind::IntOrString && number == 3) {
                let name = special_name(kind, number);
                if wire_type != 2 {
                    return Err(Error::Value(format!(
                        "field {name} at offset {field_offset} has wire type {wire_type}, expected 2"
                    )));
                }
                let (item_start, item_stop) = self.length_delimited(number, field_offset)?;
                if kind == Kind::Raw {
                    seen_raw = Some((item_start, item_stop));
                } else {
                    let item = self.text(item_start, item_stop, name, field_offset)?;
                    if kind == Kind::StringList {
                        items
                            .get_or_insert_with(|| PyList::empty(py))
                            .append(item)?;
                    } else {
                        text = Some(item);
                    }
                }
            } else {
                self.skip(number, wire_type, field_offset)?;
            }
        }
        self.end = saved_end;
        Ok(match kind {
            Kind::Time | Kind::MicroTime => {
                if start == stop {
                    return Ok(py.None().into_bound(py));
                }
                let micro = kind == Kind::MicroTime;
                match format_time(int64(varints[1]), int32(varints[2]), micro) {
                    Ok(Some(time)) => PyString::new(py, &time).into_any(),
                    Ok(None) => py.None().into_bound(py),
                    Err(()) => {
                        return Err(Error::Value(format!(
                            "field {} at offset {offset} has a time outside years 0-9999",
                            f.name
                        )))
                    }
                }
            }
            Kind::Quantity => match text {
                Some(text) => text,
                None => PyString::new(py, "0").into_any(),
            },
            Kind::IntOrString => match int64(varints[1]) {
                0 => int32(varints[2]).into_pyobject(py).unwrap().into_any(),
                1 => match text {
                    Some(text) => text,
                    None => PyString::new(py, "").into_any(),
                },
                other => {
                    return Err(Error::Value(format!(
                        "field {} at offset {offset} has IntOrString type {other}",
                        f.name
                    )))
                }
            },
            Kind::StringList => items.unwrap_or_else(|| PyList::empty(py)).into_any(),
            _ => self.raw(seen_raw, f, offset, depth)?,
        })
    }

    /// A RawExtension's (or FieldsV1's) JSON value: null, an embedded object, or JSON.
    fn raw(
        &self,
        seen: Option<(usize, usize)>,
        f: &Field,
        offset: usize,
        depth: usize,
    ) -> Result<Bound<'py, PyAny>, Error> {
        let py = self.py;
        let Some((start, stop)) = seen else {
            return Ok(py.None().into_bound(py));
        };
        let raw = &self.data[start..stop];
        if raw.is_empty() {
            return Ok(py.None().into_bound(py));
        }
        if raw.starts_with(envelope::MAGIC) {
            return match decode_object_at(py, self.state, raw, depth + 1) {
                Ok(obj) => Ok(obj.into_any()),
                Err(Error::Value(message)) => Err(Error::Value(format!(
                    "field {} at offset {offset}: embedded object: {message}",
                    f.name
                ))),
                Err(err) => Err(err),
            };
        }
        match self.state.loads.bind(py).call1((PyBytes::new(py, raw),)) {
            Ok(value) => Ok(value),
            Err(err) if err.is_instance(py, self.state.json_decode_error.bind(py)) => {
                Err(Error::Value(format!(
                    "field {} at offset {offset} is not JSON: {}",
                    f.name,
                    err.value(py)
                )))
            }
            Err(err) => Err(Error::Py(err)),
        }
    }

    /// (key, value) of one map entry; absent parts are their zero values, as in Go.
    fn entry(
        &mut self,
        start: usize,
        stop: usize,
        entry: usize,
        depth: usize,
    ) -> Result<(Bound<'py, PyAny>, Bound<'py, PyAny>), Error> {
        let py = self.py;
        let fields = &FIELDS[MESSAGES[entry].fields.clone()];
        let (key_field, value_field) = (&fields[0], &fields[1]);
        let mut key: Option<Bound<'py, PyAny>> = None;
        let mut value: Option<Bound<'py, PyAny>> = None;
        self.pos = start;
        let saved_end = self.end;
        self.end = stop;
        while self.pos < stop {
            let (number, wire_type, offset) = self.tag()?;
            if number == 1 || number == 2 {
                let f = if number == 1 { key_field } else { value_field };
                if wire_type != f.wire() {
                    return Err(Error::Value(format!(
                        "field {} at offset {offset} has wire type {wire_type}, expected {}",
                        f.name,
                        f.wire()
                    )));
                }
                let (item_start, item_stop) = self.length_delimited(number, offset)?;
                if number == 1 {
                    key = Some(self.text(item_start, item_stop, key_field.name, offset)?);
                } else {
                    value = Some(self.value(item_start, item_stop, value_field, offset, depth)?);
                    self.end = stop;
                }
            } else {
                self.skip(number, wire_type, offset)?;
            }
        }
        self.end = saved_end;
        let key = key.unwrap_or_else(|| PyString::new(py, "").into_any());
        let value = match value {
            Some(value) => value,
            None => match value_field.kind {
                Kind::String | Kind::Bytes => PyString::new(py, "").into_any(),
                Kind::Quantity => PyString::new(py, "0").into_any(),
                Kind::Message => PyDict::new(py).into_any(),
                _ => py.None().into_bound(py),
            },
        };
        Ok((key, value))
    }
}

fn special_name(kind: Kind, number: u64) -> &'static str {
    match (kind, number) {
        (Kind::Time | Kind::MicroTime, 1) => "seconds",
        (Kind::Time | Kind::MicroTime, _) => "nanos",
        (Kind::IntOrString, 1) => "type",
        (Kind::IntOrString, 2) => "intVal",
        (Kind::IntOrString, _) => "strVal",
        (Kind::Quantity, _) => "string",
        (Kind::Raw, _) => "raw",
        _ => "items",
    }
}

fn decode_object_at<'py>(
    py: Python<'py>,
    state: &'static State,
    data: &[u8],
    depth: usize,
) -> Result<Bound<'py, PyDict>, Error> {
    let env = envelope::decode(data).map_err(|e| Error::Value(e.to_string()))?;
    if !env.content_encoding.is_empty() {
        return Err(Error::Value(format!(
            "unsupported contentEncoding \"{}\"",
            env.content_encoding
        )));
    }
    let message = lookup(state, env.api_version, env.kind)
        .ok_or_else(|| unknown_kind(env.api_version, env.kind))?;
    let out = PyDict::new(py);
    out.set_item(state.kind_key.bind(py), env.kind)?;
    out.set_item(state.api_version_key.bind(py), env.api_version)?;
    let mut decoder = Decoder {
        py,
        state,
        data: env.raw,
        pos: 0,
        end: env.raw.len(),
        strings: vec![None; SHARED_STRING_SLOTS],
    };
    match decoder.message(env.raw.len(), message, depth, &out) {
        Ok(()) => Ok(out),
        Err(Error::Value(problem)) => Err(Error::Value(format!(
            "malformed protobuf {}: {problem}",
            env.kind
        ))),
        Err(err) => Err(err),
    }
}

/// `decode_object(data) -> dict`: the object (JSON-shaped, with apiVersion and kind) of an
/// enveloped protobuf body; raises ValueError on a malformed body or an unknown kind.
#[pyfunction]
#[pyo3(signature = (data))]
pub fn decode_object<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    let state = state(py)?;
    Ok(decode_object_at(py, state, data, 0)?)
}

// -- times --------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Go's `time.Unix(seconds, nanos).UTC()` as metav1.Time (or MicroTime) writes it to JSON;
/// `None` for the zero time, `Err` outside years 0-9999.
fn format_time(seconds: i64, nanos: i32, micro: bool) -> Result<Option<String>, ()> {
    let (seconds, nanos) = if micro {
        let nanos = i128::from(nanos);
        (
            i128::from(seconds) + nanos.div_euclid(1_000_000_000),
            nanos.rem_euclid(1_000_000_000) as i64,
        )
    } else {
        (i128::from(seconds), 0)
    };
    if seconds == i128::from(ZERO_TIME) && nanos == 0 {
        return Ok(None);
    }
    if seconds < i128::from(MIN_TIME) || seconds > i128::from(MAX_TIME) {
        return Err(());
    }
    let seconds = seconds as i64;
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    );
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if micro {
        text.push_str(&format!(".{:06}", nanos / 1000));
    }
    text.push('Z');
    Ok(Some(text))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (seconds, nanos) of an RFC 3339 time in Go's time.RFC3339 layout (a fraction of 1-9 digits
/// allowed), `None` if malformed: exactly what the reference's regular expression accepts.
fn parse_time(text: &str) -> Option<(i64, i64)> {
    let b = text.as_bytes();
    let digits = |range: Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let literal = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(literal(4, b'-')
        && literal(7, b'-')
        && literal(10, b'T')
        && literal(13, b':')
        && literal(16, b':'))
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut i = 19;
    let mut nanos = 0;
    if literal(i, b'.') {
        let count = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&count) {
            return None;
        }
        nanos = digits(i + 1..i + 1 + count)? * 10i64.pow(9 - count as u32);
        i += 1 + count;
    }
    let zone = match b.get(i)? {
        b'Z' if b.len() == i + 1 => 0,
        sign @ (b'+' | b'-') if b.len() == i + 6 && literal(i + 3, b':') => {
            let (zone_hour, zone_minute) = (digits(i + 1..i + 3)?, digits(i + 4..i + 6)?);
            if zone_hour > 23 || zone_minute > 59 {
                return None;
            }
            let zone = zone_hour * 3600 + zone_minute * 60;
            if *sign == b'+' {
                zone
            } else {
                -zone
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some((seconds - zone, nanos))
}

// -- base64 -------------------------------------------------------------------------------------

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Standard base64 with padding, as Go's encoding/json reads []byte; `None` if malformed.
/// Bits below the last whole byte are ignored, as Python's binascii does.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let padding = text.iter().rev().take_while(|&&c| c == b'=').count();
    if padding > 2 {
        return None;
    }
    let data = &text[..text.len() - padding];
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in data {
        acc = acc << 6 | base64_value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// -- encoding -----------------------------------------------------------------------------------

/// One step of the path to a bad value.
enum Segment {
    Field(&'static str),
    Index(usize),
    Key(String),
}

/// Why a value cannot be encoded; `path` is filled in innermost first on the way out.
enum EncodeError {
    Value { problem: String, path: Vec<Segment> },
    Py(PyErr),
}

impl From<PyErr> for EncodeError {
    fn from(err: PyErr) -> Self {
        EncodeError::Py(err)
    }
}

impl EncodeError {
    fn new(problem: String) -> Self {
        EncodeError::Value {
            problem,
            path: Vec::new(),
        }
    }

    fn at(mut self, segment: Segment) -> Self {
        if let EncodeError::Value { path, .. } = &mut self {
            path.push(segment);
        }
        self
    }

    fn into_error(self) -> Error {
        match self {
            EncodeError::Py(err) => Error::Py(err),
            EncodeError::Value { problem, path } => {
                let mut text = String::new();
                for segment in path.iter().rev() {
                    match segment {
                        Segment::Field(name) => {
                            text.push('.');
                            text.push_str(name);
                        }
                        Segment::Index(i) => text.push_str(&format!("[{i}]")),
                        Segment::Key(key) => text.push_str(&format!("[{key}]")),
                    }
                }
                let path = text.strip_prefix('.').unwrap_or(&text);
                Error::Value(if path.is_empty() {
                    problem
                } else {
                    format!("{path}: {problem}")
                })
            }
        }
    }
}

fn type_error(expected: &str, value: &Bound<'_, PyAny>) -> EncodeError {
    match value.get_type().name() {
        Ok(name) => EncodeError::new(format!("expected {expected}, got {name}")),
        Err(err) => EncodeError::Py(err),
    }
}

fn utf8<'a>(value: &'a Bound<'_, PyString>) -> Result<&'a str, EncodeError> {
    value
        .to_str()
        .map_err(|_| EncodeError::new("string is not valid UTF-8 (lone surrogate)".to_owned()))
}

/// A buffer written from its end towards its start: the bytes are `buf[pos..]`.
struct Writer {
    buf: Vec<u8>,
    pos: usize,
}

impl Writer {
    fn new(capacity: usize) -> Self {
        Writer {
            buf: vec![0; capacity],
            pos: capacity,
        }
    }

    fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    fn reserve(&mut self, n: usize) {
        if self.pos < n {
            self.grow(n);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let len = self.len();
        let capacity = (self.buf.len() * 2).max(len + n + 64);
        let mut grown = vec![0; capacity];
        grown[capacity - len..].copy_from_slice(&self.buf[self.pos..]);
        self.buf = grown;
        self.pos = capacity - len;
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let start = self.pos - bytes.len();
        let out = &mut self.buf[start..self.pos];
        if bytes.len() <= 16 {
            // Most strings here are short: a loop beats calling memcpy.
            for (o, b) in out.iter_mut().zip(bytes) {
                *o = *b;
            }
        } else {
            out.copy_from_slice(bytes);
        }
        self.pos = start;
    }

    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.reserve(1);
        self.pos -= 1;
        self.buf[self.pos] = byte;
    }

    #[inline]
    fn put_varint(&mut self, value: u64) {
        if value < 0x80 {
            return self.put_byte(value as u8);
        }
        let len = (64 - value.leading_zeros() as usize).div_ceil(7);
        self.reserve(len);
        let start = self.pos - len;
        let mut v = value;
        for o in &mut self.buf[start..self.pos - 1] {
            *o = (v as u8) | 0x80;
            v >>= 7;
        }
        self.buf[self.pos - 1] = v as u8;
        self.pos = start;
    }

    /// Prepends the length of what was written since `mark`, then the tag.
    fn close(&mut self, mark: usize, tag: u64) {
        let len = self.len() - mark;
        self.put_varint(len as u64);
        self.put_varint(tag);
    }
}

/// Encodes one object; `forward` visits everything in the reference's order (the bytes are
/// then wrong: only its first error matters).
struct Encoder<'py> {
    py: Python<'py>,
    state: &'static State,
    out: Writer,
    forward: bool,
    /// The values of the messages being written, a stack of `Layout::flat`-shaped frames.
    slots: Vec<Option<Bound<'py, PyAny>>>,
}

/// The `j`-th of indices `0..n` in the order the encoder visits them.
#[inline]
fn nth(j: usize, n: usize, forward: bool) -> usize {
    if forward {
        j
    } else {
        n - 1 - j
    }
}

impl<'py> Encoder<'py> {
    fn message(
        &mut self,
        obj: &Bound<'py, PyAny>,
        message: usize,
        depth: usize,
    ) -> Result<(), EncodeError> {
        let dict = obj
            .cast::<PyDict>()
            .map_err(|_| type_error("object", obj))?;
        if depth > MAX_DEPTH {
            return Err(EncodeError::new(format!(
                "objects nested deeper than {MAX_DEPTH}"
            )));
        }
        // One pass over the dict puts each value the schema knows in its field's slot (the
        // reference looks each field up instead: the same values, as keys are unique).
        let layout = &self.state.layouts[message];
        let base = self.slots.len();
        self.slots.resize(base + layout.flat.len(), None);
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut value: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: iterating a dict we hold; each key and value is borrowed from it, and each
        // value kept is a new reference (so Python code run later cannot free it under us).
        unsafe {
            while ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) != 0 {
                if ffi::PyUnicode_Check(key) == 0 || value == ffi::Py_None() {
                    continue;
                }
                if let Some(slot) = layout.find(&self.state.keys, key) {
                    self.slots[base + slot] = Some(Bound::from_borrowed_ptr(self.py, value));
                }
            }
        }
        let result = self.block(message, base, depth);
        self.slots.truncate(base);
        result
    }

    /// Writes the fields of `message` whose values are in `slots[base..]` (laid out as
    /// `Layout::flat`); an inline field's block follows at its offset.
    fn block(&mut self, message: usize, base: usize, depth: usize) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(EncodeError::new(format!(
                "objects nested deeper than {MAX_DEPTH}"
            )));
        }
        let range = MESSAGES[message].fields.clone();
        let blocks = &self.state.layouts[message].blocks;
        let n = range.len();
        for j in 0..n {
            let i = nth(j, n, self.forward);
            let f = &FIELDS[range.start + i];
            if f.flags & INLINE != 0 {
                let mark = self.out.len();
                self.block(f.message, base + blocks[i], depth + 1)?;
                self.out.close(mark, f.tag());
                continue;
            }
            let Some(value) = self.slots[base + i].take() else {
                continue;
            };
            self.field_value(f, &value, depth)
                .map_err(|e| e.at(Segment::Field(f.name)))?;
        }
        Ok(())
    }

    fn field_value(
        &mut self,
        f: &Field,
        value: &Bound<'py, PyAny>,
        depth: usize,
    ) -> Result<(), EncodeError> {
        if !f.repeated() {
            return self.field(f, value, depth);
        }
        let list = value
            .cast::<PyList>()
            .map_err(|_| type_error("array", value))?;
        let n = list.len();
        for j in 0..n {
            let i = nth(j, n, self.forward);
            let item = list.get_item(i)?;
            self.field(f, &item, depth)
                .map_err(|e| e.at(Segment::Index(i)))?;
        }
        Ok(())
    }

    /// One occurrence of field `f`, tag included.
    fn field(
        &mut self,
        f: &Field,
        value: &Bound<'py, PyAny>,
        depth: usize,
    ) -> Result<(), EncodeError> {
        match f.kind {
            Kind::String => {
                let s = value
                    .cast::<PyString>()
                    .map_err(|_| type_error("string", value))?;
                let mark = self.out.len();
                self.out.put(utf8(s)?.as_bytes());
                self.out.close(mark, f.tag());
            }
            Kind::Bool => {
                let b = value
                    .cast::<PyBool>()
                    .map_err(|_| type_error("boolean", value))?;
                self.out.put(&[u8::from(b.is_true())]);
                self.out.put_varint(f.tag());
            }
            Kind::Int32 | Kind::Int64 => {
                let n = integer(value, "integer")?;
                let (low, high, name) = if f.kind == Kind::Int32 {
                    (i64::from(i32::MIN), i64::from(i32::MAX), "int32")
                } else {
                    (i64::MIN, i64::MAX, "int64")
                };
                let n = n
                    .filter(|n| (low..=high).contains(n))
                    .ok_or_else(|| out_of_range(value, name))?;
                self.out.put_varint(n as u64);
                self.out.put_varint(f.tag());
            }
            Kind::Map => self.map(f, value, depth)?,
            _ => {
                let mark = self.out.len();
                self.payload(f, value, depth)?;
                self.out.close(mark, f.tag());
            }
        }
        Ok(())
    }

    /// The payload of a length-delimited field (no tag, no length).
    fn payload(
        &mut self,
        f: &Field,
        value: &Bound<'py, PyAny>,
        depth: usize,
    ) -> Result<(), EncodeError> {
        match f.kind {
            Kind::Message => self.message(value, f.message, depth + 1)?,
            Kind::Bytes => {
                let s = value
                    .cast::<PyString>()
                    .map_err(|_| type_error("base64 string", value))?;
                let decoded = s
                    .to_str()
                    .ok()
                    .and_then(|s| base64_decode(s.as_bytes()))
                    .ok_or_else(|| EncodeError::new("invalid base64".to_owned()))?;
                self.out.put(&decoded);
            }
            Kind::Time | Kind::MicroTime => {
                let s = value
                    .cast::<PyString>()
                    .map_err(|_| type_error("RFC 3339 time string", value))?;
                let (seconds, nanos) = s
                    .to_str()
                    .ok()
                    .and_then(parse_time)
                    .ok_or_else(|| EncodeError::new("not an RFC 3339 time".to_owned()))?;
                if seconds != ZERO_TIME || nanos != 0 {
                    self.out.put_varint(nanos as u64);
                    self.out.put(&[0x10]);
                    self.out.put_varint(seconds as u64);
                    self.out.put(&[0x08]);
                }
            }
            Kind::Quantity => {
                let mark = self.out.len();
                match quantity(value)? {
                    Quantity::Text(s) => self.out.put(utf8(&s)?.as_bytes()),
                    Quantity::Number(text) => self.out.put(text.as_bytes()),
                }
                self.out.close(mark, 0x0a);
            }
            Kind::IntOrString => {
                if let Ok(s) = value.cast::<PyString>() {
                    let mark = self.out.len();
                    self.out.put(utf8(s)?.as_bytes());
                    self.out.close(mark, 0x1a);
                    self.out.put(b"\x08\x01\x10\x00");
                } else {
                    let n = integer(value, "integer or string")?
                        .filter(|n| i32::try_from(*n).is_ok())
                        .ok_or_else(|| out_of_range(value, "int32"))?;
                    self.out.put(b"\x1a\x00");
                    self.out.put_varint(n as u64);
                    self.out.put(b"\x08\x00\x10");
                }
            }
            Kind::StringList => {
                let list = value
                    .cast::<PyList>()
                    .map_err(|_| type_error("array", value))?;
                let n = list.len();
                for j in 0..n {
                    let i = nth(j, n, self.forward);
                    let item = list.get_item(i)?;
                    let s = item
                        .cast::<PyString>()
                        .map_err(|_| type_error("string", &item).at(Segment::Index(i)))?;
                    let text = utf8(s).map_err(|e| e.at(Segment::Index(i)))?;
                    let mark = self.out.len();
                    self.out.put(text.as_bytes());
                    self.out.close(mark, 0x0a);
                }
            }
            _ => {
                // Raw: the embedded JSON value, compact, keys in the object's order.
                let py = self.py;
                let raw = match self.state.dumps.bind(py).call1((value,)) {
                    Ok(raw) => raw,
                    Err(err) if err.is_instance(py, self.state.json_encode_error.bind(py)) => {
                        return Err(EncodeError::new(format!(
                            "not JSON-serializable: {}",
                            err.value(py)
                        )))
                    }
                    Err(err) => return Err(err.into()),
                };
                let raw = raw.cast::<PyBytes>().map_err(PyErr::from)?;
                let mark = self.out.len();
                self.out.put(raw.as_bytes());
                self.out.close(mark, 0x0a);
            }
        }
        Ok(())
    }

    fn map(
        &mut self,
        f: &Field,
        value: &Bound<'py, PyAny>,
        depth: usize,
    ) -> Result<(), EncodeError> {
        let dict = value
            .cast::<PyDict>()
            .map_err(|_| type_error("object", value))?;
        let value_field = &FIELDS[MESSAGES[f.message].fields.start + 1];
        let mut entries: Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)> =
            Vec::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let key = key.cast_into::<PyString>().map_err(|e| {
                let key = e.into_inner();
                match key.get_type().name() {
                    Ok(name) => EncodeError::new(format!("map keys must be strings, got {name}")),
                    Err(err) => EncodeError::Py(err),
                }
            })?;
            entries.push((key, item));
        }
        // Keys sort by code point, as Python sorts str: for UTF-8 that is byte order. A key that
        // is not UTF-8 (a lone surrogate) leaves the sorting to Python.
        let texts: Option<Vec<&str>> = entries.iter().map(|(k, _)| k.to_str().ok()).collect();
        let mut sorted: Vec<usize> = (0..entries.len()).collect();
        match texts {
            Some(texts) => sorted.sort_by(|&a, &b| texts[a].cmp(texts[b])),
            None => {
                let keys = self.state.sorted.bind(self.py).call1((dict,))?;
                let keys = keys.cast::<PyList>().map_err(PyErr::from)?;
                let mut position = HashMap::new();
                for (i, (key, _)) in entries.iter().enumerate() {
                    position.insert(key.as_ptr() as usize, i);
                }
                sorted = keys
                    .iter()
                    .map(|key| position[&(key.as_ptr() as usize)])
                    .collect();
            }
        }
        let n = sorted.len();
        for j in 0..n {
            let (key, item) = &entries[sorted[nth(j, n, self.forward)]];
            let key_text = match utf8(key) {
                Ok(text) => text,
                Err(err) => return Err(err.at(Segment::Key(printable(key)?))),
            };
            let mark = self.out.len();
            let result = if item.is_none() {
                if value_field.kind == Kind::Time {
                    self.out.put(b"\x12\x00");
                    Ok(())
                } else {
                    Err(type_error(expected(value_field.kind), item))
                }
            } else {
                self.field(value_field, item, depth)
            };
            if let Err(err) = result {
                return Err(err.at(Segment::Key(printable(key)?)));
            }
            let key_mark = self.out.len();
            self.out.put(key_text.as_bytes());
            self.out.close(key_mark, 0x0a);
            self.out.close(mark, f.tag());
        }
        Ok(())
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::String => "string",
        Kind::Bytes => "base64 string",
        Kind::Message => "object",
        Kind::Time => "RFC 3339 time string",
        Kind::Quantity => "quantity (string or number)",
        _ => "array",
    }
}

/// An int (not a bool) as i64, `None` if it does not fit; a type error otherwise.
fn integer(value: &Bound<'_, PyAny>, expected: &str) -> Result<Option<i64>, EncodeError> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(type_error(expected, value));
    }
    Ok(value.extract::<i64>().ok())
}

fn out_of_range(value: &Bound<'_, PyAny>, name: &str) -> EncodeError {
    match value.str() {
        Ok(text) => EncodeError::new(format!("{text} is out of range for {name}")),
        Err(err) => EncodeError::Py(err),
    }
}

enum Quantity<'py> {
    Text(Bound<'py, PyString>),
    Number(String),
}

/// A quantity's string: strings as they are, JSON numbers in their shortest form.
fn quantity<'py>(value: &Bound<'py, PyAny>) -> Result<Quantity<'py>, EncodeError> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Quantity::Text(s.clone()));
    }
    if value.is_instance_of::<PyBool>() {
        return Err(type_error("quantity (string or number)", value));
    }
    if value.is_instance_of::<PyInt>() {
        return Ok(Quantity::Number(value.str()?.to_str()?.to_owned()));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        let f = f.value();
        if !f.is_finite() {
            return Err(EncodeError::new(
                "quantity must be a finite number".to_owned(),
            ));
        }
        return Ok(Quantity::Number(format!("{f}")));
    }
    Err(type_error("quantity (string or number)", value))
}

fn encode_object_inner<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyBytes>, Error> {
    let state = state(py)?;
    let Ok(dict) = obj.cast::<PyDict>() else {
        let name = obj.get_type().name()?;
        return Err(Error::Value(format!("expected an object, got {name}")));
    };
    let api_version = dict.get_item(state.api_version_key.bind(py))?;
    let kind = dict.get_item(state.kind_key.bind(py))?;
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        return Err(Error::Value(
            "object has no apiVersion and kind strings".to_owned(),
        ));
    };
    let (Ok(api_version), Ok(kind)) = (api_version.cast::<PyString>(), kind.cast::<PyString>())
    else {
        return Err(Error::Value(
            "object has no apiVersion and kind strings".to_owned(),
        ));
    };
    let message = match (api_version.to_str(), kind.to_str()) {
        (Ok(v), Ok(k)) => lookup(state, v, k),
        _ => None,
    };
    let Some(message) = message else {
        return Err(unknown_kind(&printable(api_version)?, &printable(kind)?));
    };
    let mut encoder = Encoder {
        py,
        state,
        out: Writer::new(4096),
        forward: false,
        slots: Vec::with_capacity(256),
    };
    if let Err(err) = encoder.message(obj, message, 0) {
        // Find the error the reference reports: the first one in field order.
        let mut again = Encoder {
            py,
            state,
            out: Writer::new(256),
            forward: true,
            slots: Vec::new(),
        };
        let first = again.message(obj, message, 0).err().unwrap_or(err);
        return Err(first.into_error());
    }
    let env = Envelope {
        api_version: api_version.to_str()?,
        kind: kind.to_str()?,
        raw: &encoder.out.buf[encoder.out.pos..],
        content_encoding: "",
        content_type: "",
    };
    // Written straight into the new bytes object.
    Ok(PyBytes::new_with(py, envelope::encoded_len(&env), |out| {
        envelope::encode_into(&env, out);
        Ok(())
    })?)
}

/// `encode_object(obj) -> bytes`: the enveloped protobuf body of an object (a JSON-shaped dict
/// with apiVersion and kind); raises ValueError for an unknown kind or a value of the wrong type.
#[pyfunction]
#[pyo3(signature = (obj))]
pub fn encode_object<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(encode_object_inner(py, obj)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_time("2008-01-01T01:01:01Z"), Some((1_199_149_261, 0)));
        assert_eq!(
            format_time(1_199_149_261, 0, false),
            Ok(Some("2008-01-01T01:01:01Z".to_owned()))
        );
        assert_eq!(
            parse_time("2003-01-01T01:01:01.000003Z"),
            Some((1_041_382_861, 3000))
        );
        assert_eq!(
            format_time(1_041_382_861, 3000, true),
            Ok(Some("2003-01-01T01:01:01.000003Z".to_owned()))
        );
        assert_eq!(
            parse_time("2008-01-01T03:01:01+02:00"),
            Some((1_199_149_261, 0))
        );
        assert_eq!(format_time(ZERO_TIME, 5, false), Ok(None));
        assert_eq!(format_time(MAX_TIME + 1, 0, false), Err(()));
        for bad in [
            "",
            "2008-01-01T01:01:01",
            "2008-02-30T01:01:01Z",
            "2008-01-01T01:01:01.Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn base64_matches_the_standard_encoding() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"\x03"), "Aw==");
        assert_eq!(base64_encode(b"abcd"), "YWJjZA==");
        assert_eq!(base64_decode(b"YWJjZA=="), Some(b"abcd".to_vec()));
        assert_eq!(base64_decode(b"YWJj"), Some(b"abc".to_vec()));
        for bad in [&b"YWJ"[..], b"Y===", b"YW=j", b"YW J"] {
            assert_eq!(base64_decode(bad), None);
        }
    }

    #[test]
    fn schema_fields_are_sorted_by_number() {
        for message in MESSAGES.iter() {
            let fields = &FIELDS[message.fields.clone()];
            assert!(
                fields.windows(2).all(|w| w[0].number < w[1].number),
                "{}",
                message.name
            );
        }
    }

    #[test]
    fn writer_prepends() {
        let mut w = Writer::new(2);
        w.put(b"world");
        w.put(b"hello ");
        assert_eq!(&w.buf[w.pos..], b"hello world");
        let mark = w.len();
        w.put(&[7; 200]);
        w.close(mark, 0x12);
        assert_eq!(&w.buf[w.pos..w.pos + 3], &[0x12, 0xc8, 0x01]);
    }
}
