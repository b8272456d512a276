//! `runner fetch-echonet` against a real HTTP server on 127.0.0.1 that serves a generated
//! zip, honours Range, and drops the connection midway once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::support::Scratch;

const TOKEN: &str = "sv=2020-08-04&ss=b&srt=co&sp=r&se=2030-01-01&sig=S3cReT%2Bsig";

/// A zip holding an EchoNet-Dynamic-like folder; the video is random bytes, stored, so the
/// archive is large enough to be cut midway.
fn make_zip() -> (Vec<u8>, Vec<u8>) {
    let mut video = vec![0u8; 300_000];
    ChaCha8Rng::seed_from_u64(3).fill(&mut video[..]);
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("EchoNet-Dynamic/FileList.csv", stored).unwrap();
    zip.write_all(b"FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split\n")
        .unwrap();
    zip.start_file("EchoNet-Dynamic/Videos/0X1.avi", stored).unwrap();
    zip.write_all(&video).unwrap();
    zip.finish().unwrap();
    (buf.into_inner(), video)
}

struct Seen {
    target: String,
    range: Option<String>,
}

/// Serves `body` at any path; the first response is cut after a third of the body. Ranged
/// responses announce a total `grown` bytes larger, as when the file changed on the server.
fn serve(body: Vec<u8>, grown: usize) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut served = 0;
        while Instant::now() < deadline && served < 10 {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    respond(stream, &body, served == 0, grown, &log);
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (format!("http://{addr}/echonet/EchoNet-Dynamic.zip"), seen)
}

fn respond(mut stream: TcpStream, body: &[u8], cut: bool, grown: usize, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let target = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_owned());
        }
    }
    log.lock().unwrap().push(Seen { target, range: range.clone() });
    let total = body.len();
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok())
        .unwrap_or(0);
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            total - start,
            total - 1,
            total + grown
        )
    } else {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n")
    };
    let _ = stream.write_all(head.as_bytes());
    let end = if cut { total / 3 } else { total };
    let _ = stream.write_all(&body[start..end.max(start)]);
    let _ = stream.flush();
    // Dropping the stream closes the connection (midway when cut).
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn downloads_resume_after_a_dropped_connection_and_the_token_stays_secret() {
    let (zip, video) = make_zip();
    let (url, seen) = serve(zip.clone(), 0);
    let s = Scratch::new();
    let run = s.runner(
        &["fetch-echonet", "--url", &url, "--out", "data"],
        &[("ECHONET_SAS_TOKEN", TOKEN)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let root = s.path().join("data/EchoNet-Dynamic");
    assert_eq!(std::fs::read(root.join("Videos/0X1.avi")).unwrap(), video);
    assert!(std::fs::read_to_string(root.join("FileList.csv")).unwrap().starts_with("FileName,EF"));
    assert_eq!(std::fs::read(s.path().join("data/EchoNet-Dynamic.zip")).unwrap(), zip);
    assert!(!s.path().join("data/EchoNet-Dynamic.zip.part").exists());

    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 2, "no retry after the cut");
    assert!(
        seen.iter().all(|r| r.target.ends_with(&format!("?{TOKEN}"))),
        "the token was not sent"
    );
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range.as_deref(), Some(format!("bytes={}-", zip.len() / 3).as_str()));

    // The secret is in no output and no file.
    assert!(!run.stdout.contains("S3cReT") && !run.stderr.contains("S3cReT"));
    for entry in walk(s.path()) {
        let mut bytes = Vec::new();
        std::fs::File::open(&entry).unwrap().read_to_end(&mut bytes).unwrap();
        assert!(!contains(&bytes, "S3cReT"), "{} holds the token", entry.display());
    }
}

#[test]
fn a_download_whose_size_is_not_the_announced_one_is_refused_and_not_extracted() {
    let (zip, _) = make_zip();
    let (url, _) = serve(zip.clone(), 1000);
    let s = Scratch::new();
    let run = s.runner(&["fetch-echonet", "--url", &url, "--out", "data"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let want = format!(
        "data/EchoNet-Dynamic.zip.part: downloaded {} bytes, the server announced {}",
        zip.len(),
        zip.len() + 1000
    );
    assert!(run.stderr.contains(&want), "{}", run.stderr);
    assert!(!s.path().join("data/EchoNet-Dynamic.zip").exists(), "an incomplete zip is not final");
    assert!(!s.path().join("data/EchoNet-Dynamic").exists(), "nothing was extracted");
}

#[test]
fn a_token_in_the_url_is_refused_without_echoing_it() {
    let s = Scratch::new();
    let run = s.runner(
        &["fetch-echonet", "--url", "http://127.0.0.1:9/x.zip?sig=S3cReT", "--out", "data"],
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("ECHONET_SAS_TOKEN"), "{}", run.stderr);
    assert!(!run.stderr.contains("S3cReT"), "{}", run.stderr);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
