//! The public statistics page: totals and the last twelve months, read from the journal's
//! monthly aggregates (never from the journal itself), with a bar chart drawn in SVG.

use crate::pages::render;
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

/// Months shown.
const MONTHS: u32 = 12;
/// Height of the chart's drawing area, in SVG units.
const CHART_HEIGHT: i64 = 200;
/// Width of one month's slot.
const SLOT: i64 = 56;

const MONTH_NAMES: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

struct Row {
    label: String,
    short: String,
    month: journal::stats::Month,
}

struct Bar {
    x: i64,
    y: i64,
    height: i64,
    label_x: i64,
    short: String,
    title: String,
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    organisations: i64,
    aidants: i64,
    usagers: i64,
    active_mandates: i64,
    demarches: i64,
    rows: Vec<Row>,
    bars: Vec<Bar>,
    chart_width: i64,
    chart_height: i64,
    max: i64,
}

/// "2026-03" → ("mars 2026", "03/26").
fn month_labels(month: &str) -> (String, String) {
    let (year, number) = month.split_once('-').unwrap_or((month, "01"));
    let index = number.parse::<usize>().unwrap_or(1).clamp(1, 12);
    (
        format!("{} {year}", MONTH_NAMES[index - 1]),
        format!("{number}/{}", year.get(2..).unwrap_or(year)),
    )
}

/// Thousands separated by a narrow no-break space, as French typography does.
pub(crate) fn french_number(n: impl std::borrow::Borrow<i64>) -> String {
    let n = *n.borrow();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn bars(rows: &[Row]) -> (Vec<Bar>, i64) {
    let max = rows.iter().map(|r| r.month.demarches).max().unwrap_or(0);
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let height = if max > 0 {
                r.month.demarches * CHART_HEIGHT / max
            } else {
                0
            };
            let x = i as i64 * SLOT + 8;
            Bar {
                x,
                y: CHART_HEIGHT - height,
                height,
                label_x: x + (SLOT - 16) / 2,
                short: r.short.clone(),
                title: format!(
                    "{} : {} démarche(s)",
                    r.label,
                    french_number(r.month.demarches)
                ),
            }
        })
        .collect();
    (bars, max)
}

/// GET /statistiques
pub(crate) async fn page(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let now = state.clock.now();
    let page = with_db(&state, move |conn, _| {
        let (organisations, aidants) = accounts::totals(conn)?;
        let (usagers, active_mandates) = mandate::totals(conn, now)?;
        let demarches = journal::stats::demarches_total(conn)?;
        let rows: Vec<Row> = journal::stats::monthly(conn, now, MONTHS)?
            .into_iter()
            .map(|month| {
                let (label, short) = month_labels(&month.month);
                Row {
                    label,
                    short,
                    month,
                }
            })
            .collect();
        let (bars, max) = bars(&rows);
        Ok(StatsPage {
            organisations,
            aidants,
            usagers,
            active_mandates,
            demarches,
            chart_width: rows.len() as i64 * SLOT + 16,
            chart_height: CHART_HEIGHT,
            rows,
            bars,
            max,
        })
    })
    .await?;
    render(StatusCode::OK, &page, None, state.secure_cookies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_months_read_the_french_way() {
        assert_eq!(french_number(232_000), "232\u{202f}000");
        assert_eq!(french_number(7), "7");
        assert_eq!(french_number(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(
            month_labels("2026-03"),
            ("mars 2026".to_owned(), "03/26".to_owned())
        );
    }
}
