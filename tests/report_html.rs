//! The HTML report rendered by a real browser (headless Chromium): the charts are in the DOM it builds,
//! and model output stays text. Skipped, with a message, when Chromium is not installed.

mod common;

use common::{fake_admin, fixture_stats, run, sample, temp_dir, Collect};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium with `args` and returns its stdout; kills it after 90 s.
fn headless(browser: &Path, profile: &Path, args: &[&str]) -> String {
    let mut child = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        .args(["--disable-sync", "--no-first-run", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

#[test]
fn chromium_renders_the_charts_and_keeps_model_output_as_text() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (apt-get install -y chromium, or set CHROMIUM=/path)");
        return;
    };
    let dir = temp_dir("html");
    let db = dir.join("samples.db");
    let server = Collect::start(&db, &[]);
    for i in 0..14u32 {
        let sim = 0.95 - f64::from(i) * 0.06;
        let body = sample(&format!("r-{i}"), "generate", "v2", Some(sim), &"word ".repeat(10 * i as usize + 1));
        assert_eq!(server.post(&body.to_string()).0, 200);
    }
    let mut hostile = sample("r-evil", "generate", "v2", Some(0.01), "x");
    hostile["shadow_body"] = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>".into();
    assert_eq!(server.post(&hostile.to_string()).0, 200);
    server.stop();

    let admin = fake_admin(fixture_stats(), 2);
    let (code, html, err) = run(&["report", "--admin", &admin, "--db", db.to_str().unwrap(), "--format", "html"]);
    assert_eq!(code, 1, "{err}");
    let page = dir.join("report.html");
    std::fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());

    let dom = headless(&browser, &dir.join("profile-dom"), &["--dump-dom", &url]);
    assert!(dom.contains("<title>shadow-compare report</title>"), "no page title in the DOM:\n{dom}");
    for id in ["distance-embed-v2", "latency-embed-v2", "distance-embed-base", "latency-embed-base", "distance-generate-v2", "latency-generate-v2"] {
        assert!(dom.contains(&format!("<svg id=\"{id}\"")), "chart {id} missing from the DOM");
    }
    assert_eq!(dom.matches("<svg ").count(), 6, "two charts per (rule, shadow) with traffic");
    assert!(dom.contains("<title>0–0.5 bp: 1900 pairs</title>"));
    assert!(dom.contains("NOT READY (exit 1)"));
    assert!(dom.contains("Spearman ρ"));
    // The hostile body is text in a <pre>, not an element the browser ran or loaded.
    assert!(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"), "{dom}");
    assert!(!dom.contains("<script") && !dom.contains("<img"));

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    headless(&browser, &dir.join("profile-shot"), &["--window-size=1280,2200", &format!("--screenshot={}", shot.display()), &url]);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000, "screenshot is {} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
    let _ = std::fs::remove_dir_all(&dir);
}
