//! `GET /`: a placeholder page until the web wallet is served here.

use axum::response::Html;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>offpay</title></head>
<body>
<h1>offpay</h1>
<p>This is an offpay server. The web wallet is not served here yet; it is coming.</p>
<p>The API lives under <code>/v1</code>: see <a href="/v1/health">/v1/health</a> and
<a href="/v1/openapi.json">/v1/openapi.json</a>. The terminal wallet is <code>offpay wallet</code>.</p>
</body>
</html>
"#;

pub async fn index() -> Html<&'static str> {
    Html(PAGE)
}
