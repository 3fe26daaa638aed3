//! The frame of every page (navigation, stylesheet) and the stylesheet itself.

use axum::{
    http::header,
    response::{Html, IntoResponse},
};
use maud::{DOCTYPE, Markup, html};

/// Which section of the navigation a page belongs to (`None`: no navigation, as on the sign-in page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Bots,
    NewBot,
    Resources,
}

/// A whole page: `title`, the navigation (marking `section`), and `body`.
pub fn page(title: &str, section: Option<Section>, body: Markup) -> Html<String> {
    let link = |href: &str, label: &str, this: Section| {
        html! {
            @if section == Some(this) {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    };
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · botfleet" }
                    link rel="stylesheet" href="/ui/assets/app.css";
                }
                body {
                    a class="skip" href="#main" { "Skip to the content" }
                    @if section.is_some() {
                        header class="top" {
                            a class="brand" href="/ui" { "botfleet" }
                            nav aria-label="Main" {
                                (link("/ui", "Overview", Section::Overview))
                                (link("/ui/bots", "Bots", Section::Bots))
                                (link("/ui/bots/new", "New bot", Section::NewBot))
                                (link("/ui/resources", "Resources", Section::Resources))
                                a href="/docs/" { "API docs" }
                            }
                            form method="post" action="/ui/logout" class="signout" {
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                    main id="main" tabindex="-1" { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// `GET /ui/assets/app.css`.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
}

const CSS: &str = r#"
:root { --fg:#1c2430; --muted:#5b6675; --bg:#f6f7f9; --card:#fff; --line:#d9dee5; --accent:#1f5fbf;
  --ok:#1b7f3b; --bad:#b3261e; --warn:#9a6700; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:var(--bg); line-height:1.45; }
a { color:var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible
  { outline:3px solid #ffbf47; outline-offset:2px; }
header.top { display:flex; flex-wrap:wrap; gap:.5rem 1.5rem; align-items:center; padding:.6rem 1.2rem;
  background:#14213d; color:#fff; }
header.top a { color:#fff; text-decoration:none; padding:.2rem .1rem; }
header.top a[aria-current=page] { border-bottom:2px solid #ffbf47; }
header.top .brand { font-weight:700; font-size:1.1rem; }
header.top nav { display:flex; flex-wrap:wrap; gap:1rem; flex:1; }
header.top .signout button { background:transparent; color:#fff; border:1px solid #fff; }
main { max-width:1240px; margin:0 auto; padding:1rem 1.2rem 3rem; }
h1 { font-size:1.5rem; margin:.4rem 0 1rem; }
h2 { font-size:1.15rem; margin:1.5rem 0 .6rem; }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(190px, 1fr)); gap:.8rem; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.8rem 1rem; }
.card .label { color:var(--muted); font-size:.85rem; }
.card .value { font-size:1.6rem; font-weight:600; }
.ok { color:var(--ok); } .bad { color:var(--bad); } .warn { color:var(--warn); }
.error { color:var(--bad); font-weight:600; }
.table-wrap { position:relative; overflow-x:auto; background:var(--card); border:1px solid var(--line); border-radius:8px; }
table { border-collapse:collapse; width:100%; font-size:.92rem; }
th, td { text-align:left; padding:.45rem .6rem; border-bottom:1px solid var(--line); white-space:nowrap; }
th a { color:inherit; }
form.filters { display:flex; flex-wrap:wrap; gap:.6rem; align-items:flex-end; margin-bottom:.8rem; }
label { display:block; font-size:.88rem; color:var(--muted); }
input, select, textarea { font:inherit; padding:.35rem .5rem; border:1px solid #9aa4b2; border-radius:5px;
  background:#fff; color:var(--fg); }
textarea { width:100%; min-height:5rem; }
button, .button { font:inherit; padding:.38rem .9rem; border-radius:5px; border:1px solid var(--accent);
  background:var(--accent); color:#fff; cursor:pointer; text-decoration:none; display:inline-block; }
button.secondary { background:#fff; color:var(--accent); }
.field { margin-bottom:.8rem; max-width:34rem; }
.field input, .field select { width:100%; }
.field input[type=checkbox] { width:auto; }
.field .hint { color:var(--muted); font-size:.82rem; }
.field .error { font-size:.88rem; }
.actions { display:flex; flex-wrap:wrap; gap:.5rem; margin:.6rem 0; }
.pager { display:flex; gap:1rem; align-items:center; margin-top:.6rem; }
.badge { display:inline-block; padding:.05rem .45rem; border-radius:999px; font-size:.8rem;
  border:1px solid currentColor; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:.3rem 1rem; margin:0; }
dl.facts dt { color:var(--muted); }
.key { font-family:ui-monospace, monospace; background:#fff8e1; border:1px solid #e0c060; padding:.5rem;
  border-radius:5px; word-break:break-all; }
.activity { list-style:none; padding:0; margin:0; background:var(--card); border:1px solid var(--line);
  border-radius:8px; }
.activity li { padding:.45rem .8rem; border-bottom:1px solid var(--line); }
.activity time { color:var(--muted); font-size:.85rem; margin-right:.6rem; }
a.skip { position:absolute; left:.5rem; top:-3rem; background:#fff; color:var(--accent); padding:.4rem .8rem;
  border-radius:5px; z-index:10; }
a.skip:focus { top:.5rem; }
.visually-hidden { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0);
  white-space:nowrap; }
pre.log { background:#0f1720; color:#d7e0ea; padding:.7rem; border-radius:8px; max-height:22rem;
  overflow:auto; font-size:.82rem; white-space:pre-wrap; word-break:break-all; min-height:4rem; }
.login { max-width:24rem; margin:3rem auto; background:var(--card); border:1px solid var(--line);
  border-radius:8px; padding:1.2rem 1.4rem; }
nav.sections { display:flex; flex-wrap:wrap; gap:.4rem 1rem; margin:-.4rem 0 .8rem; font-size:.92rem; }
h3 { font-size:1rem; margin:1.1rem 0 .5rem; }
fieldset { border:1px solid var(--line); border-radius:8px; margin:0 0 .9rem; padding:.6rem 1rem .2rem;
  max-width:36rem; background:var(--card); }
legend { font-weight:600; padding:0 .3rem; }
label.check { display:inline-flex; gap:.35rem; align-items:center; color:var(--fg); font-size:.92rem; }
.checks { display:grid; grid-template-columns:repeat(auto-fill, minmax(13rem, 1fr)); gap:.2rem .8rem;
  margin-bottom:.6rem; }
.field textarea { min-height:3.2rem; }
pre.qr { font-family:ui-monospace, monospace; line-height:1; background:#fff; display:inline-block; padding:.6rem; }
@media (max-width: 640px) { main { padding:.8rem; } .card .value { font-size:1.3rem; } }
/* Resources (/ui/resources) */
.charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(min(100%, 430px), 1fr)); gap:.8rem; }
.charts figure { margin:0; background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:.5rem .6rem; }
.charts figcaption { color:var(--muted); font-size:.85rem; }
svg.chart { display:block; width:100%; height:auto; }
svg.chart text { font-size:13px; fill:var(--muted); }
svg.chart .axis-title { fill:var(--fg); }
svg.chart .empty { font-size:15px; }
svg.chart .grid line { stroke:#e6e9ee; }
svg.chart .axis { stroke:#8a94a3; }
svg.chart path.series { fill:none; stroke-width:2; stroke-linejoin:round; stroke-linecap:round; }
svg.swatch { width:28px; height:10px; vertical-align:middle; }
nav.windows { display:flex; flex-wrap:wrap; gap:.4rem; align-items:center; margin-bottom:.6rem; }
nav.windows .label { color:var(--muted); font-size:.88rem; }
nav.windows a { padding:.2rem .75rem; border:1px solid var(--accent); border-radius:999px; text-decoration:none; }
nav.windows a[aria-current] { background:var(--accent); color:#fff; }
#bots-legend caption { text-align:left; padding:.45rem .6rem; color:var(--muted); }
.form-grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(min(100%, 250px), 1fr)); gap:0 1rem; }
td.wrap { white-space:normal; min-width:14rem; }
p.hint { color:var(--muted); font-size:.88rem; }
code.small { font-size:.78rem; color:var(--muted); }
select:disabled { background:#eef0f3; color:var(--muted); }
@media (max-width: 640px) { svg.chart text { font-size:19px; }
  #host-now.cards { grid-template-columns:repeat(auto-fill, minmax(150px, 1fr)); }
  header.top nav { order:3; flex-basis:100%; } header.top .signout { margin-left:auto; } }
"#;
