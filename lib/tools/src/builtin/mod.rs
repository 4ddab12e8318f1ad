//! The built-in tools, one module per family; each module's `tools()` lists its tools.
//!
//! - `text`: calculator, text_manipulator, uuid_generator, hash_calculator, base64_encoder,
//!   text_stats, regex_matcher, random_generator
//! - `data`: template_engine, json_processor, data_validation, diff_calculator, csv_analyzer,
//!   date_time_handler, graph_builder
//! - `files`: file_operations, file_search, file_converter, archive_handler, sqlite_query,
//!   image_processor
//! - `net`: service_checker, http_request, url_analyzer, web_scraper, sitemap_crawler,
//!   webhook_caller
//! - `system`: environment_reader, process_executor, system_monitor

mod data;
mod files;
mod net;
mod system;
mod text;

use crate::spec::ToolDef;

/// Every built-in tool.
pub(crate) fn all() -> Vec<ToolDef> {
    [text::tools(), data::tools(), files::tools(), net::tools(), system::tools()].concat()
}
