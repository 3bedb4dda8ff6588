// Internal helpers shared by the kernels' .cpp files (argument checks with clear messages).
// Not part of the public API.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gossamer::kernels::detail {

// Below this many multiply-adds a kernel call runs on the calling thread: waking the pool costs more.
constexpr int64_t kSerialWork = 1 << 15;

// "[3, 7] float" style description of a tensor for error messages.
std::string shape_of(const at::Tensor& t);

// Throws std::invalid_argument unless w is a defined 2-D float32 CPU tensor [out, in].
void check_weight(const at::Tensor& w, const char* who);

// Contiguous bool copy of a mask shaped like w. Accepts bool or any numeric dtype whose entries
// are all 0 or 1; throws std::invalid_argument naming both shapes otherwise.
at::Tensor mask_as_bool(const at::Tensor& mask, const at::Tensor& w, const char* who);

// Throws std::invalid_argument unless x is a 2-D float32 CPU tensor [batch, features] with
// `features` columns; `what` names the argument ("x", "grad_output").
void check_activations(const at::Tensor& x, int64_t features, const char* who, const char* what);

// Splits rows [0, rows) into `parts` ranges of about equal work, where a row costs its non-zeros
// plus one (the store of its outputs): bounds [parts + 1], range t is [bounds[t], bounds[t+1]).
// row_ptr == nullptr means rows of equal length; otherwise row_ptr[0] must be 0.
std::vector<int64_t> split_rows(const int32_t* row_ptr, int64_t rows, int64_t parts);

}  // namespace gossamer::kernels::detail
