//! `json.decode` then `json.encode`, through the Lua functions that
//! `require 'async'` gives, in a LuaJIT state of the fuzz binary's own.
//!
//! Input: any bytes, decoded as JSON text. Invariants:
//! - nothing panics, and no panic is caught and reported as an internal
//!   error either (the boundary turns a panic into a Lua error);
//! - whatever decodes encodes, into UTF-8 no more than a few times the
//!   size of the input (a short exponent written out as an integer is
//!   the most it grows);
//! - `decode(encode(decode(x)))` equals `decode(x)` structurally (same
//!   strings, same number bits, same keys and values, null as null);
//! - encoding is stable: the second encoding is as long as the first
//!   (key order may differ between two equal tables, length may not).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mlua::{Function, Lua, Value};

struct Json {
    lua: Lua,
    encode: Function,
    decode: Function,
}

thread_local! {
    static JSON: Json = {
        let lua = Lua::new();
        let table = r#async::fuzzing::json_table(&lua).expect("the json table installs");
        let encode = table.get("encode").expect("json.encode");
        let decode = table.get("decode").expect("json.decode");
        Json { lua, encode, decode }
    };
}

/// A decoded value with its identity stripped: what "equal structurally"
/// compares. Table entries are sorted, since iteration order is not part
/// of a table's value.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    Null,
    Bool(bool),
    Number(u64),
    Text(Vec<u8>),
    Table(Vec<(Shape, Shape)>),
}

fn shape(value: &Value) -> Shape {
    match value {
        Value::LightUserData(pointer) if pointer.0.is_null() => Shape::Null,
        Value::Boolean(b) => Shape::Bool(*b),
        Value::Integer(i) => Shape::Number((*i as f64).to_bits()),
        Value::Number(n) => Shape::Number(n.to_bits()),
        Value::String(s) => Shape::Text(s.as_bytes().to_vec()),
        Value::Table(table) => {
            let mut entries: Vec<(Shape, Shape)> = table
                .pairs::<Value, Value>()
                .map(|pair| {
                    let (key, value) = pair.expect("a table entry");
                    (shape(&key), shape(&value))
                })
                .collect();
            entries.sort();
            Shape::Table(entries)
        }
        other => panic!("decode produced a {}", other.type_name()),
    }
}

fn no_internal_error(error: &mlua::Error) {
    let message = error.to_string();
    assert!(!message.contains("internal error"), "a panic inside json: {message}");
}

fuzz_target!(|data: &[u8]| {
    JSON.with(|json| {
        let text = json.lua.create_string(data).expect("a Lua string");
        let first = match json.decode.call::<Value>(text) {
            Ok(value) => value,
            Err(error) => return no_internal_error(&error),
        };
        let encoded = match json.encode.call::<mlua::LuaString>(&first) {
            Ok(encoded) => encoded.as_bytes().to_vec(),
            Err(error) => panic!("a decoded value does not encode: {error}"),
        };
        assert!(std::str::from_utf8(&encoded).is_ok(), "encode wrote bytes that are not UTF-8");
        assert!(encoded.len() <= 5 * data.len() + 8, "{} bytes of JSON from {}", encoded.len(), data.len());
        let again_text = json.lua.create_string(&encoded).expect("a Lua string");
        let second = json
            .decode
            .call::<Value>(again_text)
            .unwrap_or_else(|error| panic!("encode wrote JSON that does not decode: {error}"));
        assert_eq!(shape(&first), shape(&second), "decode(encode(v)) differs from v");
        let reencoded = json.encode.call::<mlua::LuaString>(&second).expect("encodes again");
        assert_eq!(reencoded.as_bytes().len(), encoded.len(), "the second encoding differs in length");
    });
});
