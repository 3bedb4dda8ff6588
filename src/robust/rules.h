// The aggregation rules behind make_aggregator (aggregator.h), and the pieces they share.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "gossamer/robust/aggregator.h"

namespace gossamer::robust::detail {

std::unique_ptr<Aggregator> make_mean();
std::unique_ptr<Aggregator> make_median();
std::unique_ptr<Aggregator> make_trimmed_mean(int64_t trim);
std::unique_ptr<Aggregator> make_krum(int64_t f, int64_t select);  // select = 1: Krum; 0: n - f
std::unique_ptr<Aggregator> make_geometric_median(int64_t iterations, double smoothing);
std::unique_ptr<Aggregator> make_centered_clipping(double radius, int64_t iterations);
std::unique_ptr<Aggregator> make_safeguard(const SafeguardOptions& options);
std::unique_ptr<Aggregator> make_nnm(int64_t f, std::unique_ptr<Aggregator> inner);
std::unique_ptr<Aggregator> make_bucketing(int64_t size, uint64_t seed, std::unique_ptr<Aggregator> inner);

// Throws std::invalid_argument unless `inputs` is [n, d] float32 contiguous with n >= min_n,
// `senders` has n entries and `out` is [d] float32 contiguous.
void check_call(const std::string& rule, const at::Tensor& inputs, const std::vector<int>& senders,
                const at::Tensor& out, int64_t min_n, const std::string& why);

// [n, n] float64: ||x_i - x_j||^2, from differences (no cancellation), symmetric, zero diagonal.
at::Tensor pairwise_squared_distances(const at::Tensor& inputs);

// out[c] <- the mean of rows [lo, hi) of coordinate c's values sorted ascending (ties in row
// order): the median or the trimmed mean; shares (if given) <- each row's fraction of the values used.
void sorted_range_mean(const at::Tensor& inputs, int64_t lo, int64_t hi, at::Tensor& out, std::vector<double>* shares);

// out <- sum_k w[k] inputs[k] / sum_k w[k], in row order; report.share <- the normalised w.
void weighted_mean(const at::Tensor& inputs, const std::vector<double>& w, at::Tensor& out, AggregateReport& report);

}  // namespace gossamer::robust::detail
