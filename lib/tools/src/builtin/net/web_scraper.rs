//! web_scraper: fetch a page (or take HTML text) and extract with CSS selectors, plus the links
//! (resolved to absolute URLs), the title and the meta description.

use std::collections::HashSet;

use scraper::{ElementRef, Html, Selector};
use serde_json::{Map, Value, json};
use url::Url;

use super::client::{self, Limit, Request};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// The most HTML text accepted inline.
const MAX_HTML: usize = 32 * 1024 * 1024;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "web_scraper",
        category: "network",
        description: "Scrapes a web page: fetches a URL (or takes html text) and extracts text \
                      or attribute values with named CSS selectors (first match or all), the \
                      links as absolute URLs, the title and the meta description.",
        schema: json!({
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "Absolute http(s) URL to fetch."},
                "html": {
                    "type": "string",
                    "description": "HTML text to scrape instead of fetching (not with url)."
                },
                "base_url": {
                    "type": "string",
                    "description": "With html: the page's URL, to resolve relative links."
                },
                "selectors": {
                    "type": "object",
                    "additionalProperties": {
                        "oneOf": [
                            {"type": "string"},
                            {
                                "type": "object",
                                "properties": {
                                    "selector": {"type": "string"},
                                    "attribute": {"type": "string"},
                                    "all": {"type": "boolean"},
                                    "html": {"type": "boolean"}
                                },
                                "required": ["selector"],
                                "additionalProperties": false
                            }
                        ]
                    },
                    "description": "name -> CSS selector, or name -> {selector, attribute \
                                    (values of that attribute instead of text), all (every \
                                    match, default true; false: the first or null), html \
                                    (inner HTML instead of text)}."
                },
                "include_links": {
                    "type": "boolean",
                    "description": "Return the page's links (default true)."
                },
                "max_links": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Most links returned (default 500)."
                },
                "max_matches": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Most values per selector (default 200)."
                },
                "timeout_ms": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Fetch timeout in ms (default 30000), never past the \
                                    invoke's own timeout."
                },
                "max_body_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Largest page fetched (default 10 MiB); bigger is an \
                                    execution error."
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "extract from HTML text",
                json!({
                    "html": "<html><head><title>Shop</title><meta name=\"description\" \
                             content=\"Things\"></head><body><h2>Tea</h2><h2>Cake</h2>\
                             <a href=\"/cart\">Cart</a></body></html>",
                    "base_url": "https://shop.example/",
                    "selectors": {"items": "h2", "first_link": {"selector": "a",
                                  "attribute": "href", "all": false}}
                }),
                json!({
                    "title": "Shop", "description": "Things",
                    "selectors": {"items": ["Tea", "Cake"], "first_link": "/cart"},
                    "links": [{"url": "https://shop.example/cart", "text": "Cart"}]
                }),
            ),
            Example::fails(
                "an invalid CSS selector",
                json!({"html": "<p>x</p>", "selectors": {"broken": "p[["}}),
                ErrorType::Validation,
            ),
            Example::fails(
                "only http and https URLs are fetched",
                json!({"url": "file:///etc/hosts"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

/// One named extraction.
struct Extract {
    name: String,
    selector: Selector,
    attribute: Option<String>,
    all: bool,
    html: bool,
}

fn extracts(p: &Params) -> Result<Vec<Extract>, ToolError> {
    let Some(map) = p.opt_object("selectors")? else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(map.len());
    for (name, spec) in map {
        let (text, attribute, all, html) = match spec {
            Value::String(s) => (s.as_str(), None, true, false),
            Value::Object(o) => (
                o.get("selector").and_then(Value::as_str).unwrap_or(""),
                o.get("attribute").and_then(Value::as_str).map(str::to_owned),
                o.get("all").and_then(Value::as_bool).unwrap_or(true),
                o.get("html").and_then(Value::as_bool).unwrap_or(false),
            ),
            _ => {
                return Err(ToolError::validation(format!(
                    "parameter \"selectors\": {name:?} must be a selector string or object"
                )));
            }
        };
        let selector = Selector::parse(text).map_err(|e| {
            ToolError::validation(format!(
                "parameter \"selectors\": {name:?} = {text:?} is not a valid CSS selector: {e}"
            ))
        })?;
        out.push(Extract { name: name.clone(), selector, attribute, all, html });
    }
    Ok(out)
}

/// An element's text with runs of whitespace collapsed.
fn text_of(el: ElementRef) -> String {
    el.text().flat_map(str::split_whitespace).collect::<Vec<_>>().join(" ")
}

/// One of the tool's own selectors (they all parse; None would only skip that part).
fn fixed(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let extracts = extracts(p)?;
    let (html_text, page_url, status) = match (p.opt_str("url")?, p.opt_str("html")?) {
        (Some(_), Some(_)) => {
            return Err(ToolError::validation(
                "parameters \"url\" and \"html\" exclude each other",
            ));
        }
        (None, None) => return Err(ToolError::validation("give \"url\" to fetch or \"html\"")),
        (Some(text), None) => {
            if p.has("base_url") {
                return Err(ToolError::validation(
                    "parameter \"base_url\" is for html; a fetched page's URL is its base",
                ));
            }
            let url = client::http_url("url", text)?;
            let max = client::max_body(p, client::DEFAULT_MAX_BODY)?;
            let timeout = client::timeout(p, cx, client::DEFAULT_TIMEOUT_MS)?;
            let fetched = Request::get(url, timeout, 5, Limit::Fail(max)).send(cx)?;
            let page = Url::parse(&fetched.url).ok();
            let body = String::from_utf8_lossy(&fetched.body).into_owned();
            (body, page, Some(fetched.status))
        }
        (None, Some(html)) => {
            if html.len() > MAX_HTML {
                return Err(ToolError::validation(format!(
                    "parameter \"html\" is larger than {MAX_HTML} bytes"
                )));
            }
            let base = match p.opt_str("base_url")? {
                Some(b) => Some(client::http_url("base_url", b)?),
                None => None,
            };
            (html.to_owned(), base, None)
        }
    };
    cx.check()?;
    let doc = Html::parse_document(&html_text);
    cx.check()?;

    // A <base href> changes where relative links point.
    let base = fixed("base[href]")
        .and_then(|s| doc.select(&s).next())
        .and_then(|el| el.attr("href"))
        .and_then(|href| match &page_url {
            Some(page) => page.join(href).ok(),
            None => Url::parse(href).ok(),
        })
        .or(page_url.clone());

    let title =
        fixed("title").and_then(|s| doc.select(&s).next()).map(text_of).filter(|t| !t.is_empty());
    let description = ["meta[name=description i]", "meta[property=\"og:description\"]"]
        .iter()
        .filter_map(|css| fixed(css))
        .find_map(|s| doc.select(&s).find_map(|el| el.attr("content")))
        .map(|d| d.trim().to_owned());

    let max_matches = usize::try_from(p.u64_or("max_matches", 200)?).unwrap_or(usize::MAX);
    let mut selected = Map::new();
    for ex in &extracts {
        cx.check()?;
        let values = doc
            .select(&ex.selector)
            .filter_map(|el| match (&ex.attribute, ex.html) {
                (Some(attr), _) => el.attr(attr).map(str::to_owned),
                (None, true) => Some(el.inner_html()),
                (None, false) => Some(text_of(el)),
            })
            .take(if ex.all { max_matches } else { 1 });
        let value = if ex.all {
            Value::Array(values.map(Value::String).collect())
        } else {
            values.map(Value::String).next().unwrap_or(Value::Null)
        };
        selected.insert(ex.name.clone(), value);
    }

    let mut out = json!({
        "url": page_url.as_ref().map(Url::as_str),
        "title": title,
        "description": description,
        "selectors": selected,
    });
    if let Some(status) = status {
        out["status"] = json!(status);
    }
    if p.bool_or("include_links", true)? {
        let max_links = usize::try_from(p.u64_or("max_links", 500)?).unwrap_or(usize::MAX);
        let (links, total) = links(&doc, base.as_ref(), max_links, cx)?;
        out["links_truncated"] = json!(total > links.len());
        out["links"] = Value::Array(links);
    }
    Ok(out)
}

/// Unique links of `a[href]` and `area[href]`, resolved against `base` when there is one
/// (without a base, relative links are returned as written). Also the count of unique links.
fn links(
    doc: &Html,
    base: Option<&Url>,
    max: usize,
    cx: &Context,
) -> Result<(Vec<Value>, usize), ToolError> {
    let Some(selector) = fixed("a[href], area[href]") else {
        return Ok((Vec::new(), 0));
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for el in doc.select(&selector) {
        cx.check()?;
        let Some(href) = el.attr("href").map(str::trim) else { continue };
        if href.is_empty() || href.to_ascii_lowercase().starts_with("javascript:") {
            continue;
        }
        let resolved = match base {
            Some(b) => match b.join(href) {
                Ok(u) => u.to_string(),
                Err(_) => continue,
            },
            None => Url::parse(href).map(|u| u.to_string()).unwrap_or_else(|_| href.to_owned()),
        };
        if !seen.insert(resolved.clone()) {
            continue;
        }
        if out.len() < max {
            out.push(json!({"url": resolved, "text": text_of(el)}));
        }
    }
    Ok((out, seen.len()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::testing::{Reply, serve};
    use crate::{ErrorType, Policy, Registry};

    const PAGE: &str = r##"<!doctype html><html><head>
        <title>  The   Page </title>
        <meta property="og:description" content="from og">
        <meta name="Description" content=" A page about things ">
        </head><body>
        <h1 class="t">Hello <b>there</b></h1>
        <ul><li data-id="1">One</li><li data-id="2">Two</li><li>Three</li></ul>
        <a href="/about">About</a> <a href="sub/page.html">Sub</a>
        <a href="https://other.org/x">Other</a> <a href="/about">About again</a>
        <a href="javascript:void(0)">JS</a> <a href="#top">Top</a>
        <div id="box"><p>inner <i>html</i></p></div>
        </body></html>"##;

    fn registry() -> Registry {
        Registry::with_tools(vec![super::tool()], Policy::new(std::env::temp_dir()))
    }

    #[test]
    fn fetches_a_page_and_extracts_everything() {
        let server = serve(|req, _| match req.path() {
            "/start" => Reply::redirect(302, "/dir/index.html"),
            _ => Reply::text(200, "text/html; charset=utf-8", PAGE),
        });
        let out = registry()
            .invoke(
                "web_scraper",
                json!({
                    "url": server.url("/start"),
                    "selectors": {
                        "heading": {"selector": "h1.t", "all": false},
                        "items": "li",
                        "ids": {"selector": "li", "attribute": "data-id"},
                        "box": {"selector": "#box", "html": true, "all": false},
                        "missing": {"selector": "table", "all": false},
                        "none": "table"
                    }
                }),
                None,
            )
            .unwrap();
        assert_eq!(out["status"], 200);
        assert_eq!(out["url"], server.url("/dir/index.html"));
        assert_eq!(out["title"], "The Page");
        assert_eq!(out["description"], "A page about things");
        let s = &out["selectors"];
        assert_eq!(s["heading"], "Hello there");
        assert_eq!(s["items"], json!(["One", "Two", "Three"]));
        assert_eq!(s["ids"], json!(["1", "2"]));
        assert_eq!(s["box"], "<p>inner <i>html</i></p>");
        assert_eq!(s["missing"], json!(null));
        assert_eq!(s["none"], json!([]));
        let links: Vec<&str> =
            out["links"].as_array().unwrap().iter().map(|l| l["url"].as_str().unwrap()).collect();
        assert_eq!(
            links,
            [
                server.url("/about"),
                server.url("/dir/sub/page.html"),
                "https://other.org/x".to_owned(),
                server.url("/dir/index.html#top"),
            ]
        );
        assert_eq!(out["links"][0]["text"], "About");
        assert_eq!(out["links_truncated"], false);
    }

    #[test]
    fn html_input_base_tags_and_limits() {
        let r = registry();
        let html = r#"<html><head><base href="https://cdn.example/assets/"></head><body>
            <a href="a.css">A</a><a href="b.css">B</a><a href="c.css">C</a>
            <p>1</p><p>2</p><p>3</p></body></html>"#;
        let out = r
            .invoke(
                "web_scraper",
                json!({"html": html, "selectors": {"p": "p"}, "max_links": 2, "max_matches": 2}),
                None,
            )
            .unwrap();
        assert_eq!(out["links"][0]["url"], "https://cdn.example/assets/a.css");
        assert_eq!(out["links"].as_array().unwrap().len(), 2);
        assert_eq!(out["links_truncated"], true);
        assert_eq!(out["selectors"]["p"], json!(["1", "2"]));
        assert_eq!(out["title"], json!(null));
        assert!(out.get("status").is_none());

        // No base at all: relative links stay as written.
        let out = r
            .invoke(
                "web_scraper",
                json!({"html": "<a href='x/y'>r</a>", "include_links": true}),
                None,
            )
            .unwrap();
        assert_eq!(out["links"][0]["url"], "x/y");
        let out = r
            .invoke(
                "web_scraper",
                json!({"html": "<a href='x'>r</a>", "include_links": false}),
                None,
            )
            .unwrap();
        assert!(out.get("links").is_none());
    }

    #[test]
    fn bad_selectors_and_inputs_are_validation_errors() {
        let r = registry();
        for (params, needle) in [
            (json!({"html": "<p>", "selectors": {"bad one": "div >"}}), "\"bad one\""),
            (json!({"html": "<p>", "selectors": {"x": {"attribute": "href"}}}), "/selectors/x"),
            (json!({}), "url"),
            (json!({"html": "<p>", "url": "http://x/"}), "exclude"),
            (json!({"url": "http://x/", "base_url": "http://y/"}), "base_url"),
            (json!({"html": "<p>", "base_url": "data:text/plain,x"}), "scheme"),
            (json!({"url": "javascript:alert(1)"}), "scheme"),
        ] {
            let e = r.invoke("web_scraper", params.clone(), None).unwrap_err();
            assert_eq!(e.error_type, ErrorType::Validation, "{params}: {e}");
            assert!(e.message.contains(needle), "{params}: {e}");
        }
    }

    #[test]
    fn fetch_failures_and_timeouts() {
        let server = serve(|req, _| match req.path() {
            "/big" => Reply::text(200, "text/html", &"<p>x</p>".repeat(1000)),
            "/gone" => Reply::text(404, "text/html", "<title>Not found</title>"),
            _ => Reply::Hang,
        });
        let r = registry();
        let e = r
            .invoke("web_scraper", json!({"url": server.url("/big"), "max_body_bytes": 100}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution);
        let out = r.invoke("web_scraper", json!({"url": server.url("/gone")}), None).unwrap();
        assert_eq!(out["status"], 404);
        assert_eq!(out["title"], "Not found");
        let e = r
            .invoke(
                "web_scraper",
                json!({"url": server.url("/hang")}),
                Some(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(server.wait_hung_up(1, Duration::from_secs(10)));
    }
}
