//! The experiment's identity: resolved config → canonical JSON (RFC 8785) → blake3.
//!
//! What is hashed is everything that can change a number. Left out: `runtime` (where and
//! how fast), `experiment.description` (prose) and `data.source.root` (where the data lies,
//! not what it is). A key added in a later version with a default that reproduces the old
//! behaviour is listed in `ADDED_LATER`; while it holds that default it is left out, so
//! existing result directories keep their hash.

use serde_json::Value;

use super::experiment::Experiment;

/// Version of the hashing rules; stored in every result directory.
pub const HASH_SCHEME: u32 = 1;

/// Keys never hashed.
const NOT_HASHED: &[&str] = &["/runtime", "/experiment/description", "/data/source/root"];

/// A key's JSON pointer and the default that keeps old results' meaning.
pub type AddedKey = (&'static str, fn() -> Value);

/// Keys added after hash scheme 1, each with the default that keeps old results' meaning.
/// Add an entry with every new result-affecting key that has a default.
pub const ADDED_LATER: &[AddedKey] = &[
    ("/data/source/ef_margin", || Value::from(0.0)),
    ("/model/backbone/width", || Value::from(64)),
    ("/model/head/task", || Value::from("classify")),
    ("/data/clip/eval_stride", || Value::from(1)),
    ("/data/augment/translate", || Value::from(0)),
    ("/data/normalize/from_videos", || Value::from(0)),
    // What `grad_clip` did before the key: each parameter's own norm. Absent, it now resolves
    // to "global", a new experiment.
    ("/train/grad_clip_norm", || Value::from("per_parameter")),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigHash {
    /// blake3 of `canonical`, 64 hex digits.
    pub digest: String,
    /// The canonical JSON that was hashed.
    pub canonical: String,
}

impl ConfigHash {
    /// The 12 hex digits that name the result directory.
    pub fn short(&self) -> &str {
        &self.digest[..12]
    }
}

pub fn hash(exp: &Experiment) -> ConfigHash {
    hash_value(serde_json::to_value(exp).expect("an experiment is JSON"), ADDED_LATER)
}

fn hash_value(mut value: Value, added_later: &[AddedKey]) -> ConfigHash {
    for pointer in NOT_HASHED {
        remove(&mut value, pointer);
    }
    for (pointer, default) in added_later {
        if value.pointer(pointer) == Some(&default()) {
            remove(&mut value, pointer);
        }
    }
    let canonical = serde_jcs::to_string(&value).expect("an experiment is canonical JSON");
    let digest = blake3::hash(canonical.as_bytes()).to_hex().to_string();
    ConfigHash { digest, canonical }
}

fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"experiment": {"name": "x", "seed": 1, "description": "words"},
               "train": {"lr": 0.001}, "runtime": {"workers": 4}})
    }

    #[test]
    fn a_key_added_later_at_its_default_keeps_the_hash() {
        fn off() -> Value {
            json!(false)
        }
        let before = hash_value(doc(), &[]);
        let mut with_default = doc();
        with_default["train"]["new_trick"] = json!(false);
        let mut changed = doc();
        changed["train"]["new_trick"] = json!(true);
        let later: &[AddedKey] = &[("/train/new_trick", off)];
        assert_eq!(hash_value(with_default, later), before);
        assert_ne!(hash_value(changed, later).digest, before.digest);
    }

    #[test]
    fn runtime_and_description_are_not_hashed() {
        let mut other = doc();
        other["runtime"]["workers"] = json!(16);
        other["experiment"]["description"] = json!("other words");
        assert_eq!(hash_value(other, &[]), hash_value(doc(), &[]));
        let mut seed = doc();
        seed["experiment"]["seed"] = json!(2);
        assert_ne!(hash_value(seed, &[]), hash_value(doc(), &[]));
    }

    #[test]
    fn canonical_json_is_rfc8785() {
        let h = hash_value(json!({"b": 1.0, "a": [1e-6, 100]}), &[]);
        assert_eq!(h.canonical, r#"{"a":[0.000001,100],"b":1}"#);
        assert_eq!(h.digest.len(), 64);
    }
}
