//! The page's hydration scripts (the bundle's preload links and Leptos' island script), made
//! once per process instead of once per page.
//!
//! Leptos' `HydrationScripts` does two things on every render that this does once:
//! - it finds the binary's own path, then stats, reads and parses `hash.txt` beside it, to
//!   learn the bundle's names, which cannot change while the process runs (as the stylesheet's
//!   name, `static_files::stylesheet_path`);
//! - it writes the response's CSP nonce into the preload links' `crossorigin` attributes as
//!   well as on the script (leptos 0.8.23; leptos#4843, fixed upstream after it). A nonce is
//!   only ever meant to be read from a `nonce` attribute, which browsers hide from the page's
//!   own CSS and scripts; in `crossorigin` it is readable by an injected CSS selector.
//!
//! So `HydrationScripts` is rendered once, with no nonce (the module preload then carries no
//! `crossorigin` and the wasm preload an empty one: both anonymous, as the module import and
//! the same-origin `fetch` that use them are), and each page gets that HTML with its own nonce
//! put on the script tag.
//! Leptos' script is used as Leptos renders it, never copied here, so an upgrade changes it.

use std::sync::OnceLock;

use leptos::config::LeptosOptions;
use leptos::prelude::*;
use leptos::tachys::html::InertElement;

/// The one script tag `HydrationScripts` writes, where the nonce goes.
const SCRIPT_TAG: &str = r#"<script type="module""#;

/// `HydrationScripts`' HTML, cut where the nonce goes: before and after it.
struct Template {
    before: String,
    after: String,
}

/// The hydration scripts for this page: `HydrationScripts` in islands mode, with `nonce` on
/// its script. Call it inside the page's render: in islands mode it also tells the render that
/// the page around the islands is not hydrated, as `HydrationScripts` itself does.
pub fn hydration_scripts(options: &LeptosOptions, nonce: Option<&str>) -> impl IntoView {
    if let Some(context) = Owner::current_shared_context() {
        // Without this the whole page, not only its islands, would carry hydration markers.
        context.set_is_hydrating(false);
    }
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| template(options));
    InertElement::new(with_nonce(template, nonce))
}

/// Renders `HydrationScripts` under an owner of its own: no request's nonce, no request's
/// shared context (whose hydration flag the page's own call above sets).
///
/// On a thread of its own, because a reactive owner is thread-local state: a new root owner
/// makes itself the thread's current owner (and, with `sandboxed-arenas`, its arena), and the
/// page whose render asked for this is in the middle of using the caller's. (The caller waits
/// for it once per process, a few milliseconds.)
fn template(options: &LeptosOptions) -> Template {
    let options = options.clone();
    let html = std::thread::spawn(move || {
        let owner = Owner::new_root(None);
        let html = owner.with(|| view! { <HydrationScripts options islands=true/> }.to_html());
        owner.unset_with_forced_cleanup();
        html
    })
    .join()
    .expect("rendering HydrationScripts");
    split_at_script(&html).unwrap_or_else(|| {
        panic!("HydrationScripts wrote no `{SCRIPT_TAG}>` tag to put the nonce on: {html}")
    })
}

fn split_at_script(html: &str) -> Option<Template> {
    let at = html.find(SCRIPT_TAG)? + SCRIPT_TAG.len();
    // One script, and no attribute of its own yet: the nonce is its only one.
    let single = html.matches("<script").count() == 1 && html[at..].starts_with('>');
    single.then(|| Template {
        before: html[..at].to_string(),
        after: html[at..].to_string(),
    })
}

fn with_nonce(template: &Template, nonce: Option<&str>) -> String {
    match nonce {
        // leptos_axum's nonce is base64url: nothing in it needs escaping in an attribute.
        Some(nonce) => format!(r#"{} nonce="{nonce}"{}"#, template.before, template.after),
        None => format!("{}{}", template.before, template.after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_goes_on_the_script_and_nowhere_else() {
        let options = LeptosOptions::builder().output_name("app").build();
        let template = template(&options);
        let html = with_nonce(&template, Some("n0nce"));
        assert_eq!(html.matches("n0nce").count(), 1, "{html}");
        assert!(
            html.contains(r#"<script type="module" nonce="n0nce">"#),
            "{html}"
        );
        // The preload links are there, and ask for the files as a module import and a
        // same-origin fetch do (anonymous), not with a nonce for a value.
        assert!(html.contains(r#"rel="modulepreload""#), "{html}");
        assert!(html.contains(r#"as="fetch""#), "{html}");
        assert!(!html.contains(r#"crossorigin="n"#), "{html}");
        assert!(html.contains("/pkg/app"), "{html}");
    }

    #[test]
    fn a_template_without_exactly_one_bare_script_tag_is_refused() {
        assert!(split_at_script(r#"<link rel="modulepreload">"#).is_none());
        assert!(split_at_script(r#"<script type="module" nonce="x">x</script>"#).is_none());
        assert!(split_at_script(
            r#"<script type="module">a</script><script type="module">b</script>"#
        )
        .is_none());
        let template = split_at_script(r#"<link><script type="module">a()</script>"#).unwrap();
        assert_eq!(
            with_nonce(&template, Some("n")),
            r#"<link><script type="module" nonce="n">a()</script>"#
        );
        assert_eq!(
            with_nonce(&template, None),
            r#"<link><script type="module">a()</script>"#
        );
    }
}
