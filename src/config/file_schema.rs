//! The JSON Schema of experiment files as users write them (the `#:schema` target), derived
//! from the schema of the resolved experiment. A file may give any subset of the keys (the
//! rest come from its `base` chain or the defaults), so nothing is required; it still may not
//! give an unknown key, a value of the wrong type or out of range, or an unknown variant.
//!
//! Tagged tables (`oneOf` branches that each fix `kind`, `mode`, `scheme` or `rule` with
//! `const`) become discriminated: `if` the tag is given, `then` that variant's keys; a table
//! without its tag (the variant comes from the base or the defaults) may hold the keys of any
//! variant. An editor then names the wrong key or value instead of reporting that no branch
//! of a `oneOf` matched.

use serde_json::{Map, Value, json};

use super::schema::{deref, pretty, schema, tag_of};

/// The schema of experiment files as written, as `runner schema` prints it and
/// `schemas/experiment.schema.json` stores it (the `#:schema` line of every experiment file).
pub fn file_schema_text() -> String {
    pretty(&file_schema(&schema()))
}

/// The file schema derived from `resolved`.
pub fn file_schema(resolved: &Value) -> Value {
    let mut plain = resolved.clone();
    loosen(&mut plain);
    let mut out = plain.clone();
    discriminate(&plain, &mut out);
    if let Some(root) = out.as_object_mut() {
        root.insert("title".into(), json!("echo-runner experiment file"));
        let about = root.get("description").and_then(Value::as_str).unwrap_or_default();
        let about = format!(
            "{about}\n\nAn experiment file as written: every key may be left out (it then comes \
             from the `base` file or the defaults). `runner schema --resolved` describes the \
             resolved experiment."
        );
        root.insert("description".into(), Value::String(about));
    }
    out
}

/// Everywhere: no `required`, no `null` (TOML has none), and a `oneOf` of strings becomes
/// one `enum` whose description lists what each value means.
fn loosen(node: &mut Value) {
    match node {
        Value::Array(items) => items.iter_mut().for_each(loosen),
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if !matches!(key.as_str(), "default" | "const" | "enum" | "examples") {
                    loosen(child);
                }
            }
            map.remove("required");
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(branches)) = map.get("anyOf") {
                let kept: Vec<Value> = branches
                    .iter()
                    .filter(|b| b.get("type") != Some(&json!("null")))
                    .cloned()
                    .collect();
                if kept.len() == 1
                    && let Value::Object(only) = &kept[0]
                {
                    map.remove("anyOf");
                    for (k, v) in only {
                        map.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            if let Some(Value::Array(branches)) = map.get("oneOf")
                && let Some((values, meanings)) = string_choices(branches)
            {
                map.remove("oneOf");
                map.insert("type".into(), json!("string"));
                map.insert("enum".into(), Value::Array(values));
                if !meanings.is_empty() {
                    let about = map.get("description").and_then(Value::as_str);
                    let text = match about {
                        Some(about) => format!("{about}\n\n{meanings}"),
                        None => meanings,
                    };
                    map.insert("description".into(), Value::String(text));
                }
            }
        }
        _ => {}
    }
}

/// The values of a `oneOf` whose branches are all string `const`s or `enum`s, and the
/// branches' descriptions as one list.
fn string_choices(branches: &[Value]) -> Option<(Vec<Value>, String)> {
    let mut values = Vec::new();
    let mut meanings = Vec::new();
    for b in branches {
        if b.get("type")? != "string" {
            return None;
        }
        let these: Vec<Value> = match (b.get("const"), b.get("enum")) {
            (Some(c), None) => vec![c.clone()],
            (None, Some(Value::Array(e))) => e.clone(),
            _ => return None,
        };
        if let Some(about) = b.get("description").and_then(Value::as_str) {
            let names: Vec<String> =
                these.iter().filter_map(Value::as_str).map(|s| format!("`{s}`")).collect();
            meanings.push(format!("{}: {}", names.join(", "), about.replace('\n', " ")));
        }
        values.extend(these);
    }
    Some((values, meanings.join("\n")))
}

/// Rewrites each tagged `oneOf` of `out` (a copy of `plain`, which resolves `$ref`s) in its
/// discriminated form.
fn discriminate(plain: &Value, out: &mut Value) {
    match out {
        Value::Array(items) => items.iter_mut().for_each(|i| discriminate(plain, i)),
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if !matches!(key.as_str(), "default" | "const" | "enum" | "examples") {
                    discriminate(plain, child);
                }
            }
            let Some(Value::Array(branches)) = map.get("oneOf") else { return };
            let branches: Vec<Value> = branches.iter().map(|b| deref(plain, b).clone()).collect();
            let Some((tag, names)) = tag_of(plain, &branches) else { return };
            map.remove("oneOf");
            let tagged = tagged_table(plain, &tag, &names, &branches);
            for (k, v) in tagged {
                map.insert(k, v);
            }
        }
        _ => {}
    }
}

/// The discriminated form of a table tagged by `tag`, one branch per name.
fn tagged_table(
    plain: &Value,
    tag: &str,
    names: &[String],
    branches: &[Value],
) -> Map<String, Value> {
    // Every key of any variant, with the schemas the variants give it.
    let mut keys: Vec<(String, Vec<Value>)> = Vec::new();
    for b in branches {
        for (k, v) in b.get("properties").and_then(Value::as_object).into_iter().flatten() {
            if k == tag {
                continue;
            }
            match keys.iter_mut().find(|(name, _)| name == k) {
                Some((_, schemas)) => schemas.push(v.clone()),
                None => keys.push((k.clone(), vec![v.clone()])),
            }
        }
    }
    // A key with one schema in every variant that has it is checked here; a key whose
    // schema differs between variants is checked by each variant's branch.
    let shared = |schemas: &[Value]| schemas.iter().all(|s| same_check(s, &schemas[0]));
    let mut properties = Map::new();
    let meanings: Vec<String> = names
        .iter()
        .zip(branches)
        .map(|(n, b)| match b.get("description").and_then(Value::as_str) {
            Some(about) => format!("`{n}`: {}", about.replace('\n', " ")),
            None => format!("`{n}`"),
        })
        .collect();
    properties.insert(
        tag.to_owned(),
        json!({
            "type": "string",
            "enum": names,
            "description": format!(
                "The variant of this table (left out: the base file's, else the default).\n\n{}",
                meanings.join("\n")
            ),
        }),
    );
    for (k, schemas) in &keys {
        let schema = if shared(schemas) { merged(schemas) } else { annotations(schemas) };
        properties.insert(k.clone(), schema);
    }
    let mut cases = Vec::new();
    for (name, b) in names.iter().zip(branches) {
        let mut then = b.clone();
        if let Some(Value::Object(props)) = then.get_mut("properties") {
            for (k, v) in props.iter_mut() {
                let checked_above = keys.iter().any(|(key, s)| key == k && shared(s));
                if k == tag || checked_above {
                    *v = Value::Bool(true);
                }
            }
        }
        cases.push(json!({
            "if": { "properties": { tag: { "const": name } }, "required": [tag] },
            "then": then,
        }));
    }
    // Without the tag, a key of any variant may be given.
    let mut any_variant = Map::new();
    for (k, schemas) in &keys {
        let schema = if shared(schemas) { Value::Bool(true) } else { union(plain, schemas) };
        any_variant.insert(k.clone(), schema);
    }
    cases.push(json!({
        "if": { "not": { "required": [tag] } },
        "then": { "properties": any_variant, "additionalProperties": false },
    }));
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(properties));
    out.insert("allOf".into(), Value::Array(cases));
    out
}

/// Whether two schemas check the same (they may differ in description and default).
fn same_check(a: &Value, b: &Value) -> bool {
    let bare = |s: &Value| {
        let mut s = s.clone();
        if let Some(map) = s.as_object_mut() {
            map.remove("description");
            map.remove("default");
        }
        s
    };
    bare(a) == bare(b)
}

/// One of `schemas` (which check the same) with the annotations they agree on.
fn merged(schemas: &[Value]) -> Value {
    let mut out = schemas[0].clone();
    let notes = annotations(schemas);
    if let Some(map) = out.as_object_mut() {
        map.remove("description");
        map.remove("default");
        map.extend(notes.as_object().cloned().unwrap_or_default());
    }
    out
}

/// The description (the first given) and default (where all variants agree) of a key, for
/// completion and hover.
fn annotations(schemas: &[Value]) -> Value {
    let mut out = Map::new();
    if let Some(about) = schemas.iter().find_map(|s| s.get("description")) {
        out.insert("description".into(), about.clone());
    }
    let defaults: Vec<Option<&Value>> = schemas.iter().map(|s| s.get("default")).collect();
    if let Some(Some(default)) = defaults.first()
        && defaults.iter().all(|d| d == &Some(*default))
    {
        out.insert("default".into(), (*default).clone());
    }
    Value::Object(out)
}

/// One schema that accepts what any of `schemas` accepts, as a table with the keys of all of
/// them when they are all tables (so an error still names the key), else `anyOf`.
fn union(plain: &Value, schemas: &[Value]) -> Value {
    let resolved: Vec<&Value> = schemas.iter().map(|s| deref(plain, s)).collect();
    let tables = resolved.iter().all(|s| {
        s.get("type") == Some(&json!("object"))
            && s.get("properties").is_some()
            && s.get("allOf").is_none()
    });
    if !tables {
        return json!({ "anyOf": schemas });
    }
    let mut keys: Vec<(String, Vec<Value>)> = Vec::new();
    for s in &resolved {
        for (k, v) in s.get("properties").and_then(Value::as_object).into_iter().flatten() {
            match keys.iter_mut().find(|(name, _)| name == k) {
                Some((_, found)) => found.push(v.clone()),
                None => keys.push((k.clone(), vec![v.clone()])),
            }
        }
    }
    let mut properties = Map::new();
    for (k, found) in keys {
        let schema = if found.iter().all(|s| same_check(s, &found[0])) {
            merged(&found)
        } else {
            union(plain, &found)
        };
        properties.insert(k, schema);
    }
    let mut out = annotations(schemas);
    let map = out.as_object_mut().expect("annotations are a table");
    map.insert("type".into(), json!("object"));
    map.insert("properties".into(), Value::Object(properties));
    map.insert("additionalProperties".into(), json!(false));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{file_schema, schema};

    fn errors(doc: Value) -> Vec<String> {
        let file = file_schema(&schema());
        let validator = jsonschema::validator_for(&file).expect("the file schema is valid");
        validator.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    #[test]
    fn a_partial_file_is_accepted() {
        assert!(errors(json!({})).is_empty());
        assert!(
            errors(json!({"base": "x.toml", "model": {"temporal": {"dwconv_kernel": 5}}}))
                .is_empty()
        );
        assert!(errors(json!({"train": {"schedule": {"warmup_epochs": 1}}})).is_empty());
        assert!(errors(json!({"sampler": {"weights": {"factor": 3.0}}})).is_empty());
    }

    #[test]
    fn a_given_tag_checks_its_variant_and_names_the_key() {
        let found = errors(json!({"train": {"optimizer": {"kind": "sgd", "beta1": 0.9}}}));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("/train/optimizer: ") && found[0].contains("'beta1'"));
        let found = errors(json!({"model": {"kind": "transformer"}}));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("/model/kind: ") && found[0].contains("\"transformer\""));
    }

    #[test]
    fn without_its_tag_a_table_takes_the_keys_of_any_variant_only() {
        let found = errors(json!({"model": {"temporal": {"dwconv_kernal": 5}}}));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("/model/temporal: ") && found[0].contains("dwconv_kernal"));
        let found = errors(json!({"model": {"lstm": {"hidden": 0}}}));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("/model/lstm/hidden: "));
    }

    #[test]
    fn no_key_is_required_and_no_choice_is_an_unnamed_one_of() {
        fn walk(node: &Value, at: &str) {
            match node {
                Value::Object(map) => {
                    assert!(!map.contains_key("required") || at.contains("/if"), "{at}");
                    assert!(!map.contains_key("oneOf"), "{at}: oneOf");
                    for (k, v) in map {
                        if !matches!(k.as_str(), "default" | "enum" | "const") {
                            walk(v, &format!("{at}/{k}"));
                        }
                    }
                }
                Value::Array(items) => {
                    items.iter().enumerate().for_each(|(i, v)| walk(v, &format!("{at}/{i}")))
                }
                _ => {}
            }
        }
        walk(&file_schema(&schema()), "");
    }

    /// Completion and hover show a key's description and default: every key of the resolved
    /// schema that has one keeps it in the file schema's `properties`.
    #[test]
    fn every_key_keeps_its_description_and_default() {
        let resolved = schema();
        let file = file_schema(&resolved);
        let defs = resolved["$defs"].as_object().unwrap();
        let mut checked = 0;
        for (name, def) in defs {
            let variants: Vec<&Value> = match def.get("oneOf").and_then(Value::as_array) {
                Some(branches) => branches.iter().collect(),
                None => vec![def],
            };
            for variant in &variants {
                for (key, prop) in
                    variant.get("properties").and_then(Value::as_object).into_iter().flatten()
                {
                    let ours = &file["$defs"][name]["properties"][key];
                    if prop.get("description").is_some() {
                        assert!(ours.get("description").is_some(), "{name}.{key}: no description");
                        checked += 1;
                    }
                    if variants.len() == 1 && prop.get("default").is_some() {
                        assert_eq!(ours.get("default"), prop.get("default"), "{name}.{key}");
                    }
                }
            }
        }
        assert!(checked > 50, "{checked}");
    }
}
