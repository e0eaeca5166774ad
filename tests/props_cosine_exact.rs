//! Property tests for cosine and exact match, on slices and on the JSON bodies the filter actually sees.

use proptest::prelude::*;
use shadow_compare::cosine::{cosine, score_bodies as cosine_bodies};
use shadow_compare::exact::score_bodies as exact_bodies;

/// A finite f64 with any magnitude from about 1e-300 to 1e300, or zero.
fn element() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => (-1.0f64..1.0, -300i32..300).prop_map(|(m, e)| m * 10f64.powi(e)),
        2 => -1.0f64..1.0,
        1 => Just(0.0),
    ]
}

/// Two vectors of one length, each drawn at one magnitude (as embeddings are) or element by element.
fn vector_pair() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (0usize..40).prop_flat_map(|n| {
        let scaled = |n| {
            (prop::collection::vec(-1.0f64..1.0, n), -300i32..300)
                .prop_map(|(v, e)| v.into_iter().map(|x| x * 10f64.powi(e)).collect::<Vec<_>>())
        };
        let vector = move || prop_oneof![scaled(n), prop::collection::vec(element(), n)];
        (vector(), vector())
    })
}

fn body(v: &[f64]) -> String {
    // Debug writes the shortest round-trip form, with an exponent where needed: valid JSON numbers.
    let items: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("{{\"embedding\": [{}]}}", items.join(", "))
}

proptest! {
    #[test]
    fn cosine_is_in_range((a, b) in vector_pair()) {
        let c = cosine(&a, &b).unwrap();
        prop_assert!((-1.0..=1.0).contains(&c), "{c}");
        let s = cosine_bodies(body(&a).as_bytes(), body(&b).as_bytes(), "/embedding").unwrap();
        prop_assert!((0.0..=1.0).contains(&s), "{s}");
        prop_assert_eq!(s, if c > 0.0 { c } else { 0.0 });
    }

    #[test]
    fn cosine_is_symmetric((a, b) in vector_pair()) {
        prop_assert_eq!(cosine(&a, &b).unwrap(), cosine(&b, &a).unwrap());
        let (ba, bb) = (body(&a), body(&b));
        prop_assert_eq!(
            cosine_bodies(ba.as_bytes(), bb.as_bytes(), "/embedding").unwrap(),
            cosine_bodies(bb.as_bytes(), ba.as_bytes(), "/embedding").unwrap()
        );
    }

    #[test]
    fn identical_vectors_score_one((a, _) in vector_pair()) {
        prop_assert_eq!(cosine(&a, &a).unwrap(), 1.0);
        let text = body(&a);
        prop_assert_eq!(cosine_bodies(text.as_bytes(), text.as_bytes(), "/embedding").unwrap(), 1.0);
    }

    #[test]
    fn cosine_is_scale_invariant((a, b) in vector_pair(), factor in 1e-3f64..1e3, shift in -200i32..200) {
        let base = cosine(&a, &b).unwrap();
        // A power of two scales every element exactly (when nothing under- or overflows), so the cosine is
        // bit for bit the same.
        let power = 2f64.powi(shift);
        let exact: Vec<f64> = a.iter().map(|x| x * power).collect();
        let representable = a.iter().zip(&exact).all(|(x, y)| y.is_finite() && y / power == *x);
        if representable {
            prop_assert_eq!(cosine(&exact, &b).unwrap(), base);
        }
        // Any other factor rounds each element once, moving the cosine by a few ulps of the sums.
        let scaled: Vec<f64> = a.iter().map(|x| x * factor).collect();
        if scaled.iter().zip(&a).all(|(y, x)| y.is_finite() && (*x == 0.0) == (*y == 0.0)) {
            let got = cosine(&scaled, &b).unwrap();
            prop_assert!((got - base).abs() <= 1e-12, "{got} vs {base}");
        }
    }

    #[test]
    fn opposite_vectors_score_zero((a, _) in vector_pair()) {
        prop_assume!(a.iter().any(|&x| x != 0.0));
        let minus: Vec<f64> = a.iter().map(|x| -x).collect();
        prop_assert!((cosine(&a, &minus).unwrap() + 1.0).abs() < 1e-12);
        prop_assert_eq!(cosine_bodies(body(&a).as_bytes(), body(&minus).as_bytes(), "/embedding").unwrap(), 0.0);
    }
}

/// A JSON value to write out in different but equivalent ways. Object keys are unique, so that reordering
/// members cannot change which duplicate wins.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

fn json() -> impl Strategy<Value = Json> {
    let text = prop_oneof![
        "[a-c]{0,3}".prop_map(String::from),
        any::<String>().prop_map(|s| s.chars().take(6).collect()),
        Just("é😀\"\\/\u{1}".to_string()),
    ];
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-3i64..3).prop_map(Json::Int),
        any::<i64>().prop_map(Json::Int),
        (-1e6f64..1e6).prop_map(Json::Float),
        text.clone().prop_map(Json::Str),
    ];
    leaf.prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::btree_map(text.clone(), inner, 0..5)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// How to write a value: the member order, number spellings and string escapes all vary with `style`.
#[derive(Debug, Clone, Copy)]
struct Style {
    rotate: usize,
    reverse: bool,
    spelling: u8,
    escape_all: bool,
    spaced: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (any::<usize>(), any::<bool>(), 0u8..4, any::<bool>(), any::<bool>()).prop_map(
        |(rotate, reverse, spelling, escape_all, spaced)| Style { rotate, reverse, spelling, escape_all, spaced },
    )
}

fn write_string(s: &str, escape_all: bool, out: &mut String) {
    if !escape_all {
        out.push_str(&serde_json::to_string(s).unwrap());
        return;
    }
    out.push('"');
    for unit in s.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
}

fn write(value: &Json, style: Style, out: &mut String) {
    let gap = if style.spaced { " " } else { "" };
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(n) => out.push_str(&match style.spelling {
            0 => n.to_string(),
            1 => format!("{n}.0"),
            2 => format!("{n}e0"),
            _ if *n == 0 => "0e-2".to_string(),
            _ => format!("{n}00e-2"),
        }),
        Json::Float(x) => {
            out.push_str(&if style.spelling.is_multiple_of(2) { format!("{x:?}") } else { format!("{x:e}") })
        }
        Json::Str(s) => write_string(s, style.escape_all, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    out.push_str(gap);
                }
                write(item, style, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            let mut order: Vec<&(String, Json)> = members.iter().collect();
            if !order.is_empty() {
                let len = order.len();
                order.rotate_left(style.rotate % len);
            }
            if style.reverse {
                order.reverse();
            }
            out.push('{');
            for (i, (key, item)) in order.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    out.push_str(gap);
                }
                write_string(key, style.escape_all, out);
                out.push(':');
                out.push_str(gap);
                write(item, style, out);
            }
            out.push('}');
        }
    }
}

fn text(value: &Json, style: Style) -> String {
    let mut out = String::new();
    write(value, style, &mut out);
    out
}

/// The same value with one leaf changed, if it has a leaf that can change.
fn changed(value: &Json) -> Option<Json> {
    match value {
        Json::Null => Some(Json::Bool(false)),
        Json::Bool(b) => Some(Json::Bool(!b)),
        Json::Int(n) => Some(Json::Int(n.wrapping_add(1))),
        Json::Float(x) => Some(Json::Float(if *x == 0.0 { 1.0 } else { x * 2.0 })),
        Json::Str(s) => Some(Json::Str(format!("{s}x"))),
        Json::Array(items) => {
            let mut items = items.clone();
            match items.iter().position(|i| changed(i).is_some()) {
                Some(at) => items[at] = changed(&items[at])?,
                None => items.push(Json::Null),
            }
            Some(Json::Array(items))
        }
        Json::Object(members) => {
            let mut members = members.clone();
            match members.iter().position(|(_, v)| changed(v).is_some()) {
                Some(at) => members[at].1 = changed(&members[at].1)?,
                None => members.push(("new".to_string(), Json::Null)),
            }
            Some(Json::Object(members))
        }
    }
}

fn exact(a: &str, b: &str) -> f64 {
    exact_bodies(a.as_bytes(), b.as_bytes(), "").unwrap()
}

proptest! {
    #[test]
    fn exact_is_reflexive(value in json(), s in style()) {
        let t = text(&value, s);
        prop_assert_eq!(exact(&t, &t), 1.0, "{}", t);
    }

    #[test]
    fn exact_is_symmetric(a in json(), b in json(), sa in style(), sb in style()) {
        let (ta, tb) = (text(&a, sa), text(&b, sb));
        prop_assert_eq!(exact(&ta, &tb), exact(&tb, &ta));
    }

    #[test]
    fn exact_ignores_key_order_spelling_and_escapes(value in json(), sa in style(), sb in style()) {
        let (ta, tb) = (text(&value, sa), text(&value, sb));
        prop_assert_eq!(exact(&ta, &tb), 1.0, "{} vs {}", ta, tb);
    }

    #[test]
    fn exact_sees_a_changed_leaf(value in json(), sa in style(), sb in style()) {
        let other = changed(&value).unwrap();
        let (ta, tb) = (text(&value, sa), text(&other, sb));
        prop_assert_eq!(exact(&ta, &tb), 0.0, "{} vs {}", ta, tb);
    }

    #[test]
    fn exact_by_pointer_matches_whole_value(value in json(), sa in style(), sb in style()) {
        let wrapped = |s| format!("{{\"meta\": 1, \"result\": {}}}", text(&value, s));
        let (ta, tb) = (wrapped(sa), wrapped(sb));
        prop_assert_eq!(exact_bodies(ta.as_bytes(), tb.as_bytes(), "/result").unwrap(), 1.0);
    }
}
