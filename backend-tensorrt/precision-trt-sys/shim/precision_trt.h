/*
 * precision_trt.h: the flat C API of precision's TensorRT shim.
 *
 * TensorRT's API is C++ classes with no C ABI, so precision talks to it through this small
 * interface of its own: opaque handles, status codes, error text kept per thread, plain C
 * structs. No C++ type or exception crosses it. The shim (precision_trt.cpp) implements it
 * against TensorRT 10.x and 11.x; tests implement it again as a fake.
 *
 * The whole API is one table of function pointers, returned by ptrt_api_get(). Rust calls
 * only through a table, so the same safe Rust layer runs on the real shim and on the fake.
 *
 * Conventions:
 * - Every function that can fail returns a ptrt_status. After a status other than PTRT_OK,
 *   last_error() returns what went wrong, valid on the calling thread until its next call.
 * - Strings returned in info structs belong to the handle they came from and stay valid
 *   until that handle is destroyed or changed.
 * - Layers and tensors are addressed by index: layer i of the network, output j of layer i.
 * - Data types use PTRT_DTYPE_* (the shim maps TensorRT's enum onto them).
 */
#ifndef PRECISION_TRT_H
#define PRECISION_TRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bumped whenever the table or a struct changes; Rust refuses a table of another version. */
#define PTRT_ABI_VERSION 1

/** The most dimensions a shape here can have (TensorRT's Dims::MAX_DIMS). */
#define PTRT_MAX_DIMS 8

/** What a call did. */
typedef enum ptrt_status {
    PTRT_OK = 0,
    /** TensorRT reported an error; last_error() has its text. */
    PTRT_ERROR = 1,
    /** An argument is invalid (a null handle, an index out of range, an unknown name). */
    PTRT_INVALID_ARGUMENT = 2,
    /** The ONNX parser rejected the model; last_error() lists every parser error, one per
     *  line, with the node's index, name and operator. */
    PTRT_PARSE_FAILED = 3,
    /** The engine build failed (for this plan: a failed check, not a fatal error). */
    PTRT_BUILD_FAILED = 4,
    /** The linked TensorRT version does not have this call (for example precision hints
     *  on TensorRT 11). */
    PTRT_UNSUPPORTED = 5,
    /** No CUDA device is usable. */
    PTRT_NO_DEVICE = 6,
    /** Host or device memory ran out. */
    PTRT_OUT_OF_MEMORY = 7,
    /** A calibration cache or timing cache was refused (another TensorRT version or
     *  calibration algorithm). */
    PTRT_CACHE_REJECTED = 8,
} ptrt_status;

/** Tensor data types (our numbering; equal to TensorRT's DataType values). */
typedef enum ptrt_dtype {
    PTRT_DTYPE_FLOAT = 0,
    PTRT_DTYPE_HALF = 1,
    PTRT_DTYPE_INT8 = 2,
    PTRT_DTYPE_INT32 = 3,
    PTRT_DTYPE_BOOL = 4,
    PTRT_DTYPE_UINT8 = 5,
    PTRT_DTYPE_FP8 = 6,
    PTRT_DTYPE_BF16 = 7,
    PTRT_DTYPE_INT64 = 8,
    PTRT_DTYPE_INT4 = 9,
    PTRT_DTYPE_FP4 = 10,
    /** A type this header does not know (a newer TensorRT). */
    PTRT_DTYPE_OTHER = 255,
} ptrt_dtype;

/** Severity of a log message (TensorRT's ILogger::Severity values). */
typedef enum ptrt_severity {
    PTRT_SEVERITY_INTERNAL_ERROR = 0,
    PTRT_SEVERITY_ERROR = 1,
    PTRT_SEVERITY_WARNING = 2,
    PTRT_SEVERITY_INFO = 3,
    PTRT_SEVERITY_VERBOSE = 4,
} ptrt_severity;

/** Flags of network_from_onnx. */
typedef enum ptrt_network_flag {
    /** Create a strongly typed network (always the case on TensorRT 11). */
    PTRT_NETWORK_STRONGLY_TYPED = 1u << 0,
} ptrt_network_flag;

/** Flags of build (ptrt_build_options.flags). */
typedef enum ptrt_build_flag {
    /** Allow FP16 kernels (weakly typed networks, TensorRT <= 10). */
    PTRT_BUILD_FP16 = 1u << 0,
    /** Allow INT8 kernels (weakly typed networks, TensorRT <= 10). */
    PTRT_BUILD_INT8 = 1u << 1,
    /** Allow BF16 kernels (weakly typed networks, TensorRT <= 10). */
    PTRT_BUILD_BF16 = 1u << 2,
    /** Fail the build when a layer's precision constraint cannot be met. */
    PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS = 1u << 3,
    /** Follow precision constraints where possible, warn where not. */
    PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS = 1u << 4,
    /** Clear TF32 (on by default) so float32 layers compute in true float32. */
    PTRT_BUILD_DISABLE_TF32 = 1u << 5,
    /** Detailed profiling verbosity, so the engine inspector reports each layer's
     *  precision. */
    PTRT_BUILD_DETAILED_PROFILING = 1u << 6,
} ptrt_build_flag;

/** INT8 calibration algorithms (TensorRT <= 10). */
typedef enum ptrt_calibration_algorithm {
    PTRT_CALIBRATION_ENTROPY2 = 0,
    PTRT_CALIBRATION_MINMAX = 1,
    PTRT_CALIBRATION_ENTROPY = 2,
    PTRT_CALIBRATION_LEGACY = 3,
} ptrt_calibration_algorithm;

/** A network built from an ONNX model, with its builder and parser. */
typedef struct ptrt_network ptrt_network;
/** A deserialized engine and the runtime that owns it. */
typedef struct ptrt_engine ptrt_engine;
/** An execution context of an engine. */
typedef struct ptrt_context ptrt_context;
/** Bytes made by the shim (a serialized engine, a timing cache, layer information JSON). */
typedef struct ptrt_blob ptrt_blob;

/** A shape. */
typedef struct ptrt_dims {
    int32_t nb_dims;
    int64_t d[PTRT_MAX_DIMS];
} ptrt_dims;

/** A network tensor. */
typedef struct ptrt_tensor_info {
    /** Null for an absent optional input. */
    const char* name;
    /** A ptrt_dtype. */
    int32_t dtype;
    /** Nonzero when TensorRT treats the tensor as a shape tensor. */
    int32_t is_shape_tensor;
    /** Nonzero for a network input. */
    int32_t is_network_input;
    /** Nonzero for a network output (including ones marked by mark_output). */
    int32_t is_network_output;
    /** Nonzero when marked with mark_debug. */
    int32_t is_debug;
    /** The shape as the network declares it (-1 for dynamic dimensions). */
    ptrt_dims dims;
} ptrt_tensor_info;

/** A network layer. */
typedef struct ptrt_layer_info {
    const char* name;
    /** TensorRT's LayerType, spelled as in the enum without the k ("CONVOLUTION",
     *  "CONSTANT", "SHAPE", "TRIP_LIMIT", ...), "UNKNOWN" for a type the shim does not
     *  name. */
    const char* type_name;
    int32_t nb_inputs;
    int32_t nb_outputs;
    /** Nonzero when a precision was set with layer_set_precision (always 0 on 11). */
    int32_t precision_is_set;
    /** The layer's precision (a ptrt_dtype). */
    int32_t precision;
} ptrt_layer_info;

/** An input or output of an engine. */
typedef struct ptrt_io_info {
    const char* name;
    /** A ptrt_dtype. */
    int32_t dtype;
    /** Nonzero for an input. */
    int32_t is_input;
    /** The shape as built (-1 for dynamic dimensions). */
    ptrt_dims dims;
} ptrt_io_info;

/** A fixed shape for a network input (the optimization profile's min = opt = max). */
typedef struct ptrt_input_shape {
    const char* name;
    ptrt_dims dims;
} ptrt_input_shape;

/** Receives TensorRT's log messages. Called from any thread TensorRT logs from. */
typedef void (*ptrt_log_fn)(void* user, int32_t severity, const char* message);

/**
 * Streams INT8 calibration batches from the caller (TensorRT <= 10). The shim wraps it in
 * an IInt8Calibrator of the chosen algorithm.
 */
typedef struct ptrt_calibrator {
    void* user;
    /** A ptrt_calibration_algorithm. */
    int32_t algorithm;
    /** The batch size TensorRT is told (the leading dimension of each input). */
    int32_t batch_size;
    /** Writes device pointers for the next batch into bindings[i] (input names[i]).
     *  Returns 1 when a batch was written, 0 when there are no more. */
    int32_t (*get_batch)(void* user, void** bindings, const char* const* names, int32_t nb);
    /** Sets *data and *size to a cache to use instead of calibrating (size 0: none). The
     *  bytes stay valid until the build returns. */
    void (*read_cache)(void* user, const void** data, size_t* size);
    /** Receives the cache TensorRT wrote after calibrating. */
    void (*write_cache)(void* user, const void* data, size_t size);
} ptrt_calibrator;

/** Options of one engine build. */
typedef struct ptrt_build_options {
    /** ptrt_build_flag bits. */
    uint32_t flags;
    /** Builder workspace limit in bytes; 0 keeps TensorRT's default. */
    uint64_t workspace_bytes;
    /** A serialized timing cache to start from, or null. */
    const void* timing_cache;
    size_t timing_cache_size;
    /** Fixed shapes for dynamic network inputs (one optimization profile), or null. */
    const ptrt_input_shape* input_shapes;
    int32_t nb_input_shapes;
    /** INT8 calibration, or null (TensorRT <= 10 only). */
    const ptrt_calibrator* calibrator;
} ptrt_build_options;

/** Receives a debug tensor's device buffer during enqueue (see context_set_debug_listener).
 *  Returns nonzero on success. */
typedef int32_t (*ptrt_debug_fn)(void* user, const void* device_address, int32_t dtype,
                                 const ptrt_dims* dims, const char* name, void* stream);

/** The shim's functions. */
typedef struct ptrt_api {
    /** PTRT_ABI_VERSION of the implementation. */
    uint32_t abi_version;

    /** The text of the calling thread's last error ("" if none). */
    const char* (*last_error)(void);
    /** The TensorRT version the shim was compiled against and the one loaded at run time,
     *  as major * 10000 + minor * 100 + patch. */
    void (*version)(int32_t* compiled, int32_t* loaded);
    /** Routes TensorRT's log messages at `min_severity` or worse to `log` (null: drop). */
    void (*set_logger)(ptrt_log_fn log, void* user, int32_t min_severity);

    /** Parses an ONNX model into a new network (`path` locates external data; may be
     *  null). PTRT_NETWORK_* flags. */
    ptrt_status (*network_from_onnx)(const void* model, size_t size, const char* path,
                                     uint32_t flags, ptrt_network** out);
    void (*network_destroy)(ptrt_network* network);
    /** Nonzero when the network is strongly typed. */
    int32_t (*network_is_strongly_typed)(const ptrt_network* network);
    int32_t (*network_nb_layers)(const ptrt_network* network);
    ptrt_status (*network_layer)(const ptrt_network* network, int32_t layer,
                                 ptrt_layer_info* out);
    ptrt_status (*network_layer_input)(const ptrt_network* network, int32_t layer,
                                       int32_t input, ptrt_tensor_info* out);
    ptrt_status (*network_layer_output)(const ptrt_network* network, int32_t layer,
                                        int32_t output, ptrt_tensor_info* out);
    int32_t (*network_nb_inputs)(const ptrt_network* network);
    ptrt_status (*network_input)(const ptrt_network* network, int32_t index,
                                 ptrt_tensor_info* out);
    int32_t (*network_nb_outputs)(const ptrt_network* network);
    ptrt_status (*network_output)(const ptrt_network* network, int32_t index,
                                  ptrt_tensor_info* out);

    /** Precision hints (TensorRT <= 10; PTRT_UNSUPPORTED on 11). */
    ptrt_status (*layer_set_precision)(ptrt_network* network, int32_t layer, int32_t dtype);
    ptrt_status (*layer_reset_precision)(ptrt_network* network, int32_t layer);
    ptrt_status (*layer_set_output_type)(ptrt_network* network, int32_t layer, int32_t output,
                                         int32_t dtype);
    ptrt_status (*layer_reset_output_type)(ptrt_network* network, int32_t layer,
                                           int32_t output);

    /** Makes output `output` of `layer` a network output, or stops it being one. */
    ptrt_status (*mark_output)(ptrt_network* network, int32_t layer, int32_t output);
    ptrt_status (*unmark_output)(ptrt_network* network, int32_t layer, int32_t output);
    /** Marks a layer output as a debug tensor (TensorRT >= 10: read during enqueue without
     *  becoming an output, so fusions stay as they are), or unmarks it. */
    ptrt_status (*mark_debug)(ptrt_network* network, int32_t layer, int32_t output);
    ptrt_status (*unmark_debug)(ptrt_network* network, int32_t layer, int32_t output);

    /** Builds a serialized engine. On success *engine holds it and, when timing_cache_out
     *  is not null, *timing_cache_out the updated timing cache. A build TensorRT refuses is
     *  PTRT_BUILD_FAILED with TensorRT's error messages in last_error(). */
    ptrt_status (*build)(ptrt_network* network, const ptrt_build_options* options,
                         ptrt_blob** engine, ptrt_blob** timing_cache_out);

    /** The bytes of a blob. */
    void (*blob_data)(const ptrt_blob* blob, const void** data, size_t* size);
    void (*blob_destroy)(ptrt_blob* blob);

    /** Deserializes an engine on the current CUDA device. */
    ptrt_status (*engine_deserialize)(const void* data, size_t size, ptrt_engine** out);
    void (*engine_destroy)(ptrt_engine* engine);
    int32_t (*engine_nb_io)(const ptrt_engine* engine);
    ptrt_status (*engine_io)(const ptrt_engine* engine, int32_t index, ptrt_io_info* out);
    /** The engine inspector's information on every layer, as JSON (detailed when the build
     *  had PTRT_BUILD_DETAILED_PROFILING). */
    ptrt_status (*engine_layer_information)(const ptrt_engine* engine, ptrt_blob** json);

    ptrt_status (*context_create)(ptrt_engine* engine, ptrt_context** out);
    void (*context_destroy)(ptrt_context* context);
    ptrt_status (*context_set_input_shape)(ptrt_context* context, const char* name,
                                           const ptrt_dims* dims);
    /** The shape of an I/O tensor once the input shapes are set. */
    ptrt_status (*context_tensor_shape)(const ptrt_context* context, const char* name,
                                        ptrt_dims* out);
    ptrt_status (*context_set_tensor_address)(ptrt_context* context, const char* name,
                                              void* device_address);
    /** Calls `fn` for every debug tensor during enqueue (TensorRT >= 10). */
    ptrt_status (*context_set_debug_listener)(ptrt_context* context, ptrt_debug_fn fn,
                                              void* user);
    /** Enqueues inference on a CUDA stream (a cudaStream_t). */
    ptrt_status (*context_enqueue)(ptrt_context* context, void* stream);
} ptrt_api;

/** The shim's table (never null). */
const ptrt_api* ptrt_api_get(void);

#ifdef __cplusplus
}
#endif

#endif /* PRECISION_TRT_H */
