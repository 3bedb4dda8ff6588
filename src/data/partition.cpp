#include "gossamer/data/partition.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

namespace gossamer::data {

PartitionKind parse_partition_kind(const std::string& name) {
  if (name == "iid") return PartitionKind::Iid;
  if (name == "dirichlet") return PartitionKind::Dirichlet;
  if (name == "classes") return PartitionKind::Classes;
  throw std::invalid_argument("unknown partition '" + name + "': use iid, dirichlet or classes");
}

std::string to_string(PartitionKind kind) {
  switch (kind) {
    case PartitionKind::Iid: return "iid";
    case PartitionKind::Dirichlet: return "dirichlet";
    case PartitionKind::Classes: return "classes";
  }
  return "?";
}

namespace {

using Parts = std::vector<std::vector<int64_t>>;

std::vector<std::vector<int64_t>> indices_by_class(const at::Tensor& labels, int64_t num_classes) {
  at::Tensor l = labels.to(at::kLong).contiguous();
  const int64_t* p = l.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < l.numel(); ++i) {
    if (p[i] < 0 || p[i] >= num_classes) {
      throw std::invalid_argument("partition: label " + std::to_string(p[i]) + " outside [0, " +
                                  std::to_string(num_classes) + ")");
    }
    by_class[static_cast<size_t>(p[i])].push_back(i);
  }
  return by_class;
}

Parts split_iid(int64_t n, int workers, std::mt19937_64& rng) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  Parts parts(static_cast<size_t>(workers));
  for (int w = 0; w < workers; ++w) {
    // Contiguous shares of sizes that differ by at most one.
    const int64_t begin = n * w / workers, end = n * (w + 1) / workers;
    parts[static_cast<size_t>(w)].assign(all.begin() + begin, all.begin() + end);
  }
  return parts;
}

// Hsu et al. (2019): for every class draw worker proportions p ~ Dir(alpha) and cut the class's
// shuffled samples at the cumulative proportions. Redraw (bounded) until every worker has a sample.
Parts split_dirichlet(const std::vector<std::vector<int64_t>>& by_class, int workers, double alpha,
                      std::mt19937_64& rng) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  constexpr int kMaxTries = 100;
  for (int attempt = 0; attempt < kMaxTries; ++attempt) {
    Parts parts(static_cast<size_t>(workers));
    for (auto cls : by_class) {
      std::shuffle(cls.begin(), cls.end(), rng);
      std::vector<double> p(static_cast<size_t>(workers));
      double total = 0;
      for (auto& v : p) total += (v = gamma(rng));
      if (total <= 0) {  // every draw underflowed at tiny alpha: give the class to one worker
        std::fill(p.begin(), p.end(), 0.0);
        p[std::uniform_int_distribution<size_t>(0, p.size() - 1)(rng)] = total = 1.0;
      }
      double cum = 0;
      size_t start = 0;
      for (int w = 0; w < workers; ++w) {
        cum += p[static_cast<size_t>(w)] / total;
        const size_t end = (w == workers - 1) ? cls.size() : static_cast<size_t>(cum * static_cast<double>(cls.size()));
        for (size_t k = start; k < std::max(start, end); ++k) parts[static_cast<size_t>(w)].push_back(cls[k]);
        start = std::max(start, end);
      }
    }
    if (std::all_of(parts.begin(), parts.end(), [](const auto& v) { return !v.empty(); })) {
      for (auto& v : parts) std::sort(v.begin(), v.end());
      return parts;
    }
  }
  throw std::invalid_argument("partition: Dirichlet(alpha=" + std::to_string(alpha) + ") left a worker empty in " +
                              std::to_string(kMaxTries) + " draws; use a larger alpha or fewer workers");
}

// McMahan et al. (2017) shards: sort by label, cut into workers*k shards, deal k shards to each worker.
Parts split_classes(const std::vector<std::vector<int64_t>>& by_class, int workers, int k, std::mt19937_64& rng) {
  std::vector<int64_t> sorted;
  for (auto cls : by_class) {
    std::shuffle(cls.begin(), cls.end(), rng);
    sorted.insert(sorted.end(), cls.begin(), cls.end());
  }
  const int64_t shards = static_cast<int64_t>(workers) * k;
  const int64_t n = static_cast<int64_t>(sorted.size());
  if (n < shards) {
    throw std::invalid_argument("partition: " + std::to_string(n) + " samples cannot make " + std::to_string(shards) +
                                " shards (workers x classes_per_worker)");
  }
  std::vector<int64_t> order(static_cast<size_t>(shards));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  Parts parts(static_cast<size_t>(workers));
  for (int64_t s = 0; s < shards; ++s) {
    const int64_t shard = order[static_cast<size_t>(s)];
    const int64_t begin = n * shard / shards, end = n * (shard + 1) / shards;
    auto& dst = parts[static_cast<size_t>(s / k)];
    dst.insert(dst.end(), sorted.begin() + begin, sorted.begin() + end);
  }
  for (auto& v : parts) std::sort(v.begin(), v.end());
  return parts;
}

}  // namespace

std::vector<std::vector<int64_t>> partition(const at::Tensor& labels, int64_t num_classes, int workers,
                                            const PartitionSpec& spec) {
  if (workers < 1) throw std::invalid_argument("partition: workers must be >= 1, got " + std::to_string(workers));
  const int64_t n = labels.numel();
  if (n < workers) {
    throw std::invalid_argument("partition: " + std::to_string(n) + " samples cannot be split over " +
                                std::to_string(workers) + " workers");
  }
  std::mt19937_64 rng(spec.seed);
  switch (spec.kind) {
    case PartitionKind::Iid:
      return split_iid(n, workers, rng);
    case PartitionKind::Dirichlet:
      if (!(spec.alpha > 0)) throw std::invalid_argument("partition: Dirichlet alpha must be > 0");
      return split_dirichlet(indices_by_class(labels, num_classes), workers, spec.alpha, rng);
    case PartitionKind::Classes:
      if (spec.classes_per_worker < 1 || spec.classes_per_worker > num_classes) {
        throw std::invalid_argument("partition: classes_per_worker must be in [1, " + std::to_string(num_classes) +
                                    "], got " + std::to_string(spec.classes_per_worker));
      }
      return split_classes(indices_by_class(labels, num_classes), workers, spec.classes_per_worker, rng);
  }
  throw std::logic_error("partition: unhandled kind");
}

}  // namespace gossamer::data
