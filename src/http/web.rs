//! The web player: the pages and assets of `web/`, embedded in the binary so it runs from
//! any directory. `GET /` lists the feeds, `GET /watch/{feed}` plays one, `GET /static/...`
//! serves their CSS, JS and the vendored hls.js. Pages are revalidated on every load
//! (`no-cache` + ETag); assets are cached for a while and revalidated by ETag after.

use super::App;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
#[include = "*.html"]
#[include = "*.css"]
#[include = "*.js"]
#[include = "*.svg"]
#[include = "vendor/*"]
#[exclude = "*.ts"]
struct Assets;

const PAGE_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "public, max-age=600";
/// Pages load only what hlsd serves; hls.js needs `blob:` for its worker and MSE.
const PAGE_CSP: &str = "default-src 'self'; media-src 'self' blob:; worker-src 'self' blob:; \
    img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'";

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move { page("index.html", &h) }),
        )
        .route(
            "/watch/{feed}",
            get(|h: HeaderMap| async move { page("watch.html", &h) }),
        )
        .route("/static/{*path}", get(asset))
}

fn page(name: &str, headers: &HeaderMap) -> Response {
    serve(name, PAGE_CACHE, headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if path.ends_with(".html") {
        return not_found();
    }
    serve(&path, ASSET_CACHE, &headers)
}

fn serve(path: &str, cache: &'static str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..12]));
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let mut res = if matches(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type)],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if path.ends_with(".html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
    }
    res
}

/// If-None-Match names this ETag (or `*`).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, inm: Option<&str>) -> Response {
        let mut h = HeaderMap::new();
        if let Some(v) = inm {
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        match path.strip_prefix("/static/") {
            Some(p) => serve(p, ASSET_CACHE, &h),
            None => page(path, &h),
        }
    }

    fn header_of(r: &Response, name: header::HeaderName) -> &str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn pages_and_assets_have_types_and_caching() {
        for (path, ty, cache) in [
            ("index.html", "text/html; charset=utf-8", PAGE_CACHE),
            ("watch.html", "text/html; charset=utf-8", PAGE_CACHE),
            ("/static/style.css", "text/css; charset=utf-8", ASSET_CACHE),
            (
                "/static/watch.js",
                "text/javascript; charset=utf-8",
                ASSET_CACHE,
            ),
            (
                "/static/vendor/hls.min.js",
                "text/javascript; charset=utf-8",
                ASSET_CACHE,
            ),
        ] {
            let r = get(path, None);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(header_of(&r, header::CONTENT_TYPE), ty, "{path}");
            assert_eq!(header_of(&r, header::CACHE_CONTROL), cache, "{path}");
        }
    }

    #[test]
    fn etag_revalidates() {
        let r = get("/static/style.css", None);
        let etag = header_of(&r, header::ETAG).to_string();
        assert!(etag.starts_with('"'));
        assert_eq!(
            get("/static/style.css", Some(&etag)).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            get("/static/style.css", Some("\"x\"")).status(),
            StatusCode::OK
        );
    }

    #[test]
    fn the_clip_and_unknown_files_are_not_served() {
        for path in ["/static/demo.ts", "/static/README.md", "/static/nope.js"] {
            assert_eq!(get(path, None).status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
