//! Generates `include/valkey_rs_core.h` from the crate's `extern "C"` items
//! with cbindgen. The header is committed; CI fails when it drifts from what
//! this script generates (`git diff --exit-code include/` after a build).

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    generate_header(&crate_dir);
    build_accessors(&crate_dir);
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

/// lazyfree / replica-expire (issue 4): compiles the one-line C accessors of
/// `csrc/` into the library. With `VALKEY_SRC_DIR` (the Valkey tree's top,
/// passed by the patched src/Makefile and CMake), `csrc/valkey_shims.c` is
/// built against that tree's headers; without it (plain `cargo build` /
/// `cargo test`), `csrc/host_stubs.c` defines the same symbols as aborting
/// stubs so the library and its tests still link. `csrc/alloc_class.c` (the
/// dict's allocator probe) is built in both cases. Self-contained: touches
/// nothing else in this script.
fn build_accessors(crate_dir: &std::path::Path) {
    println!("cargo:rerun-if-env-changed=VALKEY_SRC_DIR");
    println!("cargo:rerun-if-changed=csrc");
    let csrc = crate_dir.join("csrc");
    let mut build = cc::Build::new();
    build
        .flag_if_supported("-std=gnu11")
        .warnings(true)
        .flag_if_supported("-Wno-missing-field-initializers");
    // Self-contained (no Valkey header): the dict's allocator probe.
    build.file(csrc.join("alloc_class.c"));
    match std::env::var_os("VALKEY_SRC_DIR").filter(|v| !v.is_empty()) {
        Some(top) => {
            let top = PathBuf::from(top);
            let src = top.join("src");
            if !src.join("server.h").is_file() {
                panic!(
                    "VALKEY_SRC_DIR={} is not a Valkey source tree (no src/server.h)",
                    top.display()
                );
            }
            build.file(csrc.join("valkey_shims.c")).include(&src);
            for dep in [
                "libvalkey/include",
                "linenoise",
                "hdr_histogram",
                "fpconv",
                "fast_float",
            ] {
                build.include(top.join("deps").join(dep));
            }
        }
        None => {
            build.file(csrc.join("host_stubs.c"));
        }
    }
    build.compile("valkey_rs_core_accessors");
}
