//! JsonOutputter: a command's map as indented JSON, laid out as Jackson's
//! default pretty printer lays it out (`"key" : value`, two-space indent,
//! `[ ]` and `{ }` when empty), so a client diffing answers sees Java's
//! text.

use serde_json::Value;

/// JsonOutputter.getContentType.
pub const CONTENT_TYPE: &str = "application/json";

pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out
}

/// A command's entries, in their order, as one JSON object.
pub fn entries_to_string(entries: &[(String, Value)]) -> String {
    let mut out = String::new();
    write_object(&mut out, entries.iter().map(|(k, v)| (k, v)), entries.len(), 0);
    out
}

fn write_object<'a>(out: &mut String, entries: impl Iterator<Item = (&'a String, &'a Value)>, len: usize, level: usize) {
    if len == 0 {
        out.push_str("{ }");
        return;
    }
    out.push_str("{\n");
    for (i, (k, v)) in entries.enumerate() {
        indent(out, level + 1);
        out.push_str(&Value::String(k.clone()).to_string());
        out.push_str(" : ");
        write_value(out, v, level + 1);
        if i + 1 < len {
            out.push(',');
        }
        out.push('\n');
    }
    indent(out, level);
    out.push('}');
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_value(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) => write_object(out, m.iter(), m.len(), level),
        Value::Array(a) if a.is_empty() => out.push_str("[ ]"),
        // Jackson keeps arrays on one line.
        Value::Array(a) => {
            out.push_str("[ ");
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, v, level);
            }
            out.push_str(" ]");
        }
        Value::Number(n) if n.is_f64() => {
            // Java's Double.toString: "0.0", never "0".
            let f = n.as_f64().unwrap_or(0.0);
            out.push_str(&crate::server::command::java_double(f));
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn laid_out_as_jackson() {
        let v = json!({"a": [], "b": {}, "c": [1, 2], "d": {"e": 0.0, "f": null}, "g": "x\"y"});
        assert_eq!(
            to_string(&v),
            "{\n  \"a\" : [ ],\n  \"b\" : { },\n  \"c\" : [ 1, 2 ],\n  \"d\" : {\n    \"e\" : 0.0,\n    \"f\" : null\n  },\n  \"g\" : \"x\\\"y\"\n}"
        );
    }
}
