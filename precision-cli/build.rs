//! With `--features tensorrt`: gives the `precision` binary an rpath to the TensorRT and CUDA
//! runtime folders that backend-tensorrt linked, so it runs without `LD_LIBRARY_PATH`.

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_PRECISION_TRT_BACKEND_RPATH");
    let Ok(rpath) = std::env::var("DEP_PRECISION_TRT_BACKEND_RPATH") else { return };
    for dir in rpath.split(':').filter(|d| !d.is_empty()) {
        println!("cargo::rustc-link-arg-bins=-Wl,-rpath,{dir}");
    }
}
