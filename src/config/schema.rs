//! The JSON Schema of a resolved experiment, generated from the types, and the check of a
//! merged document against it. Errors are rewritten for people: an unknown key lists the keys
//! allowed there, and a table tagged by `kind` (or `mode`, `scheme`, `rule`) reports only
//! the errors of the variant it names.

use serde_json::Value;

use super::diagnostic::{pointer_tokens, push_pointer};
use super::experiment::Experiment;

/// The schema of a resolved experiment (every required key present) as a JSON value.
pub fn schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Experiment)).expect("a schema is JSON")
}

/// The resolved experiment's schema as `runner schema --resolved` prints it and
/// `schemas/experiment.resolved.schema.json` stores it.
pub fn resolved_schema_text() -> String {
    pretty(&schema())
}

/// A schema as the committed files store it: pretty JSON and a final newline.
pub(super) fn pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema is JSON");
    text.push('\n');
    text
}

/// One violation of the schema (or of a semantic rule), at a JSON pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub pointer: String,
    /// The pointer names a key that should not be there (report the key, not its value).
    pub at_key: bool,
    pub message: String,
}

impl Violation {
    pub fn value(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Violation { pointer: pointer.into(), at_key: false, message: message.into() }
    }
}

/// Every violation of `schema` by `instance`.
pub fn violations(schema: &Value, instance: &Value) -> Vec<Violation> {
    let validator = jsonschema::validator_for(schema).expect("the generated schema is valid");
    let mut out = Vec::new();
    for error in validator.iter_errors(instance) {
        explain(schema, instance, &error, &mut out);
    }
    out
}

fn explain(
    root: &Value,
    instance: &Value,
    error: &jsonschema::ValidationError<'_>,
    out: &mut Vec<Violation>,
) {
    use jsonschema::error::ValidationErrorKind as Kind;
    let pointer = error.instance_path().as_str().to_owned();
    let schema_node = schema_at(root, error.schema_path().as_str());
    match error.kind() {
        Kind::AdditionalProperties { unexpected } => {
            let parent = schema_at(root, parent_pointer(error.schema_path().as_str()));
            let allowed = parent
                .and_then(|p| p.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            for key in unexpected {
                out.push(Violation {
                    pointer: push_pointer(&pointer, key),
                    at_key: true,
                    message: format!("unknown key `{key}` (expected one of: {allowed})"),
                });
            }
        }
        Kind::Required { property } => {
            let key = property.as_str().unwrap_or_default();
            out.push(Violation {
                pointer,
                at_key: true,
                message: format!("missing required key `{key}`"),
            });
        }
        Kind::OneOfNotValid { context } | Kind::OneOfMultipleValid { context } => {
            let branches = schema_node.and_then(Value::as_array).cloned().unwrap_or_default();
            let here = instance.pointer(&pointer);
            match tag_of(root, &branches) {
                Some((tag, names)) => {
                    let given = here.and_then(|v| v.get(&tag));
                    let given_str = given.and_then(Value::as_str);
                    let choices =
                        names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
                    match given_str.and_then(|g| names.iter().position(|n| n == g)) {
                        Some(i) => {
                            for e in context.get(i).into_iter().flatten() {
                                explain(root, instance, e, out);
                            }
                        }
                        None if !here.is_some_and(Value::is_object) => out.push(Violation::value(
                            pointer,
                            format!(
                                "expected a table with `{tag}` = one of {choices}, found {}",
                                short(here)
                            ),
                        )),
                        None if given.is_none() => out.push(Violation {
                            pointer,
                            at_key: true,
                            message: format!("missing required key `{tag}` (one of {choices})"),
                        }),
                        None => out.push(Violation::value(
                            push_pointer(&pointer, &tag),
                            format!("unknown {tag} {} (expected one of {choices})", short(given)),
                        )),
                    }
                }
                None => {
                    let consts: Vec<String> = branches
                        .iter()
                        .filter_map(|b| b.get("const").map(Value::to_string))
                        .collect();
                    let message = if consts.len() == branches.len() && !consts.is_empty() {
                        format!("{} is not one of {}", short(here), consts.join(", "))
                    } else {
                        error.to_string()
                    };
                    out.push(Violation::value(pointer, message));
                }
            }
        }
        _ => out.push(Violation::value(pointer, error.to_string())),
    }
}

/// The tag key shared by all branches of a `oneOf` (each branch fixes it with `const`),
/// and the tag value of each branch.
pub(super) fn tag_of(root: &Value, branches: &[Value]) -> Option<(String, Vec<String>)> {
    let first = deref(root, branches.first()?);
    let props = first.get("properties")?.as_object()?;
    props.keys().find_map(|key| {
        let names: Option<Vec<String>> = branches
            .iter()
            .map(|b| {
                deref(root, b)
                    .get("properties")?
                    .get(key)?
                    .get("const")?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        names.map(|n| (key.clone(), n))
    })
}

/// Every table of the document that is tagged (a `oneOf` whose branches fix one key), as
/// (pointer of the table, tag key).
pub fn tagged_tables(root: &Value) -> Vec<(String, String)> {
    fn walk(root: &Value, node: &Value, pointer: &str, out: &mut Vec<(String, String)>) {
        let node = deref(root, node);
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                walk(root, sub, &push_pointer(pointer, key), out);
            }
        }
        for keyword in ["oneOf", "anyOf", "allOf"] {
            if let Some(branches) = node.get(keyword).and_then(Value::as_array) {
                if keyword == "oneOf"
                    && let Some((tag, _)) = tag_of(root, branches)
                {
                    out.push((pointer.to_owned(), tag));
                }
                for b in branches {
                    walk(root, b, pointer, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, "", &mut out);
    out.sort();
    out.dedup();
    out
}

pub(super) fn deref<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(target) => root.pointer(target).map_or(node, |n| deref(root, n)),
        None => node,
    }
}

/// The schema node at a keyword location such as `/properties/data/$ref/properties/x`.
fn schema_at<'a>(root: &'a Value, location: &str) -> Option<&'a Value> {
    let mut node = root;
    for token in pointer_tokens(location) {
        node = if token == "$ref" {
            let target = node.get("$ref")?.as_str()?.strip_prefix('#')?;
            root.pointer(target)?
        } else {
            match node {
                Value::Object(o) => o.get(&token)?,
                Value::Array(a) => a.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            }
        };
    }
    Some(node)
}

fn parent_pointer(pointer: &str) -> &str {
    pointer.rfind('/').map_or("", |i| &pointer[..i])
}

fn short(value: Option<&Value>) -> String {
    match value {
        None => "nothing".into(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 60 {
                format!("{}…", s.chars().take(60).collect::<String>())
            } else {
                s
            }
        }
    }
}
