//! Network tools: HTTP requests, webhooks, health checks, URL analysis, scraping and sitemaps.
//! Every request is blocking (`ureq`) and bounded by the invoke's remaining time, so a timeout
//! really closes the connection; only `http` and `https` URLs are accepted.

mod client;
mod http_request;
mod service_checker;
mod sitemap_crawler;
mod url_analyzer;
mod web_scraper;
mod webhook_caller;

#[cfg(test)]
mod testing;

use crate::spec::ToolDef;

/// The tools of this module.
pub(crate) fn tools() -> Vec<ToolDef> {
    vec![
        http_request::tool(),
        webhook_caller::tool(),
        service_checker::tool(),
        url_analyzer::tool(),
        web_scraper::tool(),
        sitemap_crawler::tool(),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Policy, Registry};

    #[test]
    fn every_example_passes_offline() {
        let r = Registry::with_tools(tools(), Policy::new(std::env::temp_dir()));
        let outcomes = r.test(&[]).unwrap();
        assert!(outcomes.len() >= 12, "{outcomes:?}");
        let failed: Vec<_> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        for def in tools() {
            assert_eq!(def.category, "network");
            assert!(def.examples.len() >= 2, "{}", def.name);
            assert!(
                def.examples.iter().any(|e| matches!(e.expect, crate::Expect::Error(_))),
                "{} has no failure example",
                def.name
            );
            assert_eq!(def.schema["additionalProperties"], json!(false), "{}", def.name);
        }
    }
}
