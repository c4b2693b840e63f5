//! Evaluates `#[cfg]` and `#[cfg_attr]` for one flavour of the library before cbindgen
//! reads a source file.
//!
//! cbindgen turns a `cfg` into a C `#if` (or ignores it), but each flavour needs a header
//! set of its own: an item compiled only without the `blktap3` feature must not appear
//! in blktap3's `libvhd.h`, and an export made with
//! `#[cfg_attr(not(feature = "blktap3"), no_mangle)]` is a C function only in blktap2's.
//! So the sources are rewritten with the flavour's features: items whose `cfg` is false
//! are dropped and `cfg_attr`s are applied. `test` and other configuration options are
//! false, as in a release build.

use syn::punctuated::Punctuated;
use syn::{Attribute, Item, Meta, Token};

/// Whether `pred` (the inside of a `cfg(...)`) holds with `features` enabled.
fn holds(pred: &Meta, features: &[&str]) -> Result<bool, String> {
    match pred {
        Meta::NameValue(nv) if nv.path.is_ident("feature") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Ok(features.contains(&s.value().as_str())),
            _ => Err("feature = needs a string".to_owned()),
        },
        Meta::List(list) => {
            let args = list
                .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                .map_err(|e| e.to_string())?;
            let values = args
                .iter()
                .map(|m| holds(m, features))
                .collect::<Result<Vec<_>, _>>()?;
            if list.path.is_ident("not") && values.len() == 1 {
                Ok(!values[0])
            } else if list.path.is_ident("all") {
                Ok(values.iter().all(|&v| v))
            } else if list.path.is_ident("any") {
                Ok(values.iter().any(|&v| v))
            } else {
                Err(format!("unknown cfg predicate {:?}", list.path.get_ident()))
            }
        }
        // `test`, `debug_assertions`, `target_os = ...`: not what a header depends on.
        _ => Ok(false),
    }
}

/// Applies the `cfg_attr`s of `attrs`; false when a `cfg` among them is false.
fn apply(attrs: &mut Vec<Attribute>, features: &[&str]) -> Result<bool, String> {
    let mut out = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        if attr.path().is_ident("cfg") {
            let pred: Meta = attr.parse_args().map_err(|e| e.to_string())?;
            if !holds(&pred, features)? {
                return Ok(false);
            }
        } else if attr.path().is_ident("cfg_attr") {
            let args = attr
                .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                .map_err(|e| e.to_string())?;
            let mut args = args.into_iter();
            let pred = args.next().ok_or("empty cfg_attr")?;
            if holds(&pred, features)? {
                out.extend(args.map(|m| -> Attribute { syn::parse_quote!(#[#m]) }));
            }
        } else {
            out.push(attr);
        }
    }
    *attrs = out;
    Ok(true)
}

/// The attributes of an item, if it has any cbindgen reads.
fn attrs_mut(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    Some(match item {
        Item::Const(i) => &mut i.attrs,
        Item::Enum(i) => &mut i.attrs,
        Item::Fn(i) => &mut i.attrs,
        Item::Impl(i) => &mut i.attrs,
        Item::Macro(i) => &mut i.attrs,
        Item::Mod(i) => &mut i.attrs,
        Item::Static(i) => &mut i.attrs,
        Item::Struct(i) => &mut i.attrs,
        Item::Type(i) => &mut i.attrs,
        Item::Union(i) => &mut i.attrs,
        Item::Use(i) => &mut i.attrs,
        _ => return None,
    })
}

/// Drops the items of `items` (and of inline modules) that `features` leave out.
fn filter(items: &mut Vec<Item>, features: &[&str]) -> Result<(), String> {
    let mut kept = Vec::with_capacity(items.len());
    for mut item in items.drain(..) {
        let keep = match attrs_mut(&mut item) {
            Some(attrs) => apply(attrs, features)?,
            None => true,
        };
        if !keep {
            continue;
        }
        if let Item::Mod(m) = &mut item {
            if let Some((_, inner)) = &mut m.content {
                filter(inner, features)?;
            }
        }
        kept.push(item);
    }
    *items = kept;
    Ok(())
}

/// The Rust source `text` as the build with `features` sees it.
pub fn configure(text: &str, features: &[&str]) -> Result<String, String> {
    let mut file = syn::parse_file(text).map_err(|e| e.to_string())?;
    filter(&mut file.items, features)?;
    Ok(quote::quote!(#file).to_string())
}

#[cfg(test)]
mod tests {
    use super::configure;

    const SRC: &str = r#"
        /// Both.
        pub fn both() {}
        #[cfg(not(feature = "blktap3"))]
        pub fn two() {}
        #[cfg(feature = "blktap3")]
        pub fn three() {}
        #[cfg_attr(not(feature = "blktap3"), no_mangle)]
        pub extern "C" fn exported_in_two() {}
        #[cfg(test)]
        mod tests {}
    "#;

    #[test]
    fn each_flavour_sees_its_own_items() {
        let two = configure(SRC, &[]).unwrap();
        assert!(two.contains("fn both") && two.contains("fn two") && !two.contains("fn three"));
        assert!(two.contains("no_mangle"));
        assert!(!two.contains("mod tests"));
        let three = configure(SRC, &["blktap3"]).unwrap();
        assert!(three.contains("fn three") && !three.contains("fn two"));
        assert!(three.contains("fn exported_in_two") && !three.contains("no_mangle"));
    }
}
