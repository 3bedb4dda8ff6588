// The exported sparse model file: what a pruned model ships as.
//
// Only the non-zeros of the pruned layers are stored (CSR over [out, in·kernel]: int32 row
// pointers, 16-bit column indices when a row has at most 65536 columns, float32 values); every other
// parameter and buffer (biases, batch-norm statistics) is stored dense. At 90% sparsity the
// file is about 6x smaller than the dense checkpoint. The layout:
//
//   "GSPRSMDL" | u32 version | u64 header bytes | header (JSON) | payload | u32 CRC-32 of payload
//
// The JSON header names the model (so it can be rebuilt with models::make_model) and lists every
// tensor with its shape, encoding and byte range in the payload.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "gossamer/kernels/csr.h"
#include "gossamer/models/model.h"

namespace gossamer::sparse {

// Writes `model` (built from `spec`) to `path` atomically. Parameters named in `masks` are stored
// as CSR of the mask's pattern (a kept weight that is 0 is stored explicitly); the rest dense.
// Returns the file size in bytes.
int64_t export_sparse_model(const std::string& path, const models::ModelSpec& spec, const torch::nn::Module& model,
                            const std::map<std::string, at::Tensor>& masks);

struct SparseModel {
  models::ModelSpec spec;
  std::shared_ptr<models::Model> model;             // dense tensors, zeros off the patterns
  std::map<std::string, kernels::CsrWeight> sparse;  // the pruned layers as stored, [out, in·kernel]
  int64_t file_bytes = 0;
};

// Reads and checks a file written by export_sparse_model. Throws std::runtime_error naming the file
// and what is wrong (not a sparse model file, unsupported version, truncated, checksum mismatch,
// a tensor that does not match the rebuilt model).
SparseModel load_sparse_model(const std::string& path);

}  // namespace gossamer::sparse
