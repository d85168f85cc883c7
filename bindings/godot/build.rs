//! Links libvpx, the video codec voipchat uses (through `env-libvpx-sys`, which finds the
//! system's libvpx with pkg-config and links it dynamically), statically into the extension,
//! as Opus already is. A game then ships one library that needs no libvpx of a particular
//! soname on the player's machine: Debian stable has `libvpx.so.7`, Debian unstable (whose
//! Godot the engine test runs) `libvpx.so.9`, and a dynamically linked extension loads in only
//! one of them.
//!
//! How: `env-libvpx-sys` asks the linker for `-lvpx`; the linker takes the first directory on
//! its search path that holds `libvpx.so` or `libvpx.a`, so a directory of this build's own
//! holding only `libvpx.a` (a copy of the system's archive, found next to its `vpx.pc`), searched
//! before the system's, makes that `-lvpx` the archive. (pkg-config's own static mode does not
//! help: the `pkg-config` crate never links statically from `/usr`.)
//!
//! Native Linux builds only; cross builds and `VOIPCHAT_GODOT_DYNAMIC_VPX=1` keep the dynamic
//! link. Without a `libvpx.a` (a system with only the shared library) the build warns and
//! links dynamically.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=VOIPCHAT_GODOT_DYNAMIC_VPX");
    let native = env::var("TARGET").ok() == env::var("HOST").ok();
    let linux = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if !native || !linux || env::var_os("VOIPCHAT_GODOT_DYNAMIC_VPX").is_some() {
        return;
    }
    let Some(archive) = find_archive() else {
        println!(
            "cargo:warning=no libvpx.a found next to pkg-config's vpx.pc: the extension links \
             libvpx dynamically and needs it on the player's machine"
        );
        return;
    };
    println!("cargo:rerun-if-changed={}", archive.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("vpx-static");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/vpx-static");
    std::fs::copy(&archive, out.join("libvpx.a")).expect("copy libvpx.a");
    println!("cargo:rustc-link-search=native={}", out.display());
}

/// The system's `libvpx.a`: in the directory above the one holding `vpx.pc` (a multiarch
/// `lib/x86_64-linux-gnu/pkgconfig/vpx.pc`, whose `libdir` may say plain `lib`), or in the
/// `libdir` it names.
fn find_archive() -> Option<PathBuf> {
    let pkg_config = env::var_os("PKG_CONFIG").unwrap_or_else(|| "pkg-config".into());
    let query = |args: &[&str]| -> Option<PathBuf> {
        let output = Command::new(&pkg_config).args(args).output().ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        let line = text.lines().next()?.trim();
        (output.status.success() && !line.is_empty()).then(|| PathBuf::from(line))
    };
    let beside_pc = query(&["--path", "vpx"])
        .and_then(|pc| pc.parent().and_then(Path::parent).map(Path::to_path_buf));
    let libdir = query(&["--variable=libdir", "vpx"]);
    [beside_pc, libdir]
        .into_iter()
        .flatten()
        .map(|dir| dir.join("libvpx.a"))
        .find(|archive| archive.is_file())
}
