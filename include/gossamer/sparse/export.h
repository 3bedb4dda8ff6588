// The exported sparse model file: what a pruned model ships as.
//
// Each pruned layer is stored in whichever of two encodings is smaller:
//   "csr"    only the kept weights: CSR over [out, in·kernel] (int32 row pointers, 16-bit column
//            indices when a row has at most 65536 columns, float32 values); pays when fewer than
//            about 2/3 of the weights are kept (6 bytes per kept weight against 4.125 per weight);
//   "masked" every value as float32 (zeros off the mask), then the mask as bits
//            ([ceil(numel / 8)] bytes, bit k of byte b is weight 8b + k, as sparse/mask_bits.h):
//            a layer that is still mostly dense (e.g. the grown partition of a GaP run stopped
//            mid-phase) costs 1/32 more than its dense weights, never the 1.5x CSR would.
// Every other parameter and buffer (biases, batch-norm statistics) is stored "dense". So the file
// is never larger than the dense float32 model plus 1/32 of its pruned layers and the header; at 90%
// sparsity it is about 6x smaller. The layout:
//
//   "GSPRSMDL" | u32 version | u64 header bytes | header (JSON) | payload | u32 CRC-32 of payload
//
// Version 1 files hold only "dense" and "csr" tensors; version 2 adds "masked". The writer uses
// the lowest version its tensors need (a model whose pruned layers are all CSR is a version-1 file,
// as earlier builds wrote), the reader reads both.
//
// The JSON header names the model (so it can be rebuilt with models::make_model) and lists every
// tensor with its shape, encoding, byte range in the payload and, for pruned layers, the number of
// kept weights ("nnz").
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
// with the mask's pattern, as CSR or as values + bitmask, whichever is smaller (a kept weight that
// is 0 stays kept; a weight off the mask is stored as 0); the rest dense. Returns the file size in
// bytes.
int64_t export_sparse_model(const std::string& path, const models::ModelSpec& spec, const torch::nn::Module& model,
                            const std::map<std::string, at::Tensor>& masks);

struct SparseModel {
  models::ModelSpec spec;
  std::shared_ptr<models::Model> model;             // dense tensors, zeros off the patterns
  // The pruned layers, [out, in·kernel], with exactly the masks they were exported with, whichever
  // encoding the file used for them: what `gossamer infer` and the sparse kernels run on.
  std::map<std::string, kernels::CsrWeight> sparse;
  std::map<std::string, std::string> encodings;  // every tensor: "csr", "masked" or "dense"
  int64_t file_bytes = 0;
};

// Reads and checks a file written by export_sparse_model. Throws std::runtime_error naming the file
// and what is wrong (not a sparse model file, unsupported version, truncated, checksum mismatch,
// a tensor that does not match the rebuilt model).
SparseModel load_sparse_model(const std::string& path);

}  // namespace gossamer::sparse
