//! sitemap_crawler: read a sitemap.xml or sitemap index (fetched or given as text), follow
//! nested sitemaps on the same host, and list the URLs with lastmod, changefreq and priority.

use std::collections::{HashSet, VecDeque};

use serde_json::{Value, json};
use url::Url;

use super::client::{self, Limit, Request};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// The sitemap protocol's own cap on an uncompressed sitemap.
const DEFAULT_MAX_BODY: u64 = 50 * 1024 * 1024;
const MAX_URLS_CAP: u64 = 200_000;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "sitemap_crawler",
        category: "network",
        description: "Crawls a sitemap: fetches sitemap.xml from a URL (or reads xml text), \
                      follows sitemap index files to nested sitemaps on the same host, and \
                      lists the page URLs with lastmod, changefreq and priority.",
        schema: json!({
            "type": "object",
            "properties": {
                "url": {
                    "type": "string",
                    "description": "Absolute http(s) URL of the sitemap or sitemap index."
                },
                "xml": {
                    "type": "string",
                    "description": "Sitemap XML text instead of fetching; nested sitemaps are \
                                    fetched only when url is also given (as its address)."
                },
                "max_urls": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_URLS_CAP,
                    "description": "Most page URLs returned (default 1000)."
                },
                "max_sitemaps": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1000,
                    "description": "Most sitemap documents read, the first included \
                                    (default 20)."
                },
                "follow_nested": {
                    "type": "boolean",
                    "description": "Fetch the sitemaps a sitemap index lists (default true)."
                },
                "same_host": {
                    "type": "boolean",
                    "description": "Only follow nested sitemaps on the first sitemap's host \
                                    (default true)."
                },
                "timeout_ms": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Timeout of each fetch in ms (default 30000), never past \
                                    the invoke's own timeout."
                },
                "max_body_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Largest sitemap document (default 50 MiB); bigger is an \
                                    execution error for the first and a recorded error for \
                                    nested ones."
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "list the URLs of a sitemap given as text",
                json!({"xml": "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                               <url><loc>https://example.com/</loc><lastmod>2024-05-01</lastmod>\
                               <changefreq>daily</changefreq><priority>0.8</priority></url>\
                               <url><loc>https://example.com/about</loc></url></urlset>"}),
                json!({
                    "count": 2,
                    "urls": [
                        {"loc": "https://example.com/", "lastmod": "2024-05-01",
                         "changefreq": "daily", "priority": 0.8},
                        {"loc": "https://example.com/about"}
                    ],
                    "truncated": false
                }),
            ),
            Example::new(
                "a sitemap index given as text lists its sitemaps (no url: nothing fetched)",
                json!({"xml": "<sitemapindex><sitemap><loc>https://example.com/s1.xml</loc>\
                               </sitemap></sitemapindex>"}),
                json!({"count": 0, "sitemaps": [
                    {"url": "(xml)", "kind": "sitemapindex"},
                    {"url": "https://example.com/s1.xml", "skipped": "no url given to fetch from"}
                ]}),
            ),
            Example::fails(
                "text that is not XML",
                json!({"xml": "<urlset><url>"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

/// What one sitemap document held.
enum Parsed {
    Urls(Vec<Value>),
    Index(Vec<String>),
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Parses a sitemap (`urlset`) or sitemap index; errors are plain text.
fn parse(xml: &str, max_urls: usize) -> Result<Parsed, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not valid XML: {e}"))?;
    let root = doc.root_element();
    match root.tag_name().name() {
        "urlset" => {
            let mut urls = Vec::new();
            for node in root.children().filter(|n| n.is_element() && n.tag_name().name() == "url") {
                if urls.len() >= max_urls {
                    break;
                }
                let Some(loc) = child_text(node, "loc") else { continue };
                let mut entry = json!({"loc": loc});
                if let Some(v) = child_text(node, "lastmod") {
                    entry["lastmod"] = json!(v);
                }
                if let Some(v) = child_text(node, "changefreq") {
                    entry["changefreq"] = json!(v);
                }
                if let Some(v) = child_text(node, "priority") {
                    entry["priority"] = v.parse::<f64>().map(|f| json!(f)).unwrap_or(json!(v));
                }
                urls.push(entry);
            }
            Ok(Parsed::Urls(urls))
        }
        "sitemapindex" => Ok(Parsed::Index(
            root.children()
                .filter(|n| n.is_element() && n.tag_name().name() == "sitemap")
                .filter_map(|n| child_text(n, "loc"))
                .map(str::to_owned)
                .collect(),
        )),
        other => Err(format!(
            "not a sitemap: the root element is <{other}>, not <urlset> or \
                              <sitemapindex>"
        )),
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let max_urls = usize::try_from(p.u64_or("max_urls", 1000)?.min(MAX_URLS_CAP)).unwrap_or(1000);
    let max_sitemaps = usize::try_from(p.u64_or("max_sitemaps", 20)?).unwrap_or(20);
    let follow = p.bool_or("follow_nested", true)?;
    let same_host = p.bool_or("same_host", true)?;
    let max_body = client::max_body(p, DEFAULT_MAX_BODY)?;
    let root_url = match p.opt_str("url")? {
        Some(text) => Some(client::http_url("url", text)?),
        None => None,
    };
    let inline = p.opt_str("xml")?;
    let fetch = |url: &Url| -> Result<(u16, String), ToolError> {
        cx.check()?;
        let timeout = client::timeout(p, cx, client::DEFAULT_TIMEOUT_MS)?;
        let fetched = Request::get(url.clone(), timeout, 5, Limit::Fail(max_body)).send(cx)?;
        Ok((fetched.status, String::from_utf8_lossy(&fetched.body).into_owned()))
    };

    // The first document: its failures are the call's failures.
    let (first_text, first_label) = match (inline, &root_url) {
        (Some(xml), _) => (xml.to_owned(), "(xml)".to_owned()),
        (None, Some(url)) => {
            let (status, body) = fetch(url)?;
            if !(200..300).contains(&status) {
                return Err(ToolError::execution(format!("{url}: HTTP status {status}")));
            }
            (body, url.to_string())
        }
        (None, None) => return Err(ToolError::validation("give \"url\" to fetch or \"xml\"")),
    };
    let first = parse(&first_text, max_urls).map_err(|why| {
        let what = if inline.is_some() { "parameter \"xml\"" } else { first_label.as_str() };
        if inline.is_some() {
            ToolError::validation(format!("{what}: {why}"))
        } else {
            ToolError::execution(format!("{what}: {why}"))
        }
    })?;

    let mut urls: Vec<Value> = Vec::new();
    let mut sitemaps: Vec<Value> = Vec::new();
    let mut truncated = false;
    let mut queue: VecDeque<(String, Parsed)> = VecDeque::from([(first_label, first)]);
    let mut seen: HashSet<String> = root_url.iter().map(|u| u.to_string()).collect();
    let mut documents = 1;
    while let Some((label, parsed)) = queue.pop_front() {
        cx.check()?;
        match parsed {
            Parsed::Urls(found) => {
                let n = found.len();
                sitemaps.push(json!({"url": label, "kind": "urlset", "urls": n}));
                for entry in found {
                    if urls.len() >= max_urls {
                        truncated = true;
                        break;
                    }
                    urls.push(entry);
                }
            }
            Parsed::Index(children) => {
                let n = children.len();
                sitemaps.push(json!({"url": label, "kind": "sitemapindex", "sitemaps": n}));
                for child in children {
                    cx.check()?;
                    let mut record = json!({"url": child});
                    let skip = if !follow {
                        Some("follow_nested is false".to_owned())
                    } else if root_url.is_none() {
                        Some("no url given to fetch from".to_owned())
                    } else {
                        None
                    };
                    if let Some(why) = skip {
                        record["skipped"] = json!(why);
                        sitemaps.push(record);
                        continue;
                    }
                    let resolved = root_url
                        .as_ref()
                        .and_then(|base| base.join(&child).ok())
                        .filter(|u| matches!(u.scheme(), "http" | "https"));
                    let Some(url) = resolved else {
                        record["error"] = json!("not an http(s) URL");
                        sitemaps.push(record);
                        continue;
                    };
                    if !seen.insert(url.to_string()) {
                        continue;
                    }
                    if same_host && url.host_str() != root_url.as_ref().and_then(|u| u.host_str()) {
                        record["skipped"] = json!("another host (same_host is true)");
                        sitemaps.push(record);
                        continue;
                    }
                    if documents >= max_sitemaps {
                        record["skipped"] = json!("max_sitemaps reached");
                        truncated = true;
                        sitemaps.push(record);
                        continue;
                    }
                    if urls.len() >= max_urls {
                        truncated = true;
                        break;
                    }
                    documents += 1;
                    match fetch(&url) {
                        Ok((status, body)) if (200..300).contains(&status) => {
                            match parse(&body, max_urls - urls.len()) {
                                Ok(parsed) => queue.push_back((url.to_string(), parsed)),
                                Err(why) => {
                                    record["error"] = json!(why);
                                    sitemaps.push(record);
                                }
                            }
                        }
                        Ok((status, _)) => {
                            record["error"] = json!(format!("HTTP status {status}"));
                            sitemaps.push(record);
                        }
                        Err(e) if e.error_type == ErrorType::Timeout => return Err(e),
                        Err(e) => {
                            record["error"] = json!(e.message);
                            sitemaps.push(record);
                        }
                    }
                }
            }
        }
    }
    Ok(json!({
        "count": urls.len(),
        "urls": urls,
        "sitemaps": sitemaps,
        "truncated": truncated,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::testing::{Reply, serve};
    use crate::{ErrorType, Policy, Registry};

    fn registry() -> Registry {
        Registry::with_tools(vec![super::tool()], Policy::new(std::env::temp_dir()))
    }

    fn urlset(locs: &[&str]) -> String {
        let items: String = locs
            .iter()
            .map(|l| format!("<url><loc>{l}</loc><priority>0.5</priority></url>"))
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">{items}</urlset>"
        )
    }

    #[test]
    fn follows_an_index_to_nested_sitemaps_on_the_same_host() {
        let server = serve(|req, addr| {
            let base = format!("http://{addr}");
            match req.path() {
                "/sitemap.xml" => Reply::text(
                    200,
                    "application/xml",
                    &format!(
                        "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                         <sitemap><loc>{base}/a.xml</loc><lastmod>2024-01-01</lastmod></sitemap>\
                         <sitemap><loc>/b.xml</loc></sitemap>\
                         <sitemap><loc>{base}/missing.xml</loc></sitemap>\
                         <sitemap><loc>{base}/broken.xml</loc></sitemap>\
                         <sitemap><loc>https://elsewhere.example/c.xml</loc></sitemap>\
                         <sitemap><loc>{base}/a.xml</loc></sitemap>\
                         </sitemapindex>"
                    ),
                ),
                "/a.xml" => Reply::text(200, "application/xml", &urlset(&["/p1", "/p2"])),
                "/b.xml" => Reply::text(200, "text/xml", &urlset(&["/p3"])),
                "/broken.xml" => Reply::text(200, "text/xml", "<html>no</html>"),
                _ => Reply::text(404, "text/plain", "no"),
            }
        });
        let out = registry()
            .invoke("sitemap_crawler", json!({"url": server.url("/sitemap.xml")}), None)
            .unwrap();
        assert_eq!(out["count"], 3, "{out:#}");
        let locs: Vec<&str> =
            out["urls"].as_array().unwrap().iter().map(|u| u["loc"].as_str().unwrap()).collect();
        assert_eq!(locs, ["/p1", "/p2", "/p3"]);
        assert_eq!(out["urls"][0]["priority"], 0.5);
        let sitemaps = out["sitemaps"].as_array().unwrap();
        let find = |suffix: &str| {
            sitemaps.iter().find(|s| s["url"].as_str().unwrap().ends_with(suffix)).unwrap()
        };
        assert_eq!(find("/sitemap.xml")["kind"], "sitemapindex");
        assert_eq!(find("/a.xml")["urls"], 2);
        assert_eq!(find("/b.xml")["urls"], 1);
        assert_eq!(find("/missing.xml")["error"], "HTTP status 404");
        assert!(find("/broken.xml")["error"].as_str().unwrap().contains("<html>"));
        assert!(find("/c.xml")["skipped"].as_str().unwrap().contains("another host"));
        assert_eq!(out["truncated"], false);
        // a.xml was listed twice and fetched once.
        let fetched_a = server.requests().iter().filter(|r| r.path() == "/a.xml").count();
        assert_eq!(fetched_a, 1);
    }

    #[test]
    fn max_urls_max_sitemaps_and_follow_nested() {
        let server = serve(|req, addr| match req.path() {
            "/index.xml" => Reply::text(
                200,
                "text/xml",
                &format!(
                    "<sitemapindex><sitemap><loc>http://{addr}/1.xml</loc></sitemap>\
                     <sitemap><loc>http://{addr}/2.xml</loc></sitemap></sitemapindex>"
                ),
            ),
            _ => Reply::text(200, "text/xml", &urlset(&["/a", "/b", "/c"])),
        });
        let r = registry();
        let out = r
            .invoke(
                "sitemap_crawler",
                json!({"url": server.url("/index.xml"), "max_urls": 4}),
                None,
            )
            .unwrap();
        assert_eq!(out["count"], 4);
        assert_eq!(out["truncated"], true);
        let out = r
            .invoke(
                "sitemap_crawler",
                json!({"url": server.url("/index.xml"), "max_sitemaps": 2}),
                None,
            )
            .unwrap();
        assert_eq!(out["count"], 3);
        assert_eq!(out["truncated"], true);
        assert_eq!(out["sitemaps"][1]["skipped"], "max_sitemaps reached");
        let before = server.requests().len();
        let out = r
            .invoke(
                "sitemap_crawler",
                json!({"url": server.url("/index.xml"), "follow_nested": false}),
                None,
            )
            .unwrap();
        assert_eq!(out["count"], 0);
        assert_eq!(server.requests().len(), before + 1);
        // xml given with url: the url is where nested sitemaps are looked up.
        let out = r
            .invoke(
                "sitemap_crawler",
                json!({"url": server.url("/"), "xml": "<sitemapindex><sitemap><loc>/9.xml</loc>\
                        </sitemap></sitemapindex>"}),
                None,
            )
            .unwrap();
        assert_eq!(out["count"], 3);
        assert!(server.requests().iter().any(|r| r.path() == "/9.xml"));
    }

    #[test]
    fn failures_of_the_first_sitemap() {
        let server = serve(|req, _| match req.path() {
            "/gone.xml" => Reply::text(404, "text/plain", "no"),
            "/page.xml" => Reply::text(200, "text/html", "<html><body/></html>"),
            "/big.xml" => Reply::text(200, "text/xml", &urlset(&["/x"; 100])),
            _ => Reply::Hang,
        });
        let r = registry();
        let e =
            r.invoke("sitemap_crawler", json!({"url": server.url("/gone.xml")}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution);
        assert!(e.message.contains("404"), "{e}");
        let e =
            r.invoke("sitemap_crawler", json!({"url": server.url("/page.xml")}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution);
        assert!(e.message.contains("not a sitemap"), "{e}");
        let e = r
            .invoke(
                "sitemap_crawler",
                json!({"url": server.url("/big.xml"), "max_body_bytes": 500}),
                None,
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution);
        let e = r
            .invoke(
                "sitemap_crawler",
                json!({"url": server.url("/hang.xml")}),
                Some(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(server.wait_hung_up(1, Duration::from_secs(10)));
        for (params, needle) in [
            (json!({}), "url"),
            (json!({"xml": "plain text"}), "not valid XML"),
            (json!({"xml": "<feed/>"}), "<feed>"),
            (json!({"url": "ftp://x/s.xml"}), "scheme"),
            (json!({"xml": "<urlset/>", "max_urls": 0}), "/max_urls"),
        ] {
            let e = r.invoke("sitemap_crawler", params.clone(), None).unwrap_err();
            assert_eq!(e.error_type, ErrorType::Validation, "{params}: {e}");
            assert!(e.message.contains(needle), "{params}: {e}");
        }
    }

    #[test]
    fn a_slow_nested_sitemap_is_stopped_by_the_deadline() {
        let server = serve(|req, addr| match req.path() {
            "/index.xml" => Reply::text(
                200,
                "text/xml",
                &format!(
                    "<sitemapindex><sitemap><loc>http://{addr}/slow.xml</loc></sitemap>\
                          </sitemapindex>"
                ),
            ),
            _ => Reply::Hang,
        });
        let e = registry()
            .invoke(
                "sitemap_crawler",
                json!({"url": server.url("/index.xml")}),
                Some(Duration::from_millis(1000)),
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(server.wait_hung_up(1, Duration::from_secs(10)));
    }
}
