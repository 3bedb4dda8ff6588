#include "gossamer/compress/compressor.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "methods.h"

namespace gossamer::compress {

Compressor::~Compressor() = default;

comm::Bytes Compressor::encode(const at::Tensor& x, const EncodeKey& key) const {
  comm::Bytes p;
  encode_into(x, key, p);
  return p;
}

at::Tensor Compressor::decode(const comm::Bytes& packet, int64_t numel, const EncodeKey& key) const {
  at::Tensor out = at::empty({numel}, at::kFloat);
  decode_into(packet, out, key);
  return out;
}

std::vector<std::string> compressor_names() { return {"fp16", "bf16", "sign", "topk", "randk", "qsgd", "terngrad", "alq", "amq"}; }

void CompressorOptions::validate() const {
  if (!(density > 0.0 && density <= 1.0)) {
    throw std::invalid_argument("CompressorOptions.density = " + std::to_string(density) +
                                ": must be in (0, 1] (the fraction of coordinates sent)");
  }
  if (levels < 1 || levels > 127) {
    throw std::invalid_argument("CompressorOptions.levels = " + std::to_string(levels) +
                                ": must be in [1, 127] (the positive levels of qsgd, alq and amq: 1 takes 2 bits per "
                                "coordinate, up to 7 takes 4, up to 127 takes 8)");
  }
  if (bucket < 1) {
    throw std::invalid_argument("CompressorOptions.bucket = " + std::to_string(bucket) + ": must be >= 1");
  }
}

std::unique_ptr<Compressor> make_compressor(const CompressorOptions& o) {
  o.validate();
  if (o.method == "fp16") return detail::make_half(false);
  if (o.method == "bf16") return detail::make_half(true);
  if (o.method == "sign") return detail::make_sign();
  if (o.method == "topk") return detail::make_topk(o.density);
  if (o.method == "randk") return detail::make_randk(o.density, o.seed);
  if (o.method == "qsgd") return detail::make_qsgd(o.levels, o.bucket, o.seed);
  if (o.method == "terngrad") return detail::make_terngrad(o.seed);
  if (o.method == "alq") return detail::make_adaptive_quantizer(false, o.levels, o.bucket, o.seed);
  if (o.method == "amq") return detail::make_adaptive_quantizer(true, o.levels, o.bucket, o.seed);
  std::string known;
  for (const auto& n : compressor_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown compressor '" + o.method + "': known are " + known);
}

namespace detail {

at::Tensor flat_input(const at::Tensor& x, const char* method) {
  if (!x.defined() || x.scalar_type() != at::kFloat || !x.is_contiguous()) {
    throw std::invalid_argument(std::string(method) + ": encodes contiguous float32 tensors only");
  }
  return x.reshape({-1});
}

Payload open_payload(const Compressor& c, const comm::Bytes& packet, const at::Tensor& out, int sender) {
  if (!out.defined() || out.scalar_type() != at::kFloat || !out.is_contiguous()) {
    throw std::invalid_argument(c.name() + ": decodes into contiguous float32 tensors only");
  }
  const Payload pl = open_packet(packet, c.format(), out.numel(), sender, c.name());
  if (pl.size != c.payload_bytes(out.numel())) {
    throw PacketError(c.name() + " packet from rank " + std::to_string(sender) + " has a payload of " +
                      std::to_string(pl.size) + " bytes, expected " + std::to_string(c.payload_bytes(out.numel())) +
                      " (do all workers use the same [compress] settings?)");
  }
  return pl;
}

int64_t kept_count(double density, int64_t numel) {
  if (numel <= 0) return 0;
  return std::max<int64_t>(1, std::min<int64_t>(numel, std::llround(density * static_cast<double>(numel))));
}

uint64_t stream_seed(uint64_t seed, int64_t step, int rank) {
  // splitmix64-style mixing so that nearby (seed, step, rank) give unrelated streams.
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ull +
               static_cast<uint64_t>(rank + 1) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return FastRng(z).next();
}

at::Generator generator_for(uint64_t seed, int64_t step, int rank) {
  return at::detail::createCPUGenerator(stream_seed(seed, step, rank));
}

void bucket_norms(const at::Tensor& flat, int64_t bucket, float* norms) {
  const int64_t n = flat.numel(), full = n / bucket;
  if (full > 0) {
    at::Tensor out = at::from_blob(norms, {full}, at::kFloat);
    at::norm_out(out, flat.narrow(0, 0, full * bucket).view({full, bucket}), 2, {1});
  }
  if (n > full * bucket) norms[full] = flat.narrow(0, full * bucket, n - full * bucket).norm(2).item<float>();
}

uint8_t* scratch_bytes(size_t bytes) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

}  // namespace detail
}  // namespace gossamer::compress
