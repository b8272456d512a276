//! The protobuf messages of TensorBoard's event files, encoded by hand (field numbers from
//! tensorboard/compat/proto/event.proto and summary.proto, and the HParams plugin's
//! plugin_data.proto), and just enough decoding to read an event's step and tag back.

/// `brain.Event:2`: the version TensorBoard expects in a file's first event.
const FILE_VERSION: &str = "brain.Event:2";
/// `DataClass.DATA_CLASS_TENSOR` (summary.proto).
const DATA_CLASS_TENSOR: u64 = 2;
/// The HParams plugin's placeholder tensor: an empty float vector (its `NULL_TENSOR`).
const NULL_TENSOR: [u8; 6] = [0x08, 0x01, 0x12, 0x02, 0x12, 0x00];

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const BYTES: u8 = 2;
const FIXED32: u8 = 5;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    key(out, field, BYTES);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn double(out: &mut Vec<u8>, field: u32, value: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, VARINT);
    varint(out, value);
}

/// An `Event` with its wall time, step and one of its payloads (field, bytes).
fn event(wall_time: f64, step: i64, payload: (u32, &[u8])) -> Vec<u8> {
    let mut out = vec![];
    double(&mut out, 1, wall_time);
    if step != 0 {
        // int64: two's complement as a 64-bit varint.
        uint(&mut out, 2, step as u64);
    }
    bytes(&mut out, payload.0, payload.1);
    out
}

/// The first event of every file.
pub fn file_version(wall_time: f64) -> Vec<u8> {
    event(wall_time, 0, (3, FILE_VERSION.as_bytes()))
}

/// A `Summary` of one `Value` (its fields given encoded) in an `Event`.
fn summary_event(wall_time: f64, step: i64, value: &[u8]) -> Vec<u8> {
    let mut summary = vec![];
    bytes(&mut summary, 1, value);
    event(wall_time, step, (5, &summary))
}

/// A scalar: `Summary.Value { tag, simple_value }`.
pub fn scalar(wall_time: f64, step: i64, tag: &str, value: f32) -> Vec<u8> {
    let mut v = vec![];
    bytes(&mut v, 1, tag.as_bytes());
    key(&mut v, 2, FIXED32);
    v.extend_from_slice(&value.to_le_bytes());
    summary_event(wall_time, step, &v)
}

/// A summary of the HParams plugin: its tag, its `HParamsPluginData` (encoded) as the
/// metadata's plugin content, and the plugin's empty tensor.
fn hparams_summary(wall_time: f64, tag: &str, plugin_data: &[u8]) -> Vec<u8> {
    let mut plugin = vec![];
    bytes(&mut plugin, 1, b"hparams");
    bytes(&mut plugin, 2, plugin_data);
    let mut metadata = vec![];
    bytes(&mut metadata, 1, &plugin);
    uint(&mut metadata, 4, DATA_CLASS_TENSOR);
    let mut v = vec![];
    bytes(&mut v, 1, tag.as_bytes());
    bytes(&mut v, 8, &NULL_TENSOR);
    bytes(&mut v, 9, &metadata);
    summary_event(wall_time, 0, &v)
}

pub const SESSION_START: &str = "_hparams_/session_start_info";
pub const SESSION_END: &str = "_hparams_/session_end_info";

/// A hyperparameter's value, as `google.protobuf.Value` holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum HValue {
    Number(f64),
    Text(String),
    Bool(bool),
}

fn protobuf_value(value: &HValue) -> Vec<u8> {
    let mut out = vec![];
    match value {
        HValue::Number(x) => double(&mut out, 2, *x),
        HValue::Text(s) => bytes(&mut out, 3, s.as_bytes()),
        HValue::Bool(b) => uint(&mut out, 4, u64::from(*b)),
    }
    out
}

/// `HParamsPluginData { session_start_info: { hparams, start_time_secs } }` (version 0 is
/// the default, so not written): TensorBoard's HParams tab lists the session's values.
pub fn session_start(wall_time: f64, hparams: &[(String, HValue)]) -> Vec<u8> {
    let mut info = vec![];
    for (name, value) in hparams {
        let mut entry = vec![];
        bytes(&mut entry, 1, name.as_bytes());
        bytes(&mut entry, 2, &protobuf_value(value));
        bytes(&mut info, 1, &entry);
    }
    double(&mut info, 5, wall_time);
    let mut data = vec![];
    bytes(&mut data, 3, &info);
    hparams_summary(wall_time, SESSION_START, &data)
}

/// `HParamsPluginData { session_end_info: { status: STATUS_SUCCESS, end_time_secs } }`.
pub fn session_end(wall_time: f64) -> Vec<u8> {
    let mut info = vec![];
    uint(&mut info, 1, 1);
    double(&mut info, 2, wall_time);
    let mut data = vec![];
    bytes(&mut data, 4, &info);
    hparams_summary(wall_time, SESSION_END, &data)
}

/// What the writer needs of an event it reads back: its step and its first value's tag
/// (`None` for an event without a summary, such as the file version).
pub fn step_and_tag(event: &[u8]) -> Option<(i64, Option<String>)> {
    let mut step = 0;
    let mut tag = None;
    for (field, value) in fields(event)? {
        match (field, value) {
            (2, Field::Varint(v)) => step = v as i64,
            (5, Field::Bytes(summary)) => {
                let value = fields(summary)?.into_iter().find_map(|f| match f {
                    (1, Field::Bytes(v)) => Some(v),
                    _ => None,
                })?;
                tag = fields(value)?.into_iter().find_map(|f| match f {
                    (1, Field::Bytes(t)) => String::from_utf8(t.to_vec()).ok(),
                    _ => None,
                });
            }
            _ => {}
        }
    }
    Some((step, tag))
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one message, in order; `None` when it is not well formed.
fn fields(mut bytes: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = vec![];
    while !bytes.is_empty() {
        let k = read_varint(&mut bytes)?;
        let value = match (k & 7) as u8 {
            VARINT => Field::Varint(read_varint(&mut bytes)?),
            FIXED64 => {
                bytes = bytes.get(8..)?;
                Field::Fixed
            }
            FIXED32 => {
                bytes = bytes.get(4..)?;
                Field::Fixed
            }
            BYTES => {
                let len = usize::try_from(read_varint(&mut bytes)?).ok()?;
                let (value, rest) = (bytes.get(..len)?, bytes.get(len..)?);
                bytes = rest;
                Field::Bytes(value)
            }
            _ => return None,
        };
        out.push((k >> 3, value));
    }
    Some(out)
}

fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn a_scalar_event_has_the_bytes_protobuf_gives_it() {
        // Python's protobuf (tensorboard.compat.proto.event_pb2) serialises
        // Event(wall_time=1.5, step=300, summary={value: [{tag: "a/b", simple_value: 0.25}]})
        // to these bytes.
        let expected = hex("09000000000000f83f10ac022a0c0a0a0a03612f62150000803e");
        assert_eq!(scalar(1.5, 300, "a/b", 0.25), expected);
        assert_eq!(step_and_tag(&expected), Some((300, Some("a/b".into()))));
    }

    #[test]
    fn hparams_events_have_the_bytes_the_plugins_own_summaries_give() {
        // tensorboard.plugins.hparams.summary_v2._summary_pb of a session's start (one
        // hyperparameter) and end, with the data class TensorBoard's loader gives them, in an
        // Event at wall time 2.0, serialised by Python's protobuf.
        let hparams = [("train.epochs".to_owned(), HValue::Number(3.0))];
        assert_eq!(
            session_start(2.0, &hparams),
            hex(concat!(
                "0900000000000000402a5f0a5d0a1c5f68706172616d735f2f73657373696f6e5f7374617274",
                "5f696e666f42060801120212004a350a310a0768706172616d7312261a240a190a0c74726169",
                "6e2e65706f63687312091100000000000008402900000000000000402002"
            ))
        );
        assert_eq!(
            session_end(2.0),
            hex(concat!(
                "0900000000000000402a440a420a1a5f68706172616d735f2f73657373696f6e5f656e645f69",
                "6e666f42060801120212004a1c0a180a0768706172616d73120d220b0801110000000000000040",
                "2002"
            ))
        );
    }

    #[test]
    fn steps_and_tags_read_back_from_every_kind_of_event() {
        assert_eq!(step_and_tag(&file_version(2.0)), Some((0, None)));
        let hparams = [("train.epochs".to_owned(), HValue::Number(3.0))];
        assert_eq!(
            step_and_tag(&session_start(2.0, &hparams)),
            Some((0, Some(SESSION_START.into())))
        );
        assert_eq!(step_and_tag(&session_end(2.0)), Some((0, Some(SESSION_END.into()))));
        let big = scalar(0.0, 1 << 40, "x", 1.0);
        assert_eq!(step_and_tag(&big), Some((1 << 40, Some("x".into()))));
        assert_eq!(step_and_tag(&big[..big.len() - 1]), None, "cut short");
    }
}
