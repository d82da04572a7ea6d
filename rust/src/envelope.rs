//! The Kubernetes protobuf envelope: the 4-byte magic `k8s\x00` followed by one serialized
//! `k8s.io.apimachinery.pkg.runtime.Unknown`:
//!
//! ```text
//! Unknown  { 1: TypeMeta typeMeta, 2: bytes raw, 3: string contentEncoding, 4: string contentType }
//! TypeMeta { 1: string apiVersion, 2: string kind }
//! ```
//!
//! The decoder is a hand-written protobuf reader that mirrors `kube/native/envelope.py` step for
//! step, so the two produce the same result or the same error (message included) on any input;
//! a property test in `tests/native/test_envelope.py` checks that. It follows the Go API server
//! (gogo-protobuf generated code): fields of any wire type are skipped when unknown (groups
//! included, nested), a known field with the wrong wire type is an error, a repeated `typeMeta`
//! is merged and a repeated scalar field keeps the last value. Offsets in error messages are
//! byte offsets into the whole input, magic included.
//!
//! The encoder writes what the Go serializer writes: every field, empty ones included, in field
//! order, so golden `.pb` files re-encode byte for byte.

use std::fmt;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// The bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\x00";

/// The largest field number protobuf allows (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// What a decoded envelope holds; every slice borrows from the input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub raw: &'a [u8],
    pub content_encoding: &'a str,
    pub content_type: &'a str,
}

/// Why an input is not a well-formed envelope. `Display` gives the exact message the Python
/// reference raises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    MissingMagic,
    TruncatedVarint {
        offset: usize,
    },
    VarintTooLong {
        offset: usize,
    },
    InvalidFieldNumber {
        number: u64,
        offset: usize,
    },
    InvalidWireType {
        wire_type: u8,
        offset: usize,
    },
    Truncated {
        field: u64,
        offset: usize,
        need: u64,
        left: usize,
    },
    WrongWireType {
        name: &'static str,
        wire_type: u8,
        offset: usize,
    },
    UnexpectedEndGroup {
        field: u64,
        offset: usize,
    },
    MismatchedEndGroup {
        field: u64,
        offset: usize,
        open: u64,
    },
    UnterminatedGroup {
        field: u64,
        offset: usize,
    },
    InvalidUtf8 {
        name: &'static str,
        offset: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        if let MissingMagic = self {
            return f.write_str("not a Kubernetes protobuf envelope: missing k8s\\x00 magic");
        }
        f.write_str("malformed Kubernetes protobuf envelope: ")?;
        match self {
            MissingMagic => unreachable!(),
            TruncatedVarint { offset } => write!(f, "truncated varint at offset {offset}"),
            VarintTooLong { offset } => write!(f, "varint longer than 10 bytes at offset {offset}"),
            InvalidFieldNumber { number, offset } => {
                write!(f, "invalid field number {number} at offset {offset}")
            }
            InvalidWireType { wire_type, offset } => {
                write!(f, "invalid wire type {wire_type} at offset {offset}")
            }
            Truncated {
                field,
                offset,
                need,
                left,
            } => {
                write!(
                    f,
                    "field {field} at offset {offset} needs {need} bytes, only {left} left"
                )
            }
            WrongWireType {
                name,
                wire_type,
                offset,
            } => {
                write!(
                    f,
                    "field {name} at offset {offset} has wire type {wire_type}, expected 2"
                )
            }
            UnexpectedEndGroup { field, offset } => {
                write!(
                    f,
                    "end group {field} at offset {offset} without a start group"
                )
            }
            MismatchedEndGroup {
                field,
                offset,
                open,
            } => {
                write!(
                    f,
                    "end group {field} at offset {offset} does not close group {open}"
                )
            }
            UnterminatedGroup { field, offset } => {
                write!(f, "group {field} at offset {offset} is not terminated")
            }
            InvalidUtf8 { name, offset } => {
                write!(f, "field {name} at offset {offset} is not valid UTF-8")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over `data[..end]`; `end` is the end of the message being read (the whole input,
/// or an embedded TypeMeta).
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

/// One field's tag: its number, wire type and where the tag starts.
#[derive(Clone, Copy)]
struct Tag {
    field: u64,
    wire_type: u8,
    offset: usize,
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let offset = self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            if self.pos >= self.end {
                return Err(DecodeError::TruncatedVarint { offset });
            }
            let byte = self.data[self.pos];
            self.pos += 1;
            // The tenth byte's high bits fall off the top, as in Go's decoder.
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong { offset })
    }

    fn tag(&mut self) -> Result<Tag, DecodeError> {
        let offset = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > MAX_FIELD_NUMBER {
            return Err(DecodeError::InvalidFieldNumber {
                number: field,
                offset,
            });
        }
        Ok(Tag {
            field,
            wire_type: (key & 7) as u8,
            offset,
        })
    }

    /// Advances over `need` bytes of the field `tag` and returns where they start.
    fn take(&mut self, tag: Tag, need: u64) -> Result<usize, DecodeError> {
        let left = self.end - self.pos;
        if need > left as u64 {
            return Err(DecodeError::Truncated {
                field: tag.field,
                offset: tag.offset,
                need,
                left,
            });
        }
        let start = self.pos;
        self.pos += need as usize;
        Ok(start)
    }

    /// The payload of a length-delimited field, as `start..end` into `data`.
    fn length_delimited(&mut self, tag: Tag) -> Result<(usize, usize), DecodeError> {
        let len = self.varint()?;
        let start = self.take(tag, len)?;
        Ok((start, self.pos))
    }

    /// Skips one field that is not a group.
    fn skip_scalar(&mut self, tag: Tag) -> Result<(), DecodeError> {
        match tag.wire_type {
            0 => self.varint().map(drop),
            1 => self.take(tag, 8).map(drop),
            2 => self.length_delimited(tag).map(drop),
            5 => self.take(tag, 4).map(drop),
            4 => Err(DecodeError::UnexpectedEndGroup {
                field: tag.field,
                offset: tag.offset,
            }),
            wire_type => Err(DecodeError::InvalidWireType {
                wire_type,
                offset: tag.offset,
            }),
        }
    }

    /// Skips a field of an unknown number, whatever its wire type.
    fn skip(&mut self, tag: Tag) -> Result<(), DecodeError> {
        if tag.wire_type != 3 {
            return self.skip_scalar(tag);
        }
        // A group: read tags until its end group, tracking nested groups on a stack (no
        // recursion, so deep nesting cannot overflow the stack).
        let mut open = vec![tag];
        while let Some(&group) = open.last() {
            if self.at_end() {
                return Err(DecodeError::UnterminatedGroup {
                    field: group.field,
                    offset: group.offset,
                });
            }
            let inner = self.tag()?;
            match inner.wire_type {
                3 => open.push(inner),
                4 if inner.field == group.field => {
                    open.pop();
                }
                4 => {
                    return Err(DecodeError::MismatchedEndGroup {
                        field: inner.field,
                        offset: inner.offset,
                        open: group.field,
                    })
                }
                _ => self.skip_scalar(inner)?,
            }
        }
        Ok(())
    }

    fn string(&mut self, tag: Tag, name: &'static str) -> Result<&'a str, DecodeError> {
        let (start, end) = self.length_delimited(tag)?;
        std::str::from_utf8(&self.data[start..end]).map_err(|_| DecodeError::InvalidUtf8 {
            name,
            offset: tag.offset,
        })
    }
}

/// Fails unless a known field arrived length-delimited.
fn expect_length_delimited(tag: Tag, name: &'static str) -> Result<(), DecodeError> {
    if tag.wire_type == 2 {
        Ok(())
    } else {
        Err(DecodeError::WrongWireType {
            name,
            wire_type: tag.wire_type,
            offset: tag.offset,
        })
    }
}

/// Reads a TypeMeta spanning `data[start..end]` into `envelope` (merging: fields absent here
/// keep what an earlier `typeMeta` set).
fn decode_type_meta<'a>(
    data: &'a [u8],
    start: usize,
    end: usize,
    envelope: &mut Envelope<'a>,
) -> Result<(), DecodeError> {
    let mut reader = Reader {
        data,
        pos: start,
        end,
    };
    while !reader.at_end() {
        let tag = reader.tag()?;
        match tag.field {
            1 => {
                expect_length_delimited(tag, "apiVersion")?;
                envelope.api_version = reader.string(tag, "apiVersion")?;
            }
            2 => {
                expect_length_delimited(tag, "kind")?;
                envelope.kind = reader.string(tag, "kind")?;
            }
            _ => reader.skip(tag)?,
        }
    }
    Ok(())
}

/// Decodes an envelope; the returned slices borrow from `data`.
pub fn decode(data: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err(DecodeError::MissingMagic);
    }
    let mut envelope = Envelope::default();
    let mut reader = Reader {
        data,
        pos: MAGIC.len(),
        end: data.len(),
    };
    while !reader.at_end() {
        let tag = reader.tag()?;
        match tag.field {
            1 => {
                expect_length_delimited(tag, "typeMeta")?;
                let (start, end) = reader.length_delimited(tag)?;
                decode_type_meta(data, start, end, &mut envelope)?;
            }
            2 => {
                expect_length_delimited(tag, "raw")?;
                let (start, end) = reader.length_delimited(tag)?;
                envelope.raw = &data[start..end];
            }
            3 => {
                expect_length_delimited(tag, "contentEncoding")?;
                envelope.content_encoding = reader.string(tag, "contentEncoding")?;
            }
            4 => {
                expect_length_delimited(tag, "contentType")?;
                envelope.content_type = reader.string(tag, "contentType")?;
            }
            _ => reader.skip(tag)?,
        }
    }
    Ok(envelope)
}

fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Size of a length-delimited field with a one-byte key and a payload of `len` bytes.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn type_meta_len(envelope: &Envelope<'_>) -> usize {
    field_len(envelope.api_version.len()) + field_len(envelope.kind.len())
}

/// The exact size of `encode(envelope)`.
pub fn encoded_len(envelope: &Envelope<'_>) -> usize {
    MAGIC.len()
        + field_len(type_meta_len(envelope))
        + field_len(envelope.raw.len())
        + field_len(envelope.content_encoding.len())
        + field_len(envelope.content_type.len())
}

/// Writes into a buffer of exactly `encoded_len` bytes.
struct Writer<'b> {
    out: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out[self.pos] = (value as u8) | 0x80;
            self.pos += 1;
            value >>= 7;
        }
        self.out[self.pos] = value as u8;
        self.pos += 1;
    }

    fn field(&mut self, key: u8, payload: &[u8]) {
        self.out[self.pos] = key;
        self.pos += 1;
        self.varint(payload.len() as u64);
        self.bytes(payload);
    }
}

/// Writes `envelope` into `out`, which must be exactly `encoded_len(envelope)` bytes long.
pub fn encode_into(envelope: &Envelope<'_>, out: &mut [u8]) {
    assert_eq!(
        out.len(),
        encoded_len(envelope),
        "buffer size must be encoded_len"
    );
    let mut w = Writer { out, pos: 0 };
    w.bytes(MAGIC);
    w.out[w.pos] = 0x0a; // field 1 (typeMeta), length-delimited
    w.pos += 1;
    w.varint(type_meta_len(envelope) as u64);
    w.field(0x0a, envelope.api_version.as_bytes());
    w.field(0x12, envelope.kind.as_bytes());
    w.field(0x12, envelope.raw);
    w.field(0x1a, envelope.content_encoding.as_bytes());
    w.field(0x22, envelope.content_type.as_bytes());
    debug_assert_eq!(w.pos, w.out.len());
}

/// Encodes `envelope` as the Go API server does.
pub fn encode(envelope: &Envelope<'_>) -> Vec<u8> {
    let mut out = vec![0; encoded_len(envelope)];
    encode_into(envelope, &mut out);
    out
}

/// (apiVersion, kind, raw, contentEncoding, contentType) as Python objects.
type DecodedEnvelope<'py> = (
    Bound<'py, PyString>,
    Bound<'py, PyString>,
    Bound<'py, PyBytes>,
    Bound<'py, PyString>,
    Bound<'py, PyString>,
);

/// `decode_envelope(data) -> (apiVersion, kind, raw, contentEncoding, contentType)`;
/// raises ValueError on anything that is not a well-formed envelope.
#[pyfunction]
#[pyo3(signature = (data))]
pub fn decode_envelope<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
) -> PyResult<DecodedEnvelope<'py>> {
    let envelope = decode(data.as_bytes()).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((
        PyString::new(py, envelope.api_version),
        PyString::new(py, envelope.kind),
        PyBytes::new(py, envelope.raw),
        PyString::new(py, envelope.content_encoding),
        PyString::new(py, envelope.content_type),
    ))
}

/// `encode_envelope(api_version, kind, raw, content_encoding="", content_type="") -> bytes`.
#[pyfunction]
#[pyo3(signature = (api_version, kind, raw, content_encoding = "", content_type = ""))]
pub fn encode_envelope<'py>(
    py: Python<'py>,
    api_version: &str,
    kind: &str,
    raw: &[u8],
    content_encoding: &str,
    content_type: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let envelope = Envelope {
        api_version,
        kind,
        raw,
        content_encoding,
        content_type,
    };
    // Written straight into the new bytes object: no intermediate buffer.
    PyBytes::new_with(py, encoded_len(&envelope), |out| {
        encode_into(&envelope, out);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configmap() -> Envelope<'static> {
        Envelope {
            api_version: "v1",
            kind: "ConfigMap",
            raw: b"\x0a\x05hello",
            content_encoding: "",
            content_type: "",
        }
    }

    #[test]
    fn round_trips() {
        let env = configmap();
        let bytes = encode(&env);
        assert_eq!(bytes.len(), encoded_len(&env));
        assert_eq!(decode(&bytes), Ok(env));
    }

    #[test]
    fn encodes_like_the_go_serializer() {
        let bytes = encode(&configmap());
        let mut want = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x07\x0a\x05hello".to_vec();
        want.extend_from_slice(b"\x1a\x00\x22\x00");
        assert_eq!(bytes, want);
    }

    #[test]
    fn long_fields_use_multibyte_lengths() {
        let raw = vec![7u8; 300];
        let env = Envelope {
            raw: &raw,
            ..configmap()
        };
        let bytes = encode(&env);
        assert_eq!(decode(&bytes).unwrap().raw, &raw[..]);
    }

    #[test]
    fn missing_magic() {
        for input in [&b""[..], b"k8s", b"k8s\x01\x0a\x00", b"{\"kind\":\"Pod\"}"] {
            assert_eq!(decode(input), Err(DecodeError::MissingMagic));
        }
        assert_eq!(
            DecodeError::MissingMagic.to_string(),
            "not a Kubernetes protobuf envelope: missing k8s\\x00 magic"
        );
    }

    #[test]
    fn empty_envelope_has_defaults() {
        assert_eq!(decode(b"k8s\x00"), Ok(Envelope::default()));
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() {
        let mut bytes = b"k8s\x00".to_vec();
        bytes.extend_from_slice(b"\x28\x96\x01"); // 5: varint 150
        bytes.extend_from_slice(b"\x31\x01\x02\x03\x04\x05\x06\x07\x08"); // 6: fixed64
        bytes.extend_from_slice(b"\x3a\x02ab"); // 7: length-delimited
        bytes.extend_from_slice(b"\x45\x01\x02\x03\x04"); // 8: fixed32
        bytes.extend_from_slice(b"\x4b\x08\x01\x53\x54\x4c"); // 9: group holding 1 and group 10
        bytes.extend_from_slice(b"\x12\x01x"); // raw
        let env = decode(&bytes).unwrap();
        assert_eq!(env.raw, b"x");
    }

    #[test]
    fn merges_repeated_type_meta_and_keeps_the_last_scalar() {
        let bytes = b"k8s\x00\x0a\x04\x0a\x02v1\x0a\x03\x12\x01K\x12\x01a\x12\x01b";
        let env = decode(bytes).unwrap();
        assert_eq!((env.api_version, env.kind, env.raw), ("v1", "K", &b"b"[..]));
    }

    #[test]
    fn reports_malformed_input() {
        use DecodeError::*;
        let cases: [(&[u8], DecodeError); 10] = [
            (b"k8s\x00\x0a", TruncatedVarint { offset: 5 }),
            (
                b"k8s\x00\x12\x05ab",
                Truncated {
                    field: 2,
                    offset: 4,
                    need: 5,
                    left: 2,
                },
            ),
            (
                b"k8s\x00\x00",
                InvalidFieldNumber {
                    number: 0,
                    offset: 4,
                },
            ),
            (
                b"k8s\x00\x2e",
                InvalidWireType {
                    wire_type: 6,
                    offset: 4,
                },
            ),
            (
                b"k8s\x00\x10\x01",
                WrongWireType {
                    name: "raw",
                    wire_type: 0,
                    offset: 4,
                },
            ),
            (
                b"k8s\x00\x2c",
                UnexpectedEndGroup {
                    field: 5,
                    offset: 4,
                },
            ),
            (
                b"k8s\x00\x2b\x34",
                MismatchedEndGroup {
                    field: 6,
                    offset: 5,
                    open: 5,
                },
            ),
            (
                b"k8s\x00\x2b\x08\x01",
                UnterminatedGroup {
                    field: 5,
                    offset: 4,
                },
            ),
            (
                b"k8s\x00\x1a\x01\xff",
                InvalidUtf8 {
                    name: "contentEncoding",
                    offset: 4,
                },
            ),
            (
                b"k8s\x00\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                VarintTooLong { offset: 5 },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(decode(input), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn type_meta_is_bounded_by_its_length() {
        // The TypeMeta claims 2 bytes, and its apiVersion field wants 5 of them.
        let bytes = b"k8s\x00\x0a\x02\x0a\x05hello";
        assert_eq!(
            decode(bytes),
            Err(DecodeError::Truncated {
                field: 1,
                offset: 6,
                need: 5,
                left: 0
            })
        );
    }

    #[test]
    fn error_messages() {
        let err = DecodeError::Truncated {
            field: 2,
            offset: 4,
            need: 5,
            left: 2,
        };
        assert_eq!(
            err.to_string(),
            "malformed Kubernetes protobuf envelope: field 2 at offset 4 needs 5 bytes, only 2 left"
        );
    }
}
