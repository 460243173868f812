//! Declares the `ptrt_linked` cfg (set once the shim is compiled and linked).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ptrt_linked)");
}
