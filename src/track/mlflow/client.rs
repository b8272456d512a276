//! MLflow's REST API (`/api/2.0/mlflow/…`, and the artifact proxy of a server started with
//! artifact serving), each call bounded in time. The token (MLFLOW_TRACKING_TOKEN) goes in
//! the Authorization header only: never into an error, a file or a log.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

/// How long reaching the server may take, and a whole call.
const CONNECT: Duration = Duration::from_secs(2);
const CALL: Duration = Duration::from_secs(10);

/// The environment variable the token is read from.
pub const TOKEN_VAR: &str = "MLFLOW_TRACKING_TOKEN";

/// Why a call did not go through.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Not reached or no answer in time: try again later.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered with an error.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Refused { endpoint: String, status: u16, message: String },
}

pub struct Client {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

/// A run as the server describes it.
pub struct RunInfo {
    pub run_id: String,
    pub status: String,
    /// Where its artifacts go: `mlflow-artifacts:/…` when the server proxies them.
    pub artifact_uri: String,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeSet<String>,
}

impl RunInfo {
    fn from_json(run: &Value) -> Self {
        let info = &run["info"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let list = |key: &str| run["data"][key].as_array().cloned().unwrap_or_default();
        RunInfo {
            run_id: s(&info["run_id"]),
            status: s(&info["status"]),
            artifact_uri: s(&info["artifact_uri"]),
            params: list("params").iter().map(|p| (s(&p["key"]), s(&p["value"]))).collect(),
            metrics: list("metrics").iter().map(|m| s(&m["key"])).collect(),
        }
    }
}

/// One metric value at one step.
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub step: i64,
}

fn millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Client {
    /// A client of the server at `url` (`http://host:port`, perhaps with a path).
    pub fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT))
            .timeout_global(Some(CALL))
            .build()
            .into();
        let token = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty());
        Client { base: url.trim_end_matches('/').to_owned(), agent, token }
    }

    fn answer(
        endpoint: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, CallError> {
        let mut response = result.map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if status >= 300 {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(CallError::Refused { endpoint: endpoint.to_owned(), status, message });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn post(&self, endpoint: &str, body: Value) -> Result<Value, CallError> {
        let mut request = self.agent.post(format!("{}/api/2.0/mlflow/{endpoint}", self.base));
        if let Some(t) = &self.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        let result = request.content_type("application/json").send(body.to_string());
        Self::answer(endpoint, result)
    }

    fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value, CallError> {
        let mut request = self.agent.get(format!("{}/api/2.0/mlflow/{endpoint}", self.base));
        if let Some(t) = &self.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        let result = request.query_pairs(query.iter().copied()).call();
        Self::answer(endpoint, result)
    }

    /// The id of the experiment named `name`, created if missing.
    pub fn experiment(&self, name: &str) -> Result<String, CallError> {
        let by_name = || {
            self.get("experiments/get-by-name", &[("experiment_name", name)])
                .map(|v| v["experiment"]["experiment_id"].as_str().unwrap_or_default().to_owned())
        };
        match by_name() {
            Ok(id) => Ok(id),
            Err(CallError::Refused { status: 404, .. }) => {
                match self.post("experiments/create", json!({ "name": name })) {
                    Ok(v) => Ok(v["experiment_id"].as_str().unwrap_or_default().to_owned()),
                    // Created meanwhile by another process.
                    Err(CallError::Refused { .. }) => by_name(),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The run of `experiment` whose tags hold these values, if there is one.
    pub fn find_run(
        &self,
        experiment: &str,
        tags: &[(&str, &str)],
    ) -> Result<Option<RunInfo>, CallError> {
        let filter: Vec<String> = tags.iter().map(|(k, v)| format!("tags.`{k}` = '{v}'")).collect();
        let found = self.post(
            "runs/search",
            json!({ "experiment_ids": [experiment], "filter": filter.join(" and "), "max_results": 1 }),
        )?;
        Ok(found["runs"].as_array().and_then(|r| r.first()).map(RunInfo::from_json))
    }

    pub fn create_run(
        &self,
        experiment: &str,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Result<RunInfo, CallError> {
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect();
        let created = self.post(
            "runs/create",
            json!({ "experiment_id": experiment, "run_name": name, "start_time": millis(), "tags": tags }),
        )?;
        Ok(RunInfo::from_json(&created["run"]))
    }

    pub fn run(&self, run_id: &str) -> Result<RunInfo, CallError> {
        Ok(RunInfo::from_json(&self.get("runs/get", &[("run_id", run_id)])?["run"]))
    }

    /// The steps at which `key` was logged.
    pub fn steps(&self, run_id: &str, key: &str) -> Result<BTreeSet<i64>, CallError> {
        let mut steps = BTreeSet::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("run_id", run_id), ("metric_key", key), ("max_results", "1000")];
            if !token.is_empty() {
                query.push(("page_token", &token));
            }
            let page = self.get("metrics/get-history", &query)?;
            for m in page["metrics"].as_array().into_iter().flatten() {
                steps.extend(m["step"].as_i64().or_else(|| m["step"].as_str()?.parse().ok()));
            }
            match page["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_owned(),
                _ => return Ok(steps),
            }
        }
    }

    /// Logs metrics (at most 1,000) and params (at most 100) in one call.
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[(String, String)],
    ) -> Result<(), CallError> {
        let now = millis();
        let metrics: Vec<Value> = metrics
            .iter()
            .map(|m| json!({ "key": m.key, "value": m.value, "timestamp": now, "step": m.step }))
            .collect();
        let params: Vec<Value> =
            params.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect();
        self.post(
            "runs/log-batch",
            json!({ "run_id": run_id, "metrics": metrics, "params": params }),
        )
        .map(drop)
    }

    /// Sets the run's status (`RUNNING`, `FINISHED`, `FAILED`), with its end time when it
    /// has ended.
    pub fn set_status(&self, run_id: &str, status: &str) -> Result<(), CallError> {
        let mut body = json!({ "run_id": run_id, "status": status });
        if status != "RUNNING" {
            body["end_time"] = json!(millis());
        }
        self.post("runs/update", body).map(drop)
    }

    /// Uploads `bytes` as the artifact `path` under `artifact_uri` (a proxied
    /// `mlflow-artifacts:` location).
    pub fn put_artifact(
        &self,
        artifact_uri: &str,
        path: &str,
        bytes: &[u8],
    ) -> Result<(), CallError> {
        let Some(location) = proxied(artifact_uri) else {
            return Err(CallError::Refused {
                endpoint: "artifacts".into(),
                status: 0,
                message: format!(
                    "the server keeps artifacts at {artifact_uri}, not behind its artifact proxy"
                ),
            });
        };
        let url = format!("{}/api/2.0/mlflow-artifacts/artifacts/{location}/{path}", self.base);
        let mut request = self.agent.put(url);
        if let Some(t) = &self.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        Self::answer("mlflow-artifacts", request.send(bytes)).map(drop)
    }
}

/// The path under the artifact proxy of a `mlflow-artifacts:/1/<run>/artifacts` (or
/// `mlflow-artifacts://host:port/1/…`) location; `None` for artifacts the server does not
/// serve itself.
pub fn proxied(artifact_uri: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    let rest = match rest.strip_prefix("//") {
        Some(authority_and_path) => authority_and_path.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Some(rest.trim_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_artifact_locations_are_found_with_or_without_a_host() {
        assert_eq!(
            proxied("mlflow-artifacts:/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(
            proxied("mlflow-artifacts://h:5000/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(proxied("/srv/mlruns/1/abc/artifacts"), None);
        assert_eq!(proxied("s3://bucket/1/abc"), None);
    }
}
