//! Tests of the build script's reading of `NvInferVersion.h` (the module build.rs includes).

#[path = "../build_support/version.rs"]
#[allow(dead_code)]
mod version;

use version::{TrtVersion, parse};

#[test]
fn reads_plain_numbers() {
    let header =
        "#define NV_TENSORRT_MAJOR 10\n#define NV_TENSORRT_MINOR 3\n#define NV_TENSORRT_PATCH 0\n";
    assert_eq!(parse(header), Some(TrtVersion { major: 10, minor: 3, patch: 0 }));
}

#[test]
fn follows_one_level_of_macro_indirection_and_skips_comments() {
    let header = "\
#ifndef GUARD
#define TRT_MAJOR_X 11
#define TRT_MINOR_X 1 // minor
#define TRT_PATCH_X (2)
#  define NV_TENSORRT_MAJOR TRT_MAJOR_X //!< major
#define NV_TENSORRT_MINOR TRT_MINOR_X /* minor */
#define NV_TENSORRT_PATCH TRT_PATCH_X
#endif
";
    let version = parse(header).expect("a version");
    assert_eq!(version, TrtVersion { major: 11, minor: 1, patch: 2 });
    assert_eq!(version.encoded(), 110_102);
    assert_eq!(version.to_string(), "11.1.2");
}

#[test]
fn missing_or_unresolvable_parts_give_none() {
    assert_eq!(parse("#define NV_TENSORRT_MAJOR 10\n#define NV_TENSORRT_MINOR 16\n"), None);
    let two_levels = "#define A 10\n#define B A\n#define NV_TENSORRT_MAJOR B\n\
                      #define NV_TENSORRT_MINOR 0\n#define NV_TENSORRT_PATCH 0\n";
    assert_eq!(parse(two_levels), None);
}
