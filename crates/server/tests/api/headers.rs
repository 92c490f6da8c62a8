//! Security headers on every kind of answer: the web wallet's page and files, API answers
//! (success, refusal, not found, bad method, bad body).

use crate::helpers::TestServer;

const EXPECTED: &[(&str, &str)] =
    &[("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer")];

fn check(what: &str, headers: &reqwest::header::HeaderMap) {
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    for (name, value) in EXPECTED {
        assert_eq!(headers.get(*name).and_then(|v| v.to_str().ok()), Some(*value), "{what}: {name}");
    }
    let permissions = headers.get("permissions-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(permissions.contains("camera=(self)") && permissions.contains("microphone=()"), "{what}: {permissions}");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let server = TestServer::sqlite().await;
    let http = reqwest::Client::new();
    for (what, method, path) in [
        ("the wallet page", "GET", "/"),
        ("a wallet file", "GET", "/js/main.js"),
        ("a wallet route", "GET", "/some/deep/link"),
        ("an API answer", "GET", "/v1/health"),
        ("an API refusal", "GET", "/v1/me"),
        ("an unknown API path", "GET", "/v1/nothing-here"),
        ("a bad method", "DELETE", "/v1/health"),
        ("a bad body", "POST", "/v1/login"),
    ] {
        let request = http.request(method.parse().unwrap(), format!("{}{path}", server.base));
        let request =
            if method == "POST" { request.header("content-type", "application/json").body("{") } else { request };
        let answer = request.send().await.unwrap();
        check(&format!("{what} ({})", answer.status()), answer.headers());
    }
}
