//! A compact JSON writer for any `Serialize` value: byte for byte what `serde_json::to_vec`
//! writes, but strings are scanned for characters to escape eight bytes at a time instead of one
//! (`serde_json` looks every byte up in a table; answers are mostly long plain-text strings).
//!
//! The gateway writes every answer, chunk and upstream request body with it.
//!
//! ```
//! let value = serde_json::json!({"text": "line one\nline \"two\"", "n": [1, 2.5, null]});
//! assert_eq!(llm_core::json::to_vec(&value).unwrap(), serde_json::to_vec(&value).unwrap());
//! ```

use serde::ser::{self, Impossible, Serialize};

type Error = serde_json::Error;

/// `value` as compact JSON.
///
/// # Errors
/// When the value cannot be JSON: a `Serialize` impl fails, or a map key is not a string, a
/// number, a bool or a unit variant (the cases `serde_json` refuses too).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128);
    write(&mut out, value)?;
    Ok(out)
}

/// Appends `value` as compact JSON to `out`. On error `out` may hold part of the value.
///
/// # Errors
/// As [`to_vec`].
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Writer { out })
}

/// Appends `text` as a quoted, escaped JSON string to `out`.
///
/// ```
/// let mut out = Vec::new();
/// llm_core::json::write_str(&mut out, "tab\there");
/// assert_eq!(out, br#""tab\there""#);
/// ```
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut rest = text.as_bytes();
    loop {
        let plain = plain_prefix_len(rest);
        out.extend_from_slice(&rest[..plain]);
        let Some((&byte, tail)) = rest[plain..].split_first() else { break };
        push_escape(out, byte, ESCAPE[usize::from(byte)]);
        rest = tail;
    }
    out.push(b'"');
}

/// How many leading bytes of `bytes` need no escaping: eight at a time while none of them does.
fn plain_prefix_len(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        if word_needs_escape(word) {
            break;
        }
        at += 8;
    }
    at + bytes[at..].iter().position(|&b| ESCAPE[usize::from(b)] != 0).unwrap_or(bytes.len() - at)
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any of eight bytes is below 0x20, a quote or a backslash. Each test is exact for "any
/// byte" (the borrow of the subtraction can only spread from a byte that matched).
fn word_needs_escape(word: &[u8]) -> bool {
    let mut le = [0u8; 8];
    le.copy_from_slice(word);
    let w = u64::from_le_bytes(le);
    let below_space = w.wrapping_sub(LOW_BITS * 0x20) & !w;
    let quote = w ^ (LOW_BITS * u64::from(b'"'));
    let backslash = w ^ (LOW_BITS * u64::from(b'\\'));
    let zero_byte = |v: u64| v.wrapping_sub(LOW_BITS) & !v;
    (below_space | zero_byte(quote) | zero_byte(backslash)) & HIGH_BITS != 0
}

const UU: u8 = b'u'; // \u00XX
const __: u8 = 0;

/// The letter after the backslash for each byte that JSON requires escaped (as `serde_json`).
static ESCAPE: [u8; 256] = {
    let mut table = [__; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = UU;
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

fn push_escape(out: &mut Vec<u8>, byte: u8, escape: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if escape == UU {
        out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xF)],
        ]);
    } else {
        out.extend_from_slice(&[b'\\', escape]);
    }
}

/// The number methods of a `Serializer` whose `int` writes any integer and `float` any float.
macro_rules! numbers {
    () => {
        numbers!(int: serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64);
        numbers!(int: serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32);
        numbers!(int: serialize_u64: u64, serialize_u128: u128);
        numbers!(float: serialize_f32: f32, serialize_f64: f64);
    };
    ($write:ident: $($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<(), Error> {
            self.$write(v)
        }
    )*};
}

/// The serializer: appends to a byte buffer.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    fn int(&mut self, v: impl itoa::Integer) -> Result<(), Error> {
        self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }

    /// Floats are rare in our payloads: `serde_json` writes them, so they stay its exact digits.
    fn float<F: Serialize>(&mut self, v: F) -> Result<(), Error> {
        serde_json::to_writer(&mut *self.out, &v)
    }

    fn key_then<'w>(&'w mut self, variant: &str, open: u8) -> Compound<'w, 'a> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        self.out.push(open);
        Compound { w: self, first: true, variant: true }
    }
}

/// An array or object being written; `variant` when it sits inside `{"Variant": …}`.
struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
    variant: bool,
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
    }

    fn close(self, bracket: u8) {
        self.w.out.push(bracket);
        if self.variant {
            self.w.out.push(b'}');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.w)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.comma();
        write_str(self.w.out, key);
        self.w.out.push(b':');
        value.serialize(&mut *self.w)
    }
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    numbers!();
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for byte in v {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        self.out.push(b'[');
        Ok(Compound { w: self, first: true, variant: false })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Ok(self.key_then(variant, b'['))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        self.out.push(b'{');
        Ok(Compound { w: self, first: true, variant: false })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct, Error> {
        if name.starts_with("$serde_json::private::") {
            // serde_json's `RawValue` (and arbitrary-precision numbers) talk to its own
            // serializer through private names; nothing of ours holds them.
            return Err(ser::Error::custom(format_args!("`{name}` is not supported by llm_core::json")));
        }
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Ok(self.key_then(variant, b'{'))
    }
}

/// The array-like compounds: elements separated by commas, closed by `]`.
macro_rules! array_like {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                self.close(b']');
                Ok(())
            }
        }
    )*};
}

array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(MapKey { out: self.w.out })?;
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.close(b'}');
        Ok(())
    }
}

/// The struct-like compounds: `"field":value` pairs, closed by `}`.
macro_rules! struct_like {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                self.close(b'}');
                Ok(())
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);

/// Writes a map key: strings as they are; numbers, bools and unit variants quoted, as
/// `serde_json` does; anything else is an error.
struct MapKey<'a> {
    out: &'a mut Vec<u8>,
}

fn key_must_be_a_string() -> Error {
    ser::Error::custom("key must be a string")
}

impl MapKey<'_> {
    fn quoted(self, text: &str) -> Result<(), Error> {
        self.out.push(b'"');
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'"');
        Ok(())
    }

    fn int(self, v: impl itoa::Integer) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }

    /// As `serde_json` writes float keys (quoted; NaN and infinities refused).
    fn float<F: Serialize>(self, v: F) -> Result<(), Error> {
        struct OneEntry<F>(F);
        impl<F: Serialize> Serialize for OneEntry<F> {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeMap;
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(&self.0, &())?;
                map.end()
            }
        }
        let text = serde_json::to_vec(&OneEntry(v))?;
        // `{"<key>":null}` -> `"<key>"`
        self.out.extend_from_slice(&text[1..text.len() - ":null}".len()]);
        Ok(())
    }
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(if v { "true" } else { "false" })
    }
    numbers!();
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{Value, json};

    use super::*;

    fn same<T: Serialize + ?Sized>(value: &T) {
        let ours = to_vec(value).expect("ours serializes");
        let theirs = serde_json::to_vec(value).expect("serde_json serializes");
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
    }

    #[test]
    fn every_escape_matches_serde_json() {
        let all: String = (0u8..0x80).map(char::from).collect();
        same(&all);
        // Escapes at every offset inside and across eight-byte words, and multi-byte characters.
        for len in 0..24 {
            for at in 0..len {
                for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', '€', '😀'] {
                    let mut text: String = "a".repeat(len);
                    text.replace_range(at..=at, special.encode_utf8(&mut [0; 4]));
                    same(&text);
                }
            }
        }
    }

    #[test]
    fn word_test_matches_the_table_for_every_byte() {
        for byte in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b'x'; 8];
                word[at] = byte;
                assert_eq!(
                    word_needs_escape(&word),
                    ESCAPE[usize::from(byte)] != 0,
                    "byte {byte:#x} at {at}"
                );
            }
        }
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(i32, String),
        Struct { x: f64, label: Option<String> },
    }

    #[derive(Serialize)]
    struct Everything {
        flag: bool,
        small: i8,
        big: u128,
        neg: i128,
        ratio: f32,
        nan: f64,
        infinite: f32,
        letter: char,
        #[serde(with = "serde_bytes_as_seq")]
        raw: Vec<u8>,
        none: Option<u8>,
        unit: (),
        shapes: Vec<Shape>,
        pair: (u8, &'static str),
        int_keys: BTreeMap<i64, &'static str>,
        bool_keys: BTreeMap<bool, u8>,
        #[serde(serialize_with = "float_keys")]
        float_keys: (),
        unit_keys: BTreeMap<&'static str, ()>,
        #[serde(flatten)]
        extra: BTreeMap<String, Value>,
    }

    fn float_keys<S: serde::Serializer>(_: &(), s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(&1.5f64, &1)?;
        map.serialize_entry(&-2e30f32, &2)?;
        map.end()
    }

    mod serde_bytes_as_seq {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn every_serde_shape_matches_serde_json() {
        let value = Everything {
            flag: true,
            small: -8,
            big: u128::MAX,
            neg: i128::MIN,
            ratio: 0.1,
            nan: f64::NAN,
            infinite: f32::INFINITY,
            letter: '"',
            raw: vec![0, 7, 255],
            none: None,
            unit: (),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(3),
                Shape::Tuple(-1, "t".into()),
                Shape::Struct { x: 1e21, label: Some("é".into()) },
                Shape::Struct { x: -0.0, label: None },
            ],
            pair: (1, "two"),
            int_keys: [(-3, "a"), (9, "b")].into_iter().collect(),
            bool_keys: [(false, 0), (true, 1)].into_iter().collect(),
            float_keys: (),
            unit_keys: [("k", ())].into_iter().collect(),
            extra: [("x-extra".to_owned(), json!({"nested": [1, "two", null, {"a\tb": 2.5}]}))]
                .into_iter()
                .collect(),
        };
        same(&value);
        same(&json!([]));
        same(&json!({}));
        same(&Vec::<Shape>::new());
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        let seq_keys: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(to_vec(&seq_keys).is_err());
        assert!(serde_json::to_vec(&seq_keys).is_err());
    }

    #[test]
    fn nan_map_keys_are_refused() {
        struct NanKeyMap;
        impl Serialize for NanKeyMap {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(&f64::NAN, &1)?;
                m.end()
            }
        }
        assert!(to_vec(&NanKeyMap).is_err());
        assert!(serde_json::to_vec(&NanKeyMap).is_err());
    }

    #[test]
    fn raw_values_are_refused_rather_than_mangled() {
        // What serde_json's `RawValue` sends (its private protocol).
        struct LikeRawValue;
        impl Serialize for LikeRawValue {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("$serde_json::private::RawValue", 1)?;
                st.serialize_field("$serde_json::private::RawValue", "{\"a\":1}")?;
                st.end()
            }
        }
        assert!(to_vec(&LikeRawValue).is_err());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[ -~\\n\\t\"\\\\é€]{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_value_matches_serde_json(value in arb_json()) {
            prop_assert_eq!(to_vec(&value).expect("serializes"), serde_json::to_vec(&value).expect("serializes"));
        }

        #[test]
        fn any_string_matches_serde_json(text in any::<String>()) {
            prop_assert_eq!(to_vec(&text).expect("serializes"), serde_json::to_vec(&text).expect("serializes"));
        }
    }
}
