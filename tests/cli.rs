//! The `shadow-compare` command line, run as users run it.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadow-compare"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn score_exact_both_input_forms_in_order() {
    let input = concat!(
        r#"{"primary": {"label": "cat", "p": 0.9}, "shadow": {"p": 0.7, "label": "cat"}}"#, "\n",
        r#"{"primary_body": "{\"label\": \"cat\"}", "shadow_body": "{\"label\": \"dog\"}"}"#, "\n",
        "\n",
        r#"{"primary": {"label": 1}, "shadow": {"label": 1.0}}"#, "\n",
    );
    let (code, out, err) = run(&["score", "--kind", "classification", "--pointer", "/label"], input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        concat!(
            r#"{"similarity":1.0,"divergent":false,"error":null}"#, "\n",
            r#"{"similarity":0.0,"divergent":true,"error":null}"#, "\n",
            r#"{"similarity":1.0,"divergent":false,"error":null}"#, "\n",
        )
    );
}

#[test]
fn bad_lines_are_reported_with_their_number_and_the_run_goes_on() {
    let input = "not json\n{\"primary\": [1, 0], \"shadow\": [0, 1]}\n{\"primary\": [1]}\n";
    let (code, out, err) = run(&["score", "--kind", "cosine"], input);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains(r#""error":"bad_line""#), "{}", lines[0]);
    assert_eq!(lines[1], r#"{"similarity":0.0,"divergent":true,"error":null}"#);
    assert!(lines[2].contains(r#""error":"bad_line""#));
    assert!(err.contains("line 1:") && err.contains("line 3:"), "{err}");
}

#[test]
fn scoring_errors_carry_the_reason() {
    let input = concat!(
        r#"{"primary": {"e": [1, 2]}, "shadow": {"e": [1, 2, 3]}}"#, "\n",
        r#"{"primary": {"e": [1, 2]}, "shadow": {"x": 1}}"#, "\n",
        r#"{"primary_body": "{\"e\": [1, 2]}", "shadow_body": "{\"e\": [1, "}"#, "\n",
        r#"{"primary": {"e": [1, 2]}, "shadow": {"e": "text"}}"#, "\n",
    );
    let (code, out, _) = run(&["score", "--kind", "embedding", "--pointer", "/e"], input);
    assert_eq!(code, 0);
    let reasons: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["error"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["dimension_mismatch", "missing_field", "invalid_json", "type_mismatch"]);
}

#[test]
fn max_tokens_is_the_filters_bound() {
    let input = r#"{"primary": {"text": "one two three"}, "shadow": {"text": "one two three four"}}"#;
    let (code, out, _) = run(&["score", "--kind", "rouge_l", "--pointer", "/text", "--max-tokens", "3"], input);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((code, v["error"].as_str(), v["similarity"].is_null()), (0, Some("too_many_tokens"), true));
    assert_eq!(v["detail"], "too_many_tokens: the shadow text has more than 3 tokens (max_tokens)");
    let (_, out, _) = run(&["score", "--kind", "rouge_l", "--pointer", "/text", "--max-tokens", "4"], input);
    assert!(out.contains(r#""error":null"#), "{out}");
    // Without the flag, the filter's default (10,000).
    let long = format!(r#"{{"primary": {{"text": "{}"}}, "shadow": {{"text": "x"}}}}"#, "w ".repeat(10_001));
    let (_, out, _) = run(&["score", "--kind", "rouge_l", "--pointer", "/text"], &long);
    assert!(out.contains("more than 10000 tokens"), "{out}");
}

#[test]
fn threshold_decides_divergence() {
    let input = r#"{"primary": [1, 0], "shadow": [1, 1]}"#;
    let (_, out, _) = run(&["score", "--kind", "cosine", "--threshold", "0.7"], input);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!((v["similarity"].as_f64().unwrap() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
    assert_eq!(v["divergent"], false);
    let (_, out, _) = run(&["score", "--kind", "cosine", "--threshold", "0.75"], input);
    assert!(out.contains(r#""divergent":true"#));
}

#[test]
fn usage_errors_exit_64_and_say_what_is_wrong() {
    let (code, _, err) = run(&["score", "--kind", "bleu"], "");
    assert_eq!(code, 64);
    assert!(err.contains("--kind 'bleu' is not cosine, rouge_l or exact"), "{err}");
    let (code, _, err) = run(&["score", "--kind", "cosine", "--threshold", "2"], "");
    assert_eq!(code, 64);
    assert!(err.contains("--threshold '2' is not a number in [0, 1]"));
    let (code, _, err) = run(&["score", "--kind", "cosine", "--pointer", "e"], "");
    assert_eq!(code, 64);
    assert!(err.contains("--pointer: "), "{err}");
    let (code, _, err) = run(&["score", "--kind", "rouge_l", "--max-tokens", "0"], "");
    assert_eq!(code, 64);
    assert!(err.contains("--max-tokens '0' is not a whole number from 1 to 50000"), "{err}");
}

#[test]
fn check_config_uses_the_filters_validation() {
    let (code, out, _) = run(&["check-config", "--root-id", "capture"], r#"{"role": "shadow"}"#);
    assert_eq!((code, out.as_str()), (0, "ok\n"));
    let (code, _, err) = run(
        &["check-config", "--root-id", "compare"],
        r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "x", "kind": "exact", "threshold": 2}]}"#,
    );
    assert_eq!(code, 1);
    assert_eq!(err, "invalid configuration: rules[0].threshold: 2 is outside [0, 1]\n");
}
