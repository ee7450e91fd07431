use super::*;
use crate::model::Descriptor;
use quote::quote;

fn errors_of(args: TokenStream, item: TokenStream) -> Vec<String> {
    match provider(args, item) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let errs = errors_of(
        quote!(name = "P"),
        quote! {
            mod p {
                #[event(id = 1, level = loud)]
                fn a(x: Vec<u8>);
                #[event(id = 2, opcode = 300)]
                fn b<T>(x: T) -> u32;
                fn c();
            }
        },
    );
    assert_eq!(errs.len(), 7, "{errs:#?}");
    assert!(errs[0].starts_with("unknown level `loud`"));
    assert!(errs[1].starts_with("unsupported field type `Vec<u8>`"));
    assert!(errs[2].contains("cannot be generic"));
    assert!(errs[3].contains("returns nothing"));
    assert!(errs[4].starts_with("opcode 300 is out of range"));
    assert!(errs[5].starts_with("unsupported field type `T`"));
    assert!(errs.iter().any(|e| e.contains("event `c` has no id")));
}

#[test]
fn defaults_and_given_values() {
    let p = provider(
        quote!(name = "MyCompany-MyApp"),
        quote! {
            pub mod p {
                /// Doc.
                #[event(level = warning, keywords = 0x1 | 0x4, opcode = start, task = 7, version = 2)]
                pub fn first(#[field(format = hex)] flags: u32, name: &str);
                fn second();
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.guid, model::guid_from_name("MyCompany-MyApp"));
    let d = p.events[0].descriptor;
    assert_eq!(
        d,
        Descriptor {
            id: 1,
            version: 2,
            channel: 11,
            level: 3,
            opcode: 1,
            task: 7,
            keyword: 5
        }
    );
    assert_eq!(p.events[1].descriptor.id, 2);
    assert_eq!(p.events[1].descriptor.level, 4);
    assert_eq!(p.events[0].attrs.len(), 1, "the doc comment is kept");
    assert_eq!(
        p.events[0].schema().bytes,
        b"\x18\x00\x00first\x00flags\x00\x88\x04name\x00\x82\x23"
    );
}
