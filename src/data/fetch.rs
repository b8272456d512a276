//! `runner fetch-echonet`: download `EchoNet-Dynamic.zip` from an Azure Blob URL and extract
//! it. The SAS token comes from the environment, is appended to the request only, and never
//! reaches a file, a log or an error message. Downloads stream into `<zip>.part`, resume with
//! HTTP Range after a dropped connection or an interrupted run, and are checked against the
//! size the server announced before the rename that makes the zip final.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::atomic;

/// Environment variable holding the SAS token.
pub const SAS_TOKEN_VAR: &str = "ECHONET_SAS_TOKEN";

/// Attempts per download (each resumes where the previous one stopped).
const ATTEMPTS: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{url}: the URL carries a query string; give the blob URL alone and the SAS token in \
         the environment variable {SAS_TOKEN_VAR}"
    )]
    TokenInUrl { url: String },
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: downloaded {got} bytes, the server announced {want}")]
    Size { path: PathBuf, got: u64, want: u64 },
    #[error("{path}: not a readable zip archive: {message}")]
    Zip { path: PathBuf, message: String },
}

#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Blob URL of the zip, without a query string.
    pub url: String,
    /// Folder receiving the zip and its extracted content.
    pub out: PathBuf,
    /// The SAS token (`sv=…&sig=…`), or none for a public URL.
    pub sas_token: Option<String>,
    pub progress: bool,
}

/// Downloads (resuming a partial download) and extracts; returns the extracted
/// `EchoNet-Dynamic` folder.
pub fn fetch_echonet(opts: &FetchOptions) -> Result<PathBuf, FetchError> {
    if opts.url.contains('?') {
        return Err(FetchError::TokenInUrl { url: redact(&opts.url) });
    }
    fs::create_dir_all(&opts.out).map_err(io_at(&opts.out))?;
    let name =
        opts.url.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("EchoNet-Dynamic.zip");
    let zip = opts.out.join(name);
    if !zip.exists() {
        download(opts, &zip)?;
    }
    extract(&zip, &opts.out)?;
    Ok(opts.out.join("EchoNet-Dynamic"))
}

fn download(opts: &FetchOptions, zip: &Path) -> Result<(), FetchError> {
    let part = zip.with_extension("zip.part");
    let url = match &opts.sas_token {
        Some(token) => format!("{}?{}", opts.url, token.trim_start_matches('?')),
        None => opts.url.clone(),
    };
    let shown = redact(&opts.url);
    let http =
        |message: String| FetchError::Http { url: shown.clone(), message: scrub(&message, opts) };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .build()
        .into();
    let bar = if opts.progress { ProgressBar::new(0) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bytes}/{total_bytes} {wide_bar} {bytes_per_sec} ETA {eta}")
            .expect("a valid template"),
    );
    let mut last_error = String::new();
    for _ in 0..ATTEMPTS {
        let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        let mut request = agent.get(&url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(e) => {
                last_error = e.to_string();
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let (append, total) = match status {
            206 => (
                true,
                header("content-range").and_then(|r| r.rsplit('/').next()?.parse::<u64>().ok()),
            ),
            200 => (false, header("content-length").and_then(|l| l.parse::<u64>().ok())),
            416 if have > 0 => {
                // Nothing left to send: the part file is complete (checked below).
                let total =
                    header("content-range").and_then(|r| r.rsplit('/').next()?.parse::<u64>().ok());
                return finish(&part, zip, have, total.unwrap_or(have));
            }
            _ => return Err(http(format!("HTTP {status}"))),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .map_err(io_at(&part))?;
        let start = if append { have } else { 0 };
        bar.set_length(total.unwrap_or(0));
        bar.set_position(start);
        let copied = copy(&mut response.into_body().into_reader(), &mut file, &bar);
        file.sync_all().map_err(io_at(&part))?;
        match copied {
            Ok(_) => {
                let got = fs::metadata(&part).map_err(io_at(&part))?.len();
                bar.finish_and_clear();
                return finish(&part, zip, got, total.unwrap_or(got));
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    bar.abandon();
    Err(http(format!("gave up after {ATTEMPTS} attempts; last error: {last_error}")))
}

/// Copies until the body ends; an error mid-way keeps what was written.
fn copy(from: &mut impl Read, to: &mut File, bar: &ProgressBar) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..n])?;
        total += n as u64;
        bar.inc(n as u64);
    }
}

fn finish(part: &Path, zip: &Path, got: u64, want: u64) -> Result<(), FetchError> {
    if got != want {
        return Err(FetchError::Size { path: part.to_path_buf(), got, want });
    }
    fs::rename(part, zip).map_err(io_at(zip))?;
    atomic::sync_dir(zip.parent().unwrap_or(Path::new("."))).map_err(io_at(zip))
}

/// Extracts into a temporary folder next to `out`'s content, then renames each top-level
/// entry into place: an interrupted extraction leaves nothing that looks complete.
fn extract(zip: &Path, out: &Path) -> Result<(), FetchError> {
    let zip_err = |e: zip::result::ZipError| FetchError::Zip {
        path: zip.to_path_buf(),
        message: e.to_string(),
    };
    let mut archive =
        zip::ZipArchive::new(File::open(zip).map_err(io_at(zip))?).map_err(zip_err)?;
    let tmp = out.join(".extracting");
    let _ = fs::remove_dir_all(&tmp);
    archive.extract(&tmp).map_err(zip_err)?;
    for entry in fs::read_dir(&tmp).map_err(io_at(&tmp))? {
        let entry = entry.map_err(io_at(&tmp))?;
        let target = out.join(entry.file_name());
        if target.exists() {
            let remove = if target.is_dir() {
                fs::remove_dir_all(&target)
            } else {
                fs::remove_file(&target)
            };
            remove.map_err(io_at(&target))?;
        }
        fs::rename(entry.path(), &target).map_err(io_at(&target))?;
    }
    fs::remove_dir(&tmp).map_err(io_at(&tmp))
}

/// The URL with any query string replaced, for messages.
fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?<redacted>"),
        None => url.to_owned(),
    }
}

/// A message with the token cut out, should a library have quoted the request URL.
fn scrub(message: &str, opts: &FetchOptions) -> String {
    match &opts.sas_token {
        Some(token) if !token.is_empty() => {
            message.replace(token.trim_start_matches('?'), "<redacted>")
        }
        _ => message.to_owned(),
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io { path: path.to_path_buf(), source }
}
