//! ONNX models for precision searches: loading (with external data and `--input-shapes`),
//! the layers a user can mark, and rewriting a model to an explicit mixed precision
//! (Q/DQ for INT8, Cast for FP16/BF16).
