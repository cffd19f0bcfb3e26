//! Generates `include/valkey_rs_core.h` from the crate's `extern "C"` items
//! with cbindgen. The header is committed; CI fails when it drifts from what
//! this script generates (`git diff --exit-code include/` after a build).

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    generate_header(&crate_dir);
}

fn generate_header(crate_dir: &std::path::Path) {
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let out = crate_dir.join("include").join("valkey_rs_core.h");
    match cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            let mut text = Vec::new();
            bindings.write(&mut text);
            let text = String::from_utf8(text).expect("cbindgen writes UTF-8");
            // cbindgen spells the flexible array member as a GNU zero-length
            // array; dict.h declares a C99 flexible array member.
            let text = text.replace("void *metadata[0];", "void *metadata[];");
            if std::fs::read_to_string(&out).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&out, text).expect("write include/valkey_rs_core.h");
            }
        }
        // A syntax error elsewhere in the crate makes cbindgen fail; let rustc
        // report it rather than masking it with a header error.
        Err(e) => println!("cargo:warning=cbindgen: header not regenerated: {e}"),
    }
}
