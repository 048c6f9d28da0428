//! GraphiQL is served from the binary: the page loads only files from
//! `/graphiql/assets/`, the same bytes as `assets/graphiql/`, runs no
//! inline script, and comes with a strict Content-Security-Policy.

use crate::helpers::*;

const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/graphiql");

/// The values of every `name="..."` attribute in `html`.
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let marker = format!(" {name}=\"");
    html.match_indices(&marker)
        .map(|(at, _)| {
            let value = &html[at + marker.len()..];
            &value[..value.find('"').expect("a closed attribute")]
        })
        .collect()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The headers every GraphiQL response carries.
fn assert_security_headers(response: &reqwest::Response) {
    let csp = header(response, "content-security-policy");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(directives.contains(&directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
}

#[actix_web::test]
async fn graphiql_is_served_from_the_binary() {
    let app = spawn_sqlite_with(&[]).await;

    let page = app.client.get(app.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_security_headers(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<div id="graphiql">"#), "{html}");

    // Every script is a file: no inline script for the CSP to refuse.
    let mut scripts = 0;
    for (at, _) in html.match_indices("<script") {
        let tag = &html[at..at + html[at..].find('>').unwrap() + 1];
        assert!(tag.contains(" src=\""), "inline script: {tag}");
        let after = &html[at + tag.len()..];
        assert!(after.starts_with("</script>"), "script with a body: {tag}");
        scripts += 1;
    }
    assert_eq!(scripts, 4, "{html}");

    // Nothing from another host (the page names no absolute URL at all).
    let own = app.base.clone() + "/";
    for scheme in ["http://", "https://"] {
        for (at, _) in html.match_indices(scheme) {
            assert!(html[at..].starts_with(&own), "another host in {html}");
        }
    }

    let mut referenced = attribute_values(&html, "src");
    referenced.extend(attribute_values(&html, "href"));
    assert_eq!(referenced.len(), 5, "{referenced:?}");
    for path in referenced {
        let name = path
            .strip_prefix("/graphiql/assets/")
            .unwrap_or_else(|| panic!("{path} is not a GraphiQL asset"));
        let expected_type = if name.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            assert!(name.ends_with(".js"), "{path}");
            "text/javascript; charset=utf-8"
        };
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), expected_type, "{path}");
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=86400",
            "{path}"
        );
        assert_security_headers(&response);
        let body = response.bytes().await.unwrap();
        assert!(!body.is_empty(), "{path} is empty");
        let file = std::fs::read(format!("{ASSETS}/{name}")).unwrap();
        assert!(body == file, "{path} differs from assets/graphiql/{name}");
    }

    let missing = app
        .client
        .get(app.url("/graphiql/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}
