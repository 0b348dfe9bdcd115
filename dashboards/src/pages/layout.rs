//! The page shell (header, menu of the pages the role may see, main landmark), the
//! style sheet, and error pages. Everything is rendered by maud, which escapes every
//! interpolated value: text a user typed is shown, never run.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use careflow_store::users::User;

use super::PAGES;

/// The one style sheet, served by careflow (`/static/careflow.css`): no CDN, no fonts
/// fetched, readable on an old hospital PC, focus always visible for keyboard users.
pub(crate) const CSS: &str = r#"
:root{--ink:#1b1f24;--muted:#57606a;--line:#d0d7de;--accent:#0b5cad;--ok:#1a7f37;--bad:#b3261e;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Arial,sans-serif;color:var(--ink);background:#fff}
header{background:var(--accent);color:#fff;padding:.5rem 1rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
header a{color:#fff}
header .who{margin-left:auto}
nav ul{list-style:none;margin:0;padding:0;display:flex;gap:1rem}
main{padding:1rem;max-width:72rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:var(--bg);overflow-wrap:normal}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f0b400;outline-offset:2px}
form.inline{display:inline}
label{display:block;margin:.5rem 0 .2rem;font-weight:600}
input[type=text],input[type=password],input[type=date],textarea{width:100%;max-width:32rem;padding:.4rem;font:inherit;border:1px solid var(--muted);border-radius:3px}
button{font:inherit;padding:.4rem .9rem;border-radius:3px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
button.secondary{background:#fff;color:var(--accent)}
button.reject{background:var(--bad);border-color:var(--bad)}
.notice{padding:.6rem .8rem;border-left:4px solid var(--accent);background:var(--bg);margin:.8rem 0}
.notice.error{border-color:var(--bad)}
.notice.ok{border-color:var(--ok)}
.meaning{border:2px solid var(--ink);padding:.6rem .8rem;margin:.8rem 0;max-width:40rem}
.kpis{display:flex;flex-wrap:wrap;gap:.6rem;padding:0;list-style:none}
.kpis li{border:1px solid var(--line);padding:.4rem .7rem;border-radius:3px}
.kpis b{display:block;font-size:1.2rem}
.muted{color:var(--muted)}
.skip{position:absolute;left:-999px}
.skip:focus{left:.5rem;top:.5rem;background:#fff;color:var(--ink);padding:.3rem}
svg text{font:12px system-ui,Arial,sans-serif;fill:var(--ink)}
td.short,output.short{color:var(--bad);font-weight:600}
td.changed{background:#fff8c5}
table.grid td{text-align:center}
fieldset{border:1px solid var(--line);margin:.5rem 0;max-width:40rem}
fieldset label{font-weight:400}
select{font:inherit;padding:.3rem}
blockquote{border-left:4px solid var(--line);margin:.5rem 0;padding:.3rem .8rem;white-space:pre-wrap}
"#;

/// `GET /static/careflow.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · careflow" }
        link rel="stylesheet" href="/static/careflow.css";
    }
}

/// A page for a signed-in user: the menu lists only the pages their role may open;
/// the logout form carries the session's CSRF token.
pub(crate) fn page(user: &User, csrf: &str, title: &str, body: Markup) -> Markup {
    html! {
        (head(title))
        body {
            a.skip href="#main" { "Skip to content" }
            header {
                strong { "careflow" }
                nav aria-label="Pages" {
                    ul {
                        @for (path, label, roles) in PAGES {
                            @if roles.contains(&user.role) {
                                li { a href=(path) { (label) } }
                            }
                        }
                    }
                }
                span.who {
                    (user.name) " (" (user.role) ") "
                    form.inline method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(csrf);
                        button.secondary type="submit" { "Log out" }
                    }
                }
            }
            main #main { h1 { (title) } (body) }
        }
    }
}

/// A page without a session (the login page).
pub(crate) fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (head(title))
        body {
            header { strong { "careflow" } }
            main #main { h1 { (title) } (body) }
        }
    }
}

/// An HTML response with `status` and the markup, never cached (pages show live data
/// and who is signed in).
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// An error page with `status` saying `message` (escaped).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    respond(
        status,
        bare_page(
            title,
            html! {
                p.notice.error role="alert" { (message) }
                p { a href="/" { "Back to careflow" } }
            },
        ),
    )
}

/// A number with `digits` decimals.
pub(crate) fn num(v: f64, digits: usize) -> String {
    format!("{v:.digits$}")
}
