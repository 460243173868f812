//! Passes the library folders that precision-trt-sys linked (TensorRT, the CUDA runtime) on as
//! rpaths: to this crate's own tests, and, as `DEP_PRECISION_TRT_BACKEND_RPATH`, to the crates
//! that build binaries on it (precision-cli), so those run without `LD_LIBRARY_PATH`.
//! Without TensorRT there is nothing to pass.

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_PRECISION_TRT_RPATH");
    let Ok(rpath) = std::env::var("DEP_PRECISION_TRT_RPATH") else { return };
    for dir in rpath.split(':').filter(|d| !d.is_empty()) {
        println!("cargo::rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo::metadata=rpath={rpath}");
}
