// precision_trt.cpp: precision's TensorRT shim, the C API of precision_trt.h over TensorRT's
// C++ classes. Builds against TensorRT 10.x and 11.x; calls that only 10.x has sit behind
// `#if NV_TENSORRT_MAJOR < 11` and answer PTRT_UNSUPPORTED on 11.
//
// Rules kept throughout:
// - No C++ exception leaves an entry point: each one runs inside `guarded`, which turns
//   std::bad_alloc into PTRT_OUT_OF_MEMORY and anything else into PTRT_ERROR.
// - TensorRT reports most failures only through its logger, so the logger keeps, per thread,
//   the error messages logged while an `ErrorCapture` is alive; a failed call returns them.
// - Objects are owned by unique_ptr, declared so that they die in the order TensorRT needs.

#include "precision_trt.h"

// TensorRT's headers use their own deprecated declarations and leave parameters of inline
// defaults unused; those warnings are about the headers, not this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <NvInfer.h>
#include <NvInferVersion.h>
#include <NvOnnxParser.h>
#pragma GCC diagnostic pop
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#if NV_TENSORRT_MAJOR < 10
#error "precision's TensorRT shim needs TensorRT 10 or newer"
#endif

// The TensorRT version these headers declare, encoded like getInferLibVersion().
#define PTRT_TRT_VERSION (NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH)

// TensorRT 10 marks the weakly typed API (precision hints, precision flags, calibrators)
// deprecated. precision exists to drive exactly that API on 10.x, so these warnings are
// silenced around the code that uses it, and nowhere else.
#define PTRT_DEPRECATED_BEGIN                                                                                \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wdeprecated-declarations\"")
#define PTRT_DEPRECATED_END _Pragma("GCC diagnostic pop")

namespace {

using nvinfer1::DataType;
using Severity = nvinfer1::ILogger::Severity;

// ---------------------------------------------------------------------------------------------
// Errors

thread_local std::string t_last_error;

// Stores `message` as the calling thread's last error; never throws.
void set_last_error(char const* message) noexcept {
    try {
        t_last_error = message;
    } catch (...) {
        t_last_error.clear();
    }
}

ptrt_status fail(ptrt_status status, std::string const& message) noexcept {
    set_last_error(message.c_str());
    return status;
}

// Runs `body` and turns any exception into a status with text.
template <class F> ptrt_status guarded(F&& body) noexcept {
    try {
        return body();
    } catch (std::bad_alloc const&) {
        set_last_error("out of host memory in the TensorRT shim");
        return PTRT_OUT_OF_MEMORY;
    } catch (std::exception const& e) {
        set_last_error(e.what());
        return PTRT_ERROR;
    } catch (...) {
        set_last_error("unknown C++ exception in the TensorRT shim");
        return PTRT_ERROR;
    }
}

// Runs `body` for entry points without a status (counts, destructors); exceptions give `fallback`.
template <class T, class F> T quietly(T fallback, F&& body) noexcept {
    try {
        return body();
    } catch (...) {
        return fallback;
    }
}

std::string lowercase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool contains(std::string const& haystack, char const* needle) {
    return haystack.find(needle) != std::string::npos;
}

bool mentions_out_of_memory(std::string const& text) {
    std::string const lower = lowercase(text);
    return contains(lower, "out of memory") || contains(lower, "cudaerrormemoryallocation")
           || contains(lower, "outofmemory");
}

// ---------------------------------------------------------------------------------------------
// Logger

// Error messages logged on this thread while an ErrorCapture is alive.
struct ThreadCapture {
    bool active = false;
    std::vector<std::string> errors;
};

thread_local ThreadCapture t_capture;

// The one logger handed to every builder, parser and runtime: forwards to the callback of
// set_logger and records error messages for the running call.
class Logger final : public nvinfer1::ILogger {
public:
    void log(Severity severity, nvinfer1::AsciiChar const* msg) noexcept override {
        try {
            char const* text = msg != nullptr ? msg : "";
            if (severity == Severity::kERROR || severity == Severity::kINTERNAL_ERROR) {
                if (t_capture.active)
                    t_capture.errors.emplace_back(text);
            }
            ptrt_log_fn fn = nullptr;
            void* user = nullptr;
            int32_t min_severity = 0;
            {
                std::lock_guard<std::mutex> lock(mMutex);
                fn = mFn;
                user = mUser;
                min_severity = mMinSeverity;
            }
            // Lower values are more severe (kINTERNAL_ERROR = 0 ... kVERBOSE = 4).
            if (fn != nullptr && static_cast<int32_t>(severity) <= min_severity)
                fn(user, static_cast<int32_t>(severity), text);
        } catch (...) {
            // A log message is not worth terminating for.
        }
    }

    void set(ptrt_log_fn fn, void* user, int32_t min_severity) noexcept {
        std::lock_guard<std::mutex> lock(mMutex);
        mFn = fn;
        mUser = user;
        mMinSeverity = min_severity;
    }

private:
    std::mutex mMutex;
    ptrt_log_fn mFn = nullptr;
    void* mUser = nullptr;
    int32_t mMinSeverity = PTRT_SEVERITY_WARNING;
};

Logger& logger() {
    static Logger instance;
    return instance;
}

// Records this thread's logged errors from construction to destruction.
class ErrorCapture {
public:
    ErrorCapture() : mOuter(std::move(t_capture)) {
        t_capture = ThreadCapture{};
        t_capture.active = true;
    }
    ~ErrorCapture() { t_capture = std::move(mOuter); }
    ErrorCapture(ErrorCapture const&) = delete;
    ErrorCapture& operator=(ErrorCapture const&) = delete;

    // The captured messages joined by newlines, or `fallback` when there are none.
    std::string text(char const* fallback) const {
        if (t_capture.errors.empty())
            return fallback;
        std::string joined;
        for (std::string const& line : t_capture.errors) {
            if (!joined.empty())
                joined += '\n';
            joined += line;
        }
        return joined;
    }

    // Fails with `status` (or PTRT_OUT_OF_MEMORY when the log says so) and the captured text.
    ptrt_status fail_with(ptrt_status status, char const* fallback) const {
        std::string message = text(fallback);
        return fail(mentions_out_of_memory(message) ? PTRT_OUT_OF_MEMORY : status, message);
    }

private:
    ThreadCapture mOuter;
};

// ---------------------------------------------------------------------------------------------
// Conversions

int32_t to_ptrt_dtype(DataType type) {
    switch (type) {
    case DataType::kFLOAT: return PTRT_DTYPE_FLOAT;
    case DataType::kHALF: return PTRT_DTYPE_HALF;
    case DataType::kINT8: return PTRT_DTYPE_INT8;
    case DataType::kINT32: return PTRT_DTYPE_INT32;
    case DataType::kBOOL: return PTRT_DTYPE_BOOL;
    case DataType::kUINT8: return PTRT_DTYPE_UINT8;
    case DataType::kFP8: return PTRT_DTYPE_FP8;
    case DataType::kBF16: return PTRT_DTYPE_BF16;
    case DataType::kINT64: return PTRT_DTYPE_INT64;
    case DataType::kINT4: return PTRT_DTYPE_INT4;
    case DataType::kFP4: return PTRT_DTYPE_FP4;
    default: return PTRT_DTYPE_OTHER;
    }
}

#if NV_TENSORRT_MAJOR < 11
// The TensorRT type of a ptrt_dtype; false for PTRT_DTYPE_OTHER and unknown values.
bool from_ptrt_dtype(int32_t dtype, DataType& out) {
    switch (dtype) {
    case PTRT_DTYPE_FLOAT: out = DataType::kFLOAT; return true;
    case PTRT_DTYPE_HALF: out = DataType::kHALF; return true;
    case PTRT_DTYPE_INT8: out = DataType::kINT8; return true;
    case PTRT_DTYPE_INT32: out = DataType::kINT32; return true;
    case PTRT_DTYPE_BOOL: out = DataType::kBOOL; return true;
    case PTRT_DTYPE_UINT8: out = DataType::kUINT8; return true;
    case PTRT_DTYPE_FP8: out = DataType::kFP8; return true;
    case PTRT_DTYPE_BF16: out = DataType::kBF16; return true;
    case PTRT_DTYPE_INT64: out = DataType::kINT64; return true;
    case PTRT_DTYPE_INT4: out = DataType::kINT4; return true;
    case PTRT_DTYPE_FP4: out = DataType::kFP4; return true;
    default: return false;
    }
}
#endif

ptrt_dims to_ptrt_dims(nvinfer1::Dims const& dims) {
    ptrt_dims out{};
    out.nb_dims = dims.nbDims;
    int32_t const n = std::min<int32_t>(std::max<int32_t>(dims.nbDims, 0), PTRT_MAX_DIMS);
    for (int32_t i = 0; i < n; ++i)
        out.d[i] = dims.d[i];
    return out;
}

// TensorRT dims of a ptrt_dims; false when nb_dims is out of range.
bool from_ptrt_dims(ptrt_dims const& dims, nvinfer1::Dims& out) {
    static_assert(PTRT_MAX_DIMS == nvinfer1::Dims::MAX_DIMS, "PTRT_MAX_DIMS must equal Dims::MAX_DIMS");
    if (dims.nb_dims < 0 || dims.nb_dims > PTRT_MAX_DIMS)
        return false;
    out = nvinfer1::Dims{};
    out.nbDims = dims.nb_dims;
    for (int32_t i = 0; i < dims.nb_dims; ++i)
        out.d[i] = dims.d[i];
    return true;
}

char const* layer_type_name(nvinfer1::LayerType type) {
    using nvinfer1::LayerType;
    switch (type) {
    case LayerType::kCONVOLUTION: return "CONVOLUTION";
    case LayerType::kCAST: return "CAST";
    case LayerType::kACTIVATION: return "ACTIVATION";
    case LayerType::kPOOLING: return "POOLING";
    case LayerType::kLRN: return "LRN";
    case LayerType::kSCALE: return "SCALE";
    case LayerType::kSOFTMAX: return "SOFTMAX";
    case LayerType::kDECONVOLUTION: return "DECONVOLUTION";
    case LayerType::kCONCATENATION: return "CONCATENATION";
    case LayerType::kELEMENTWISE: return "ELEMENTWISE";
    case LayerType::kPLUGIN: return "PLUGIN";
    case LayerType::kUNARY: return "UNARY";
    case LayerType::kPADDING: return "PADDING";
    case LayerType::kSHUFFLE: return "SHUFFLE";
    case LayerType::kREDUCE: return "REDUCE";
    case LayerType::kTOPK: return "TOPK";
    case LayerType::kGATHER: return "GATHER";
    case LayerType::kMATRIX_MULTIPLY: return "MATRIX_MULTIPLY";
    case LayerType::kRAGGED_SOFTMAX: return "RAGGED_SOFTMAX";
    case LayerType::kCONSTANT: return "CONSTANT";
    case LayerType::kIDENTITY: return "IDENTITY";
    case LayerType::kPLUGIN_V2: return "PLUGIN_V2";
    case LayerType::kSLICE: return "SLICE";
    case LayerType::kSHAPE: return "SHAPE";
    case LayerType::kPARAMETRIC_RELU: return "PARAMETRIC_RELU";
    case LayerType::kRESIZE: return "RESIZE";
    case LayerType::kTRIP_LIMIT: return "TRIP_LIMIT";
    case LayerType::kRECURRENCE: return "RECURRENCE";
    case LayerType::kITERATOR: return "ITERATOR";
    case LayerType::kLOOP_OUTPUT: return "LOOP_OUTPUT";
    case LayerType::kSELECT: return "SELECT";
    case LayerType::kFILL: return "FILL";
    case LayerType::kQUANTIZE: return "QUANTIZE";
    case LayerType::kDEQUANTIZE: return "DEQUANTIZE";
    case LayerType::kCONDITION: return "CONDITION";
    case LayerType::kCONDITIONAL_INPUT: return "CONDITIONAL_INPUT";
    case LayerType::kCONDITIONAL_OUTPUT: return "CONDITIONAL_OUTPUT";
    case LayerType::kSCATTER: return "SCATTER";
    case LayerType::kEINSUM: return "EINSUM";
    case LayerType::kASSERTION: return "ASSERTION";
    case LayerType::kONE_HOT: return "ONE_HOT";
    case LayerType::kNON_ZERO: return "NON_ZERO";
    case LayerType::kGRID_SAMPLE: return "GRID_SAMPLE";
    case LayerType::kNMS: return "NMS";
    case LayerType::kREVERSE_SEQUENCE: return "REVERSE_SEQUENCE";
    case LayerType::kNORMALIZATION: return "NORMALIZATION";
    case LayerType::kPLUGIN_V3: return "PLUGIN_V3";
    case LayerType::kSQUEEZE: return "SQUEEZE";
    case LayerType::kUNSQUEEZE: return "UNSQUEEZE";
    case LayerType::kCUMULATIVE: return "CUMULATIVE";
    case LayerType::kDYNAMIC_QUANTIZE: return "DYNAMIC_QUANTIZE";
    case LayerType::kATTENTION_INPUT: return "ATTENTION_INPUT";
    case LayerType::kATTENTION_OUTPUT: return "ATTENTION_OUTPUT";
    case LayerType::kROTARY_EMBEDDING: return "ROTARY_EMBEDDING";
    case LayerType::kKVCACHE_UPDATE: return "KVCACHE_UPDATE";
    case LayerType::kMOE: return "MOE";
    case LayerType::kDIST_COLLECTIVE: return "DIST_COLLECTIVE";
    default: return "UNKNOWN";
    }
}

char const* or_empty(char const* text) {
    return text != nullptr ? text : "";
}

// ---------------------------------------------------------------------------------------------
// CUDA

// PTRT_OK when CUDA sees at least one device, else PTRT_NO_DEVICE with CUDA's reason.
ptrt_status check_device() {
    int count = 0;
    cudaError_t const err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        static_cast<void>(cudaGetLastError()); // do not leave the error for later calls
        std::string const message = std::string("no usable CUDA device: cudaGetDeviceCount failed with ")
                                    + or_empty(cudaGetErrorName(err)) + " ("
                                    + or_empty(cudaGetErrorString(err)) + ")";
        return fail(err == cudaErrorMemoryAllocation ? PTRT_OUT_OF_MEMORY : PTRT_NO_DEVICE, message);
    }
    if (count <= 0)
        return fail(PTRT_NO_DEVICE, "no usable CUDA device: cudaGetDeviceCount found none");
    return PTRT_OK;
}

#if NV_TENSORRT_MAJOR < 11
// ---------------------------------------------------------------------------------------------
// INT8 calibrators (TensorRT 10 only): one class per algorithm, all forwarding to the caller.

PTRT_DEPRECATED_BEGIN

template <class Base> class Calibrator : public Base {
public:
    explicit Calibrator(ptrt_calibrator const& c) : mC(c) {}

    int32_t getBatchSize() const noexcept override { return mC.batch_size; }

    bool getBatch(void* bindings[], char const* names[], int32_t nbBindings) noexcept override {
        return mC.get_batch != nullptr && mC.get_batch(mC.user, bindings, names, nbBindings) != 0;
    }

    void const* readCalibrationCache(std::size_t& length) noexcept override {
        void const* data = nullptr;
        size_t size = 0;
        if (mC.read_cache != nullptr)
            mC.read_cache(mC.user, &data, &size);
        length = data != nullptr ? size : 0;
        return length != 0 ? data : nullptr;
    }

    void writeCalibrationCache(void const* ptr, std::size_t length) noexcept override {
        if (mC.write_cache != nullptr)
            mC.write_cache(mC.user, ptr, length);
    }

private:
    ptrt_calibrator mC;
};

// The legacy algorithm also asks for a quantile and a regression cutoff; 0.5 for both, as
// Polygraphy's defaults. It keeps no histogram cache.
class LegacyCalibrator final : public Calibrator<nvinfer1::IInt8LegacyCalibrator> {
public:
    using Calibrator::Calibrator;

    double getQuantile() const noexcept override { return 0.5; }
    double getRegressionCutoff() const noexcept override { return 0.5; }
    void const* readHistogramCache(std::size_t& length) noexcept override {
        length = 0;
        return nullptr;
    }
    void writeHistogramCache(void const* /*ptr*/, std::size_t /*length*/) noexcept override {}
};

// The calibrator for c.algorithm, or null for an unknown algorithm.
std::unique_ptr<nvinfer1::IInt8Calibrator> make_calibrator(ptrt_calibrator const& c) {
    switch (c.algorithm) {
    case PTRT_CALIBRATION_ENTROPY2: return std::make_unique<Calibrator<nvinfer1::IInt8EntropyCalibrator2>>(c);
    case PTRT_CALIBRATION_MINMAX: return std::make_unique<Calibrator<nvinfer1::IInt8MinMaxCalibrator>>(c);
    case PTRT_CALIBRATION_ENTROPY: return std::make_unique<Calibrator<nvinfer1::IInt8EntropyCalibrator>>(c);
    case PTRT_CALIBRATION_LEGACY: return std::make_unique<LegacyCalibrator>(c);
    default: return nullptr;
    }
}

PTRT_DEPRECATED_END
#endif

#if NV_TENSORRT_MAJOR >= 11
// Says what TensorRT 11 answers to the weakly typed API.
ptrt_status strongly_typed_only(char const* what) {
    return fail(PTRT_UNSUPPORTED,
                std::string(what)
                    + " is not available: TensorRT 11 has only strongly typed networks (types come from the "
                      "model; insert Cast or QuantizeLinear/DequantizeLinear nodes instead)");
}
#endif

// ---------------------------------------------------------------------------------------------
// Debug listener: hands each debug tensor to the caller during enqueue.

class DebugListener final : public nvinfer1::IDebugListener {
public:
    DebugListener(ptrt_debug_fn fn, void* user) : mFn(fn), mUser(user) {}

    bool processDebugTensor(void const* addr, nvinfer1::TensorLocation location, DataType type,
                            nvinfer1::Dims const& shape, char const* name,
                            cudaStream_t stream) noexcept override {
        // The API promises device buffers; tensors TensorRT keeps on the host (shape tensors)
        // are not numerics a precision search compares, so they are passed over.
        if (location != nvinfer1::TensorLocation::kDEVICE)
            return true;
        ptrt_dims const dims = to_ptrt_dims(shape);
        return mFn(mUser, addr, to_ptrt_dtype(type), &dims, name, static_cast<void*>(stream)) != 0;
    }

private:
    ptrt_debug_fn mFn;
    void* mUser;
};

} // namespace

// ---------------------------------------------------------------------------------------------
// Handles. Members are declared in reverse order of destruction.

struct ptrt_network {
    // The last build's timing cache: TensorRT wants it to outlive the builders that used it.
    std::unique_ptr<nvinfer1::ITimingCache> timing_cache;
    std::unique_ptr<nvinfer1::IBuilder> builder;
    std::unique_ptr<nvinfer1::INetworkDefinition> network;
    std::unique_ptr<nvonnxparser::IParser> parser;
};

struct ptrt_blob {
    std::unique_ptr<nvinfer1::IHostMemory> host;
    std::string bytes;
};

struct ptrt_engine {
    std::unique_ptr<nvinfer1::IRuntime> runtime;
    std::unique_ptr<nvinfer1::ICudaEngine> engine;
};

struct ptrt_context {
    ptrt_engine* engine = nullptr; // not owned
    std::unique_ptr<DebugListener> listener;
    std::unique_ptr<nvinfer1::IExecutionContext> context;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers on handles

ptrt_status invalid(std::string const& message) {
    return fail(PTRT_INVALID_ARGUMENT, message);
}

// Layer `index` of the network, or null after setting the error.
nvinfer1::ILayer* find_layer(ptrt_network const* n, int32_t index) {
    if (n == nullptr || !n->network) {
        invalid("the network handle is null");
        return nullptr;
    }
    int32_t const count = n->network->getNbLayers();
    if (index < 0 || index >= count) {
        invalid("layer index " + std::to_string(index) + " is out of range (the network has "
                + std::to_string(count) + " layers)");
        return nullptr;
    }
    return n->network->getLayer(index);
}

// Output `output` of layer `layer`, or null after setting the error.
nvinfer1::ITensor* find_output(ptrt_network const* n, int32_t layer, int32_t output) {
    nvinfer1::ILayer* l = find_layer(n, layer);
    if (l == nullptr)
        return nullptr;
    if (output < 0 || output >= l->getNbOutputs()) {
        invalid("output index " + std::to_string(output) + " is out of range (layer " + std::to_string(layer)
                + " '" + or_empty(l->getName()) + "' has " + std::to_string(l->getNbOutputs()) + " outputs)");
        return nullptr;
    }
    return l->getOutput(output);
}

void fill_tensor_info(nvinfer1::INetworkDefinition const& network, nvinfer1::ITensor const* t,
                      ptrt_tensor_info* out) {
    *out = ptrt_tensor_info{};
    if (t == nullptr) {
        out->dtype = PTRT_DTYPE_OTHER; // an absent optional input: only the null name matters
        return;
    }
    out->name = t->getName();
    out->dtype = to_ptrt_dtype(t->getType());
    out->is_shape_tensor = t->isShapeTensor() ? 1 : 0;
    out->is_network_input = t->isNetworkInput() ? 1 : 0;
    out->is_network_output = t->isNetworkOutput() ? 1 : 0;
    out->is_debug = network.isDebugTensor(*t) ? 1 : 0;
    out->dims = to_ptrt_dims(t->getDimensions());
}

ptrt_blob* blob_of_host(nvinfer1::IHostMemory* memory) {
    std::unique_ptr<nvinfer1::IHostMemory> owned(memory);
    auto blob = std::make_unique<ptrt_blob>();
    blob->host = std::move(owned);
    return blob.release();
}

// ---------------------------------------------------------------------------------------------
// Entry points: general

char const* api_last_error() noexcept {
    return t_last_error.c_str();
}

void api_version(int32_t* compiled, int32_t* loaded) noexcept {
    if (compiled != nullptr)
        *compiled = PTRT_TRT_VERSION;
    if (loaded != nullptr) {
        // Encoded as (major * 100 + minor) * 100 + patch in 10.x and 11.x alike.
        *loaded = getInferLibVersion();
    }
}

void api_set_logger(ptrt_log_fn fn, void* user, int32_t min_severity) noexcept {
    logger().set(fn, user, min_severity);
}

// ---------------------------------------------------------------------------------------------
// Entry points: network

ptrt_status api_network_from_onnx(void const* model, size_t size, char const* path, uint32_t flags,
                                  ptrt_network** out) noexcept {
    return guarded([&] {
        if (out == nullptr || model == nullptr || size == 0)
            return invalid("network_from_onnx needs the model bytes and an output handle");
        *out = nullptr;
        if ((flags & ~static_cast<uint32_t>(PTRT_NETWORK_STRONGLY_TYPED)) != 0)
            return invalid("unknown network flags " + std::to_string(flags));
        ptrt_status const device = check_device();
        if (device != PTRT_OK)
            return device;
        ErrorCapture capture;
        auto n = std::make_unique<ptrt_network>();
        n->builder.reset(nvinfer1::createInferBuilder(logger()));
        if (!n->builder)
            return capture.fail_with(PTRT_ERROR, "TensorRT could not create a builder");
        nvinfer1::NetworkDefinitionCreationFlags trt_flags = 0;
#if NV_TENSORRT_MAJOR < 11
        if ((flags & PTRT_NETWORK_STRONGLY_TYPED) != 0) {
            trt_flags |=
                1U << static_cast<uint32_t>(nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
        }
#endif
        // On 11 every network is strongly typed and the flag is deprecated: pass none.
        n->network.reset(n->builder->createNetworkV2(trt_flags));
        if (!n->network)
            return capture.fail_with(PTRT_ERROR, "TensorRT could not create a network definition");
        n->parser.reset(nvonnxparser::createParser(*n->network, logger()));
        if (!n->parser)
            return capture.fail_with(PTRT_ERROR, "TensorRT could not create an ONNX parser");
        if (!n->parser->parse(model, size, path)) {
            std::string message;
            for (int32_t i = 0; i < n->parser->getNbErrors(); ++i) {
                nvonnxparser::IParserError const* e = n->parser->getError(i);
                if (e == nullptr)
                    continue;
                if (!message.empty())
                    message += '\n';
                message += "node " + std::to_string(e->node()) + " '" + or_empty(e->nodeName()) + "' ("
                           + or_empty(e->nodeOperator()) + "): " + or_empty(e->desc());
            }
            if (message.empty())
                message = capture.text("the ONNX parser rejected the model without saying why");
            return fail(mentions_out_of_memory(message) ? PTRT_OUT_OF_MEMORY : PTRT_PARSE_FAILED, message);
        }
        *out = n.release();
        return PTRT_OK;
    });
}

void api_network_destroy(ptrt_network* network) noexcept {
    delete network;
}

int32_t api_network_is_strongly_typed(ptrt_network const* n) noexcept {
    return quietly<int32_t>(0, [&]() -> int32_t {
        if (n == nullptr || !n->network)
            return 0;
#if NV_TENSORRT_MAJOR < 11
        return n->network->getFlag(nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED) ? 1 : 0;
#else
        return 1;
#endif
    });
}

int32_t api_network_nb_layers(ptrt_network const* n) noexcept {
    return n != nullptr && n->network ? n->network->getNbLayers() : 0;
}

ptrt_status api_network_layer(ptrt_network const* n, int32_t layer, ptrt_layer_info* out) noexcept {
    return guarded([&] {
        if (out == nullptr)
            return invalid("network_layer needs an output struct");
        nvinfer1::ILayer const* l = find_layer(n, layer);
        if (l == nullptr)
            return PTRT_INVALID_ARGUMENT;
        *out = ptrt_layer_info{};
        out->name = l->getName();
        out->type_name = layer_type_name(l->getType());
        out->nb_inputs = l->getNbInputs();
        out->nb_outputs = l->getNbOutputs();
#if NV_TENSORRT_MAJOR < 11
        PTRT_DEPRECATED_BEGIN
        out->precision_is_set = l->precisionIsSet() ? 1 : 0;
        out->precision = to_ptrt_dtype(l->getPrecision());
        PTRT_DEPRECATED_END
#else
        // No layer precision on 11: report the type of the first output (the model's choice).
        out->precision_is_set = 0;
        out->precision = l->getNbOutputs() > 0 ? to_ptrt_dtype(l->getOutputType(0)) : PTRT_DTYPE_FLOAT;
#endif
        return PTRT_OK;
    });
}

ptrt_status api_network_layer_input(ptrt_network const* n, int32_t layer, int32_t input,
                                    ptrt_tensor_info* out) noexcept {
    return guarded([&] {
        if (out == nullptr)
            return invalid("network_layer_input needs an output struct");
        nvinfer1::ILayer const* l = find_layer(n, layer);
        if (l == nullptr)
            return PTRT_INVALID_ARGUMENT;
        if (input < 0 || input >= l->getNbInputs()) {
            return invalid("input index " + std::to_string(input) + " is out of range (layer "
                           + std::to_string(layer) + " has " + std::to_string(l->getNbInputs()) + " inputs)");
        }
        fill_tensor_info(*n->network, l->getInput(input), out);
        return PTRT_OK;
    });
}

ptrt_status api_network_layer_output(ptrt_network const* n, int32_t layer, int32_t output,
                                     ptrt_tensor_info* out) noexcept {
    return guarded([&] {
        if (out == nullptr)
            return invalid("network_layer_output needs an output struct");
        nvinfer1::ITensor const* t = find_output(n, layer, output);
        if (t == nullptr)
            return PTRT_INVALID_ARGUMENT;
        fill_tensor_info(*n->network, t, out);
        return PTRT_OK;
    });
}

int32_t api_network_nb_inputs(ptrt_network const* n) noexcept {
    return n != nullptr && n->network ? n->network->getNbInputs() : 0;
}

int32_t api_network_nb_outputs(ptrt_network const* n) noexcept {
    return n != nullptr && n->network ? n->network->getNbOutputs() : 0;
}

// Network input or output `index` (`outputs` chooses which list).
ptrt_status network_io(ptrt_network const* n, int32_t index, bool outputs, ptrt_tensor_info* out) noexcept {
    return guarded([&] {
        if (n == nullptr || !n->network || out == nullptr)
            return invalid("the network handle or the output struct is null");
        int32_t const count = outputs ? n->network->getNbOutputs() : n->network->getNbInputs();
        if (index < 0 || index >= count) {
            return invalid(std::string(outputs ? "output" : "input") + " index " + std::to_string(index)
                           + " is out of range (the network has " + std::to_string(count) + ")");
        }
        fill_tensor_info(*n->network, outputs ? n->network->getOutput(index) : n->network->getInput(index),
                         out);
        return PTRT_OK;
    });
}

ptrt_status api_network_input(ptrt_network const* n, int32_t index, ptrt_tensor_info* out) noexcept {
    return network_io(n, index, false, out);
}

ptrt_status api_network_output(ptrt_network const* n, int32_t index, ptrt_tensor_info* out) noexcept {
    return network_io(n, index, true, out);
}

// ---------------------------------------------------------------------------------------------
// Entry points: precision hints (TensorRT 10 only)

ptrt_status api_layer_set_precision(ptrt_network* n, int32_t layer, int32_t dtype) noexcept {
    return guarded([&] {
#if NV_TENSORRT_MAJOR < 11
        nvinfer1::ILayer* l = find_layer(n, layer);
        if (l == nullptr)
            return PTRT_INVALID_ARGUMENT;
        DataType type{};
        if (!from_ptrt_dtype(dtype, type))
            return invalid("unknown data type " + std::to_string(dtype));
        PTRT_DEPRECATED_BEGIN
        l->setPrecision(type);
        PTRT_DEPRECATED_END
        return PTRT_OK;
#else
        static_cast<void>(n);
        static_cast<void>(layer);
        static_cast<void>(dtype);
        return strongly_typed_only("layer_set_precision");
#endif
    });
}

ptrt_status api_layer_reset_precision(ptrt_network* n, int32_t layer) noexcept {
    return guarded([&] {
#if NV_TENSORRT_MAJOR < 11
        nvinfer1::ILayer* l = find_layer(n, layer);
        if (l == nullptr)
            return PTRT_INVALID_ARGUMENT;
        PTRT_DEPRECATED_BEGIN
        l->resetPrecision();
        PTRT_DEPRECATED_END
        return PTRT_OK;
#else
        static_cast<void>(n);
        static_cast<void>(layer);
        return strongly_typed_only("layer_reset_precision");
#endif
    });
}

ptrt_status api_layer_set_output_type(ptrt_network* n, int32_t layer, int32_t output,
                                      int32_t dtype) noexcept {
    return guarded([&] {
#if NV_TENSORRT_MAJOR < 11
        if (find_output(n, layer, output) == nullptr)
            return PTRT_INVALID_ARGUMENT;
        DataType type{};
        if (!from_ptrt_dtype(dtype, type))
            return invalid("unknown data type " + std::to_string(dtype));
        PTRT_DEPRECATED_BEGIN
        n->network->getLayer(layer)->setOutputType(output, type);
        PTRT_DEPRECATED_END
        return PTRT_OK;
#else
        static_cast<void>(n);
        static_cast<void>(layer);
        static_cast<void>(output);
        static_cast<void>(dtype);
        return strongly_typed_only("layer_set_output_type");
#endif
    });
}

ptrt_status api_layer_reset_output_type(ptrt_network* n, int32_t layer, int32_t output) noexcept {
    return guarded([&] {
#if NV_TENSORRT_MAJOR < 11
        if (find_output(n, layer, output) == nullptr)
            return PTRT_INVALID_ARGUMENT;
        PTRT_DEPRECATED_BEGIN
        n->network->getLayer(layer)->resetOutputType(output);
        PTRT_DEPRECATED_END
        return PTRT_OK;
#else
        static_cast<void>(n);
        static_cast<void>(layer);
        static_cast<void>(output);
        return strongly_typed_only("layer_reset_output_type");
#endif
    });
}

// ---------------------------------------------------------------------------------------------
// Entry points: outputs and debug tensors

ptrt_status api_mark_output(ptrt_network* n, int32_t layer, int32_t output) noexcept {
    return guarded([&] {
        nvinfer1::ITensor* t = find_output(n, layer, output);
        if (t == nullptr)
            return PTRT_INVALID_ARGUMENT;
        if (t->isNetworkOutput())
            return PTRT_OK; // already one
        ErrorCapture capture;
        n->network->markOutput(*t);
        if (!t->isNetworkOutput())
            return capture.fail_with(PTRT_ERROR, "TensorRT did not mark the tensor as a network output");
        return PTRT_OK;
    });
}

ptrt_status api_unmark_output(ptrt_network* n, int32_t layer, int32_t output) noexcept {
    return guarded([&] {
        nvinfer1::ITensor* t = find_output(n, layer, output);
        if (t == nullptr)
            return PTRT_INVALID_ARGUMENT;
        if (!t->isNetworkOutput())
            return invalid(std::string("tensor '") + or_empty(t->getName()) + "' is not a network output");
        ErrorCapture capture;
        n->network->unmarkOutput(*t);
        if (t->isNetworkOutput())
            return capture.fail_with(PTRT_ERROR, "TensorRT kept the tensor as a network output");
        return PTRT_OK;
    });
}

// Marks (`mark`) or unmarks output `output` of `layer` as a debug tensor.
ptrt_status set_debug(ptrt_network* n, int32_t layer, int32_t output, bool mark) noexcept {
    return guarded([&] {
        nvinfer1::ITensor* t = find_output(n, layer, output);
        if (t == nullptr)
            return PTRT_INVALID_ARGUMENT;
        ErrorCapture capture;
        bool const ok = mark ? n->network->markDebug(*t) : n->network->unmarkDebug(*t);
        if (!ok) {
            return capture.fail_with(PTRT_ERROR, mark
                                                     ? "TensorRT refused to mark the tensor as a debug tensor"
                                                     : "TensorRT refused to unmark the debug tensor");
        }
        return PTRT_OK;
    });
}

ptrt_status api_mark_debug(ptrt_network* n, int32_t layer, int32_t output) noexcept {
    return set_debug(n, layer, output, true);
}

ptrt_status api_unmark_debug(ptrt_network* n, int32_t layer, int32_t output) noexcept {
    return set_debug(n, layer, output, false);
}

// ---------------------------------------------------------------------------------------------
// Entry points: build

constexpr uint32_t kWeakFlags = PTRT_BUILD_FP16 | PTRT_BUILD_INT8 | PTRT_BUILD_BF16
                                | PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS
                                | PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS;
constexpr uint32_t kAllBuildFlags = kWeakFlags | PTRT_BUILD_DISABLE_TF32 | PTRT_BUILD_DETAILED_PROFILING;

// Whether a failed build's log says a calibration cache was refused.
bool mentions_rejected_calibration_cache(std::string const& text) {
    std::string const lower = lowercase(text);
    if (!contains(lower, "calibrat"))
        return false;
    return contains(lower, "mismatch") || contains(lower, "does not match")
           || contains(lower, "doesn't match") || contains(lower, "reject") || contains(lower, "incompatible")
           || contains(lower, "invalid cache") || contains(lower, "cache is invalid")
           || contains(lower, "corrupt");
}

ptrt_status api_build(ptrt_network* n, ptrt_build_options const* options, ptrt_blob** engine,
                      ptrt_blob** timing_cache_out) noexcept {
    return guarded([&] {
        if (n == nullptr || !n->network || options == nullptr || engine == nullptr)
            return invalid("build needs a network, options and an output handle");
        *engine = nullptr;
        if (timing_cache_out != nullptr)
            *timing_cache_out = nullptr;
        uint32_t const flags = options->flags;
        if ((flags & ~kAllBuildFlags) != 0)
            return invalid("unknown build flags " + std::to_string(flags & ~kAllBuildFlags));
#if NV_TENSORRT_MAJOR >= 11
        if ((flags & kWeakFlags) != 0)
            return strongly_typed_only("the FP16/INT8/BF16 and precision-constraint build flags");
        if (options->calibrator != nullptr)
            return strongly_typed_only("INT8 calibration");
#endif
        if (options->nb_input_shapes < 0
            || (options->nb_input_shapes > 0 && options->input_shapes == nullptr)) {
            return invalid("input_shapes is null or nb_input_shapes is negative");
        }

        ErrorCapture capture;
#if NV_TENSORRT_MAJOR < 11
        // Declared before the config so it outlives it.
        PTRT_DEPRECATED_BEGIN
        std::unique_ptr<nvinfer1::IInt8Calibrator> calibrator;
        PTRT_DEPRECATED_END
#endif
        std::unique_ptr<nvinfer1::IBuilderConfig> config(n->builder->createBuilderConfig());
        if (!config)
            return capture.fail_with(PTRT_ERROR, "TensorRT could not create a builder config");

#if NV_TENSORRT_MAJOR < 11
        PTRT_DEPRECATED_BEGIN
        using nvinfer1::BuilderFlag;
        if ((flags & PTRT_BUILD_FP16) != 0)
            config->setFlag(BuilderFlag::kFP16);
        if ((flags & PTRT_BUILD_INT8) != 0)
            config->setFlag(BuilderFlag::kINT8);
        if ((flags & PTRT_BUILD_BF16) != 0)
            config->setFlag(BuilderFlag::kBF16);
        if ((flags & PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS) != 0)
            config->setFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
        if ((flags & PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS) != 0)
            config->setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
        PTRT_DEPRECATED_END
#endif
        if ((flags & PTRT_BUILD_DISABLE_TF32) != 0)
            config->clearFlag(nvinfer1::BuilderFlag::kTF32);
        if ((flags & PTRT_BUILD_DETAILED_PROFILING) != 0)
            config->setProfilingVerbosity(nvinfer1::ProfilingVerbosity::kDETAILED);
        if (options->workspace_bytes != 0) {
            config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE,
                                       static_cast<std::size_t>(options->workspace_bytes));
        }

        // Timing cache: the given one, or an empty one when the caller wants the cache back.
        bool const has_cache = options->timing_cache != nullptr && options->timing_cache_size != 0;
        if (has_cache || timing_cache_out != nullptr) {
            std::unique_ptr<nvinfer1::ITimingCache> cache(config->createTimingCache(
                has_cache ? options->timing_cache : nullptr, has_cache ? options->timing_cache_size : 0));
            if (!cache) {
                return capture.fail_with(has_cache ? PTRT_CACHE_REJECTED : PTRT_ERROR,
                                         has_cache ? "TensorRT could not read the timing cache"
                                                   : "TensorRT could not create a timing cache");
            }
            if (!config->setTimingCache(*cache, false)) {
                return capture.fail_with(
                    PTRT_CACHE_REJECTED,
                    "TensorRT refused the timing cache (made by another TensorRT version or device)");
            }
            n->timing_cache = std::move(cache);
        }

        // One optimization profile fixing every given input to one shape.
        nvinfer1::IOptimizationProfile* profile = nullptr;
        if (options->nb_input_shapes > 0) {
            profile = n->builder->createOptimizationProfile(); // owned by the builder
            if (profile == nullptr)
                return capture.fail_with(PTRT_ERROR, "TensorRT could not create an optimization profile");
            for (int32_t i = 0; i < options->nb_input_shapes; ++i) {
                ptrt_input_shape const& shape = options->input_shapes[i];
                nvinfer1::Dims dims{};
                if (shape.name == nullptr || !from_ptrt_dims(shape.dims, dims)) {
                    return invalid("input shape " + std::to_string(i)
                                   + " has no name or a rank outside 0..8");
                }
                using nvinfer1::OptProfileSelector;
                if (!profile->setDimensions(shape.name, OptProfileSelector::kMIN, dims)
                    || !profile->setDimensions(shape.name, OptProfileSelector::kOPT, dims)
                    || !profile->setDimensions(shape.name, OptProfileSelector::kMAX, dims)) {
                    return capture.fail_with(
                        PTRT_INVALID_ARGUMENT,
                        (std::string("TensorRT refused the shape of input '") + shape.name + "'").c_str());
                }
            }
            if (config->addOptimizationProfile(profile) < 0)
                return capture.fail_with(PTRT_INVALID_ARGUMENT, "TensorRT refused the optimization profile");
        }

#if NV_TENSORRT_MAJOR < 11
        if (options->calibrator != nullptr) {
            calibrator = make_calibrator(*options->calibrator);
            if (!calibrator) {
                return invalid("unknown calibration algorithm "
                               + std::to_string(options->calibrator->algorithm));
            }
            PTRT_DEPRECATED_BEGIN
            config->setInt8Calibrator(calibrator.get());
            // Networks with dynamic inputs calibrate with a profile of their own.
            if (profile != nullptr && !config->setCalibrationProfile(profile))
                return capture.fail_with(PTRT_INVALID_ARGUMENT, "TensorRT refused the calibration profile");
            PTRT_DEPRECATED_END
        }
#endif

        std::unique_ptr<nvinfer1::IHostMemory> plan(n->builder->buildSerializedNetwork(*n->network, *config));
        if (!plan) {
            std::string const message = capture.text(
                "TensorRT failed to build the engine without logging an error on this thread; set a logger "
                "to see its messages");
            ptrt_status status = PTRT_BUILD_FAILED;
            if (mentions_out_of_memory(message))
                status = PTRT_OUT_OF_MEMORY;
            else if (mentions_rejected_calibration_cache(message))
                status = PTRT_CACHE_REJECTED;
            return fail(status, message);
        }

        if (timing_cache_out != nullptr) {
            nvinfer1::ITimingCache const* used = config->getTimingCache();
            std::unique_ptr<nvinfer1::IHostMemory> bytes(used != nullptr ? used->serialize() : nullptr);
            if (!bytes)
                return capture.fail_with(PTRT_ERROR, "TensorRT could not serialize the timing cache");
            *timing_cache_out = blob_of_host(bytes.release());
        }
        *engine = blob_of_host(plan.release());
        return PTRT_OK;
    });
}

// ---------------------------------------------------------------------------------------------
// Entry points: blobs

void api_blob_data(ptrt_blob const* blob, void const** data, size_t* size) noexcept {
    void const* d = nullptr;
    size_t s = 0;
    if (blob != nullptr) {
        if (blob->host) {
            d = blob->host->data();
            s = blob->host->size();
        } else {
            d = blob->bytes.data();
            s = blob->bytes.size();
        }
    }
    if (data != nullptr)
        *data = d;
    if (size != nullptr)
        *size = s;
}

void api_blob_destroy(ptrt_blob* blob) noexcept {
    delete blob;
}

// ---------------------------------------------------------------------------------------------
// Entry points: engine

ptrt_status api_engine_deserialize(void const* data, size_t size, ptrt_engine** out) noexcept {
    return guarded([&] {
        if (data == nullptr || size == 0 || out == nullptr)
            return invalid("engine_deserialize needs the engine bytes and an output handle");
        *out = nullptr;
        ptrt_status const device = check_device();
        if (device != PTRT_OK)
            return device;
        ErrorCapture capture;
        auto e = std::make_unique<ptrt_engine>();
        e->runtime.reset(nvinfer1::createInferRuntime(logger()));
        if (!e->runtime)
            return capture.fail_with(PTRT_ERROR, "TensorRT could not create a runtime");
        e->engine.reset(e->runtime->deserializeCudaEngine(data, size));
        if (!e->engine)
            return capture.fail_with(PTRT_ERROR, "TensorRT could not deserialize the engine");
        *out = e.release();
        return PTRT_OK;
    });
}

void api_engine_destroy(ptrt_engine* engine) noexcept {
    delete engine;
}

int32_t api_engine_nb_io(ptrt_engine const* e) noexcept {
    return e != nullptr && e->engine ? e->engine->getNbIOTensors() : 0;
}

ptrt_status api_engine_io(ptrt_engine const* e, int32_t index, ptrt_io_info* out) noexcept {
    return guarded([&] {
        if (e == nullptr || !e->engine || out == nullptr)
            return invalid("the engine handle or the output struct is null");
        int32_t const count = e->engine->getNbIOTensors();
        if (index < 0 || index >= count) {
            return invalid("I/O tensor index " + std::to_string(index) + " is out of range (the engine has "
                           + std::to_string(count) + ")");
        }
        char const* name = e->engine->getIOTensorName(index);
        *out = ptrt_io_info{};
        out->name = name;
        out->dtype = to_ptrt_dtype(e->engine->getTensorDataType(name));
        out->is_input = e->engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT ? 1 : 0;
        out->dims = to_ptrt_dims(e->engine->getTensorShape(name));
        return PTRT_OK;
    });
}

ptrt_status api_engine_layer_information(ptrt_engine const* e, ptrt_blob** json) noexcept {
    return guarded([&] {
        if (e == nullptr || !e->engine || json == nullptr)
            return invalid("the engine handle or the output handle is null");
        *json = nullptr;
        ErrorCapture capture;
        std::unique_ptr<nvinfer1::IEngineInspector> inspector(e->engine->createEngineInspector());
        if (!inspector)
            return capture.fail_with(PTRT_ERROR, "TensorRT could not create an engine inspector");
        char const* text = inspector->getEngineInformation(nvinfer1::LayerInformationFormat::kJSON);
        if (text == nullptr)
            return capture.fail_with(PTRT_ERROR, "the engine inspector returned no layer information");
        auto blob = std::make_unique<ptrt_blob>();
        blob->bytes = text;
        *json = blob.release();
        return PTRT_OK;
    });
}

// ---------------------------------------------------------------------------------------------
// Entry points: execution context

ptrt_status api_context_create(ptrt_engine* e, ptrt_context** out) noexcept {
    return guarded([&] {
        if (e == nullptr || !e->engine || out == nullptr)
            return invalid("the engine handle or the output handle is null");
        *out = nullptr;
        ErrorCapture capture;
        auto c = std::make_unique<ptrt_context>();
        c->engine = e;
        c->context.reset(e->engine->createExecutionContext());
        if (!c->context)
            return capture.fail_with(PTRT_ERROR, "TensorRT could not create an execution context");
        *out = c.release();
        return PTRT_OK;
    });
}

void api_context_destroy(ptrt_context* context) noexcept {
    delete context;
}

ptrt_status api_context_set_input_shape(ptrt_context* c, char const* name, ptrt_dims const* dims) noexcept {
    return guarded([&] {
        if (c == nullptr || !c->context || name == nullptr || dims == nullptr)
            return invalid("context_set_input_shape needs a context, a name and dims");
        nvinfer1::Dims trt_dims{};
        if (!from_ptrt_dims(*dims, trt_dims))
            return invalid("the shape of input '" + std::string(name) + "' has a rank outside 0..8");
        ErrorCapture capture;
        if (!c->context->setInputShape(name, trt_dims)) {
            return capture.fail_with(
                PTRT_INVALID_ARGUMENT,
                (std::string("TensorRT refused the shape of input '") + name + "'").c_str());
        }
        return PTRT_OK;
    });
}

ptrt_status api_context_tensor_shape(ptrt_context const* c, char const* name, ptrt_dims* out) noexcept {
    return guarded([&] {
        if (c == nullptr || !c->context || name == nullptr || out == nullptr)
            return invalid("context_tensor_shape needs a context, a name and an output struct");
        ErrorCapture capture;
        nvinfer1::Dims const dims = c->context->getTensorShape(name);
        if (dims.nbDims < 0) {
            return capture.fail_with(PTRT_INVALID_ARGUMENT, (std::string("the engine has no I/O tensor '")
                                                             + name + "' or its shape is not known yet")
                                                                .c_str());
        }
        *out = to_ptrt_dims(dims);
        return PTRT_OK;
    });
}

ptrt_status api_context_set_tensor_address(ptrt_context* c, char const* name, void* address) noexcept {
    return guarded([&] {
        if (c == nullptr || !c->context || name == nullptr)
            return invalid("context_set_tensor_address needs a context and a name");
        ErrorCapture capture;
        if (!c->context->setTensorAddress(name, address)) {
            return capture.fail_with(
                PTRT_INVALID_ARGUMENT,
                (std::string("TensorRT refused the address of tensor '") + name + "'").c_str());
        }
        return PTRT_OK;
    });
}

ptrt_status api_context_set_debug_listener(ptrt_context* c, ptrt_debug_fn fn, void* user) noexcept {
    return guarded([&] {
        if (c == nullptr || !c->context)
            return invalid("the context handle is null");
        ErrorCapture capture;
        if (fn == nullptr) {
            // Detach before the old listener dies.
            c->context->setAllTensorsDebugState(false);
            c->context->setDebugListener(nullptr);
            c->listener.reset();
            return PTRT_OK;
        }
        auto listener = std::make_unique<DebugListener>(fn, user);
        if (!c->context->setDebugListener(listener.get()))
            return capture.fail_with(PTRT_ERROR, "TensorRT refused the debug listener");
        c->listener = std::move(listener); // the previous one is no longer referenced
        if (!c->context->setAllTensorsDebugState(true))
            return capture.fail_with(PTRT_ERROR, "TensorRT could not turn on its debug tensors");
        return PTRT_OK;
    });
}

ptrt_status api_context_enqueue(ptrt_context* c, void* stream) noexcept {
    return guarded([&] {
        if (c == nullptr || !c->context)
            return invalid("the context handle is null");
        ErrorCapture capture;
        if (!c->context->enqueueV3(static_cast<cudaStream_t>(stream)))
            return capture.fail_with(PTRT_ERROR, "TensorRT failed to enqueue inference");
        return PTRT_OK;
    });
}

// ---------------------------------------------------------------------------------------------
// The table

ptrt_api make_api() {
    ptrt_api a{};
    a.abi_version = PTRT_ABI_VERSION;
    a.last_error = &api_last_error;
    a.version = &api_version;
    a.set_logger = &api_set_logger;
    a.network_from_onnx = &api_network_from_onnx;
    a.network_destroy = &api_network_destroy;
    a.network_is_strongly_typed = &api_network_is_strongly_typed;
    a.network_nb_layers = &api_network_nb_layers;
    a.network_layer = &api_network_layer;
    a.network_layer_input = &api_network_layer_input;
    a.network_layer_output = &api_network_layer_output;
    a.network_nb_inputs = &api_network_nb_inputs;
    a.network_input = &api_network_input;
    a.network_nb_outputs = &api_network_nb_outputs;
    a.network_output = &api_network_output;
    a.layer_set_precision = &api_layer_set_precision;
    a.layer_reset_precision = &api_layer_reset_precision;
    a.layer_set_output_type = &api_layer_set_output_type;
    a.layer_reset_output_type = &api_layer_reset_output_type;
    a.mark_output = &api_mark_output;
    a.unmark_output = &api_unmark_output;
    a.mark_debug = &api_mark_debug;
    a.unmark_debug = &api_unmark_debug;
    a.build = &api_build;
    a.blob_data = &api_blob_data;
    a.blob_destroy = &api_blob_destroy;
    a.engine_deserialize = &api_engine_deserialize;
    a.engine_destroy = &api_engine_destroy;
    a.engine_nb_io = &api_engine_nb_io;
    a.engine_io = &api_engine_io;
    a.engine_layer_information = &api_engine_layer_information;
    a.context_create = &api_context_create;
    a.context_destroy = &api_context_destroy;
    a.context_set_input_shape = &api_context_set_input_shape;
    a.context_tensor_shape = &api_context_tensor_shape;
    a.context_set_tensor_address = &api_context_set_tensor_address;
    a.context_set_debug_listener = &api_context_set_debug_listener;
    a.context_enqueue = &api_context_enqueue;
    return a;
}

} // namespace

extern "C" ptrt_api const* ptrt_api_get(void) {
    static ptrt_api const api = make_api();
    return &api;
}
