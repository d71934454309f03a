//! Pattern parsing and matching.

use super::*;

#[test]
fn pattern_parse_refusals() {
    let cases = [
        ("no leading slash", "ns/{namespace}"),
        ("empty pattern", ""),
        ("root only", "/"),
        ("empty segment", "/ns//sa"),
        ("trailing slash", "/ns/"),
        ("dot-dot segment", "/ns/../sa"),
        ("dot segment", "/ns/./sa"),
        ("unknown placeholder", "/ns/{namespaceName}"),
        ("empty placeholder", "/ns/{}"),
        ("placeholder mixed with text", "/ns-{namespace}"),
        ("glob mixed with text", "/app-*"),
        ("triple star", "/a/***"),
        ("nested braces", "/{{namespace}}"),
        ("stray brace", "/a}b"),
    ];
    for (name, source) in cases {
        assert!(Pattern::parse(source).is_err(), "{name}: {source:?} parsed");
    }
    assert!(
        matches!(Pattern::parse("/x/{nope}"), Err(PatternError::UnknownPlaceholder { name, .. }) if name == "nope")
    );
    assert_eq!(pat("/ns/{namespace}/**").to_string(), "/ns/{namespace}/**");
}

#[test]
fn pattern_matching_table() {
    let pod = pod_bindings();
    let static_entry = Bindings::default();
    let slashed = Bindings { namespace: Some("team-a/sa/x"), ..pod };
    let empty_ns = Bindings { namespace: Some(""), ..pod };
    let cases: [(&str, &str, &str, Bindings<'_>, bool); 33] = [
        ("namespace placeholder", "/ns/{namespace}", "/ns/team-a", pod, true),
        ("namespace placeholder other value", "/ns/{namespace}", "/ns/team-b", pod, false),
        ("serviceAccount placeholder", "/ns/{namespace}/sa/{serviceAccount}", "/ns/team-a/sa/web", pod, true),
        ("serviceAccount wrong", "/ns/{namespace}/sa/{serviceAccount}", "/ns/team-a/sa/db", pod, false),
        ("podName placeholder", "/pod/{podName}", "/pod/web-0", pod, true),
        ("podName wrong", "/pod/{podName}", "/pod/web-1", pod, false),
        ("nodeName placeholder", "/node/{nodeName}", "/node/n1", pod, true),
        ("nodeName wrong", "/node/{nodeName}", "/node/n2", pod, false),
        ("absent binding never matches", "/ns/{namespace}", "/ns/team-a", static_entry, false),
        ("absent binding, no value either", "/ns/{namespace}", "/ns/", static_entry, false),
        ("empty binding never matches", "/ns/{namespace}", "/ns/", empty_ns, false),
        (
            "placeholder value with slash",
            "/ns/{namespace}/sa/{serviceAccount}",
            "/ns/team-a/sa/x/sa/web",
            slashed,
            false,
        ),
        ("placeholder value with slash, exact", "/ns/{namespace}", "/ns/team-a/sa/x", slashed, false),
        ("star one segment", "/legacy/*", "/legacy/app", pod, true),
        ("star not two segments", "/legacy/*", "/legacy/app/x", pod, false),
        ("star not zero segments", "/legacy/*", "/legacy", pod, false),
        ("star not empty segment", "/legacy/*", "/legacy/", pod, false),
        ("double star zero segments", "/legacy/**", "/legacy", pod, true),
        ("double star many segments", "/legacy/**", "/legacy/a/b/c", pod, true),
        ("double star in the middle, zero", "/a/**/z", "/a/z", pod, true),
        ("double star in the middle, several", "/a/**/z", "/a/b/c/z", pod, true),
        ("double star in the middle, wrong end", "/a/**/z", "/a/b/c", pod, false),
        ("double star alone matches the root", "/**", "", pod, true),
        ("double star with placeholder after", "/**/sa/{serviceAccount}", "/x/y/sa/web", pod, true),
        ("trailing slash in path", "/ns/{namespace}", "/ns/team-a/", pod, false),
        ("dot-dot in path against star", "/ns/team-a/*", "/ns/team-a/..", pod, true),
        ("dot-dot escape against literal", "/ns/team-a/sa/web", "/ns/team-a/../team-b/sa/web", pod, false),
        ("encoded slash is literal, placeholder", "/ns/{namespace}", "/ns/team-a%2Fsa%2Fweb", pod, false),
        ("encoded slash is literal, star", "/ns/*", "/ns/team-a%2Fsa", pod, true),
        ("encoded slash is literal, literal", "/ns/a%2Fb", "/ns/a%2Fb", pod, true),
        ("encoded slash not decoded", "/ns/a/b", "/ns/a%2Fb", pod, false),
        ("literal is case-sensitive", "/NS/team-a", "/ns/team-a", pod, false),
        ("path without leading slash", "/ns/*", "ns/team-a", pod, false),
    ];
    for (name, pattern, path, bindings, want) in cases {
        assert_eq!(pat(pattern).matches(path, &bindings), want, "{name}: {pattern} vs {path}");
    }
}

#[test]
fn normal_paths() {
    for (path, want) in [
        ("", true),
        ("/a/b", true),
        ("/a/", false),
        ("/a//b", false),
        ("/a/../b", false),
        ("/./a", false),
        ("a", false),
    ] {
        assert_eq!(is_normal_path(path), want, "{path:?}");
    }
}
