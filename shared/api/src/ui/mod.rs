//! The status page at `/`: plain server-rendered HTML (no build step, nothing to ship
//! beside the binary), one per daemon role. The collector shows what it takes in and how
//! much the rollups cut; the master shows where its data comes from, what it costs on
//! disk, and draws queries. Every figure carries an `id` so tests (and scripts) can read
//! it off the DOM.

mod collector;
mod master;
mod widgets;

use crate::{ApiState, query_values};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use maud::Markup;
use std::sync::Arc;

/// Which page a daemon serves at `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusPage {
    Collector,
    Master,
}

impl StatusPage {
    fn name(self) -> &'static str {
        match self {
            StatusPage::Collector => "collector",
            StatusPage::Master => "master",
        }
    }
}

pub async fn handler(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Result<Markup, StatusCode> {
    let expr = query_values(q.as_deref(), "expr").pop().unwrap_or_default();
    // Counting series by name walks the whole head: off the async workers.
    tokio::task::spawn_blocking(move || render(&st, &expr)).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

fn render(st: &ApiState, expr: &str) -> Markup {
    let sections = match st.status_page {
        StatusPage::Collector => collector::sections(st),
        StatusPage::Master => master::sections(st, expr),
    };
    widgets::layout(st, st.status_page.name(), sections)
}
