#include "gossamer/compress/layerwise.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "gossamer/compress/packet.h"
#include "methods.h"

namespace gossamer::compress {

std::vector<CompressorOptions> strength_ladder(const CompressorOptions& uniform, size_t* index) {
  uniform.validate();
  std::vector<CompressorOptions> ladder;
  const std::string& m = uniform.method;
  if (m == "topk" || m == "randk") {
    std::vector<double> densities;
    for (double f : {8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.125}) {
      const double d = std::min(1.0, uniform.density * f);
      if (densities.empty() || d < densities.back()) densities.push_back(d);
    }
    for (double d : densities) {
      CompressorOptions o = uniform;
      o.density = d;
      ladder.push_back(o);
      if (d == uniform.density) *index = ladder.size() - 1;
    }
  } else if (m == "qsgd" || m == "alq" || m == "amq") {
    std::vector<int64_t> levels{127, 7, 1, uniform.levels};
    std::sort(levels.rbegin(), levels.rend());
    levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
    for (int64_t l : levels) {
      CompressorOptions o = uniform;
      o.levels = l;
      ladder.push_back(o);
      if (l == uniform.levels) *index = ladder.size() - 1;
    }
  } else {
    throw std::invalid_argument("layerwise compression (L-GreCo) chooses a density (topk, randk) or a number of "
                                "levels (qsgd, alq, amq) per layer; '" + m + "' has no such strength");
  }
  return ladder;
}

std::vector<int> choose_per_layer(const std::vector<std::vector<double>>& error,
                                  const std::vector<std::vector<double>>& bytes, int uniform, int resolution) {
  const size_t layers = error.size();
  if (layers == 0 || bytes.size() != layers) throw std::invalid_argument("choose_per_layer: empty or ragged tables");
  const size_t cands = error[0].size();
  for (size_t l = 0; l < layers; ++l) {
    if (error[l].size() != cands || bytes[l].size() != cands || cands == 0) {
      throw std::invalid_argument("choose_per_layer: every layer needs one error and one size per candidate");
    }
  }
  if (uniform < 0 || static_cast<size_t>(uniform) >= cands) throw std::invalid_argument("choose_per_layer: bad uniform");
  if (resolution < 1) throw std::invalid_argument("choose_per_layer: resolution must be >= 1");
  double total = 0;
  for (size_t l = 0; l < layers; ++l) total += std::max(0.0, error[l][static_cast<size_t>(uniform)]);
  const std::vector<int> uniform_choice(layers, uniform);
  if (!(total > 0) || !std::isfinite(total)) return uniform_choice;  // nothing to trade
  // Error units, rounded up; the budget is the uniform choice's units.
  const double unit = total / resolution;
  std::vector<std::vector<int64_t>> cost(layers, std::vector<int64_t>(cands));
  int64_t budget = 0;
  for (size_t l = 0; l < layers; ++l) {
    for (size_t c = 0; c < cands; ++c) {
      const double u = std::ceil(std::max(0.0, error[l][c]) / unit - 1e-9);
      cost[l][c] = std::isfinite(u) ? static_cast<int64_t>(std::min(u, 1e12)) : std::numeric_limits<int32_t>::max();
    }
    budget += cost[l][static_cast<size_t>(uniform)];
  }
  // best[b] = fewest bytes for the layers so far using at most b units; pick[l][b] its candidate.
  constexpr double kNone = std::numeric_limits<double>::infinity();
  std::vector<double> best(static_cast<size_t>(budget) + 1, 0.0), next;
  std::vector<std::vector<int>> pick(layers, std::vector<int>(static_cast<size_t>(budget) + 1, -1));
  for (size_t l = 0; l < layers; ++l) {
    next.assign(best.size(), kNone);
    for (int64_t b = 0; b <= budget; ++b) {
      for (size_t c = 0; c < cands; ++c) {
        if (cost[l][c] > b || best[static_cast<size_t>(b - cost[l][c])] == kNone) continue;
        const double v = best[static_cast<size_t>(b - cost[l][c])] + bytes[l][c];
        if (v < next[static_cast<size_t>(b)]) {
          next[static_cast<size_t>(b)] = v;
          pick[l][static_cast<size_t>(b)] = static_cast<int>(c);
        }
      }
    }
    best.swap(next);
  }
  if (best[static_cast<size_t>(budget)] == kNone) return uniform_choice;
  std::vector<int> choice(layers);
  int64_t b = budget;
  for (size_t l = layers; l-- > 0;) {
    const int c = pick[l][static_cast<size_t>(b)];
    choice[l] = c;
    b -= cost[l][static_cast<size_t>(c)];
  }
  return choice;
}

namespace {

class Layerwise final : public Compressor {
 public:
  Layerwise(const CompressorOptions& uniform, std::vector<int64_t> layers, const LayerwiseOptions& o)
      : layers_(std::move(layers)), options_(o) {
    if (o.every < 1) throw std::invalid_argument("LayerwiseOptions.every = " + std::to_string(o.every) + ": must be >= 1");
    if (o.resolution < 1) {
      throw std::invalid_argument("LayerwiseOptions.resolution = " + std::to_string(o.resolution) + ": must be >= 1");
    }
    if (layers_.empty()) throw std::invalid_argument("layerwise compression needs at least one layer");
    for (int64_t n : layers_) {
      if (n < 0) throw std::invalid_argument("layerwise compression: a layer of " + std::to_string(n) + " values");
    }
    size_t u = 0;
    const std::vector<CompressorOptions> ladder = strength_ladder(uniform, &u);
    uniform_ = static_cast<int>(u);
    for (const auto& c : ladder) coders_.push_back(make_compressor(c));
    choice_.assign(layers_.size(), uniform_);
    name_ = "lgreco " + uniform.method;
  }

  std::string name() const override { return name_; }
  uint8_t format() const override { return detail::kLayerwise; }
  bool unbiased() const override {
    return std::all_of(coders_.begin(), coders_.end(), [](const auto& c) { return c->unbiased(); });
  }
  size_t payload_bytes(int64_t numel) const override {
    check_numel(numel);
    size_t total = 0;
    for (size_t l = 0; l < layers_.size(); ++l) total += kPacketHeaderBytes + coder(l).payload_bytes(layers_[l]);
    return total;
  }

  void encode_into(const at::Tensor& x, const EncodeKey& key, comm::Bytes& p) const override {
    const at::Tensor flat = detail::flat_input(x, "lgreco");
    start_packet(p, format(), flat.numel(), payload_bytes(flat.numel()));
    size_t at = kPacketHeaderBytes;
    int64_t offset = 0;
    for (size_t l = 0; l < layers_.size(); ++l) {
      coder(l).encode_into(flat.narrow(0, offset, layers_[l]), key, part_);
      std::copy(part_.begin(), part_.end(), p.begin() + static_cast<std::ptrdiff_t>(at));
      at += part_.size();
      offset += layers_[l];
    }
    seal_packet(p);
  }

  void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const override {
    const Payload pl = detail::open_payload(*this, packet, out, key.rank);
    size_t at = 0;
    int64_t offset = 0;
    for (size_t l = 0; l < layers_.size(); ++l) {
      const size_t size = kPacketHeaderBytes + coder(l).payload_bytes(layers_[l]);
      part_.assign(pl.data + at, pl.data + at + size);
      at::Tensor slice = out.narrow(0, offset, layers_[l]);
      coder(l).decode_into(part_, slice, key);
      at += size;
      offset += layers_[l];
    }
  }

  void adapt(const at::Tensor& message, const EncodeKey& key,
             const std::function<void(at::Tensor&)>& sum_over_workers) override {
    if (calls_++ % options_.every != 0) return;
    const at::Tensor flat = detail::flat_input(message, "lgreco");
    check_numel(flat.numel());
    const size_t L = layers_.size(), C = coders_.size();
    // One row per layer: the squared error of every candidate, summed over the workers.
    at::Tensor table = at::zeros({static_cast<int64_t>(L), static_cast<int64_t>(C)}, at::kDouble);
    int64_t offset = 0;
    for (size_t l = 0; l < L; ++l) {
      const at::Tensor m = flat.narrow(0, offset, layers_[l]);
      at::Tensor decoded = at::empty({layers_[l]}, at::kFloat);
      for (size_t c = 0; c < C; ++c) {
        coders_[c]->encode_into(m, key, part_);
        coders_[c]->decode_into(part_, decoded, key);
        table[static_cast<int64_t>(l)][static_cast<int64_t>(c)] = (m - decoded).pow(2).sum().item<double>();
      }
      offset += layers_[l];
    }
    sum_over_workers(table);
    std::vector<std::vector<double>> error(L, std::vector<double>(C)), bytes(L, std::vector<double>(C));
    for (size_t l = 0; l < L; ++l) {
      for (size_t c = 0; c < C; ++c) {
        error[l][c] = table[static_cast<int64_t>(l)][static_cast<int64_t>(c)].item<double>();
        bytes[l][c] = static_cast<double>(coders_[c]->payload_bytes(layers_[l]));
      }
    }
    choice_ = choose_per_layer(error, bytes, uniform_, options_.resolution);
  }

  at::Tensor adapted_state() const override {
    at::Tensor s = at::empty({static_cast<int64_t>(choice_.size()) + 1}, at::kLong);
    s[0] = calls_;
    for (size_t l = 0; l < choice_.size(); ++l) s[static_cast<int64_t>(l) + 1] = choice_[l];
    return s;
  }
  void load_adapted_state(const at::Tensor& state) override {
    if (!state.defined() || state.numel() != static_cast<int64_t>(choice_.size()) + 1) {
      throw std::runtime_error(name_ + ": the checkpoint's layer choice has " +
                               std::to_string(state.defined() ? state.numel() - 1 : -1) + " layers, this model " +
                               std::to_string(choice_.size()));
    }
    const at::Tensor s = state.to(at::kLong);
    calls_ = s[0].item<int64_t>();
    for (size_t l = 0; l < choice_.size(); ++l) {
      const int64_t c = s[static_cast<int64_t>(l) + 1].item<int64_t>();
      if (c < 0 || c >= static_cast<int64_t>(coders_.size())) {
        throw std::runtime_error(name_ + ": the checkpoint chooses candidate " + std::to_string(c) + " for layer " +
                                 std::to_string(l) + ", the ladder has " + std::to_string(coders_.size()));
      }
      choice_[l] = static_cast<int>(c);
    }
  }

 private:
  const Compressor& coder(size_t l) const { return *coders_[static_cast<size_t>(choice_[l])]; }
  void check_numel(int64_t numel) const {
    const int64_t total = std::accumulate(layers_.begin(), layers_.end(), int64_t{0});
    if (numel != total) {
      throw std::invalid_argument(name_ + ": a message of " + std::to_string(numel) + " values, but the layers hold " +
                                  std::to_string(total) + " (layerwise compression needs the dense flat parameters)");
    }
  }

  std::vector<int64_t> layers_;
  LayerwiseOptions options_;
  std::vector<std::unique_ptr<Compressor>> coders_;
  int uniform_ = 0;
  std::vector<int> choice_;
  int64_t calls_ = 0;
  std::string name_;
  mutable comm::Bytes part_;  // one layer's packet, reused
};

}  // namespace

std::unique_ptr<Compressor> make_layerwise(const CompressorOptions& uniform, std::vector<int64_t> layer_numels,
                                           const LayerwiseOptions& options) {
  return std::make_unique<Layerwise>(uniform, std::move(layer_numels), options);
}

}  // namespace gossamer::compress
