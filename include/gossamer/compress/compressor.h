// Compressor: a tensor to a packet of packed bytes and back (docs/compress.md).
//
// encode(x) writes a packet (packet.h: a 24-byte header with format, element count and checksum,
// then the payload); decode(packet) checks the header and rebuilds the tensor. Random choices come
// from (options.seed, step) where every rank must make the same choice (random-k's indices, so
// that a receiver can rebuild them and the packets could be summed), and from (seed, step, rank)
// where they must be independent (stochastic rounding). Error feedback is not part of a
// compressor: it is a separate memory (error_feedback.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gossamer/comm/communicator.h"

namespace gossamer::compress {

struct CompressorOptions {
  std::string method = "fp16";  // fp16 | bf16 | sign | topk | randk | qsgd | terngrad | alq | amq
  double density = 0.01;        // topk, randk: fraction of the coordinates sent, in (0, 1]
  int64_t levels = 7;           // qsgd (7: 4 bits a coordinate): s, the number of positive levels (1..127); alq, amq: levels above 0 (1..127)
  int64_t bucket = 512;         // qsgd, alq, amq: coordinates per norm (>= 1)
  uint64_t seed = 1;            // shared and private random choices
  // Throws std::invalid_argument naming the field, the value and what is allowed.
  void validate() const;
};

// Who encodes what: random choices that must agree use (seed, step), private ones add the rank.
struct EncodeKey {
  int64_t step = 0;
  int rank = 0;
};

class Compressor {
 public:
  virtual ~Compressor();
  virtual std::string name() const = 0;
  // The packet header's format byte; distinct per method.
  virtual uint8_t format() const = 0;
  // E[decode(encode(x))] = x.
  virtual bool unbiased() const = 0;
  // τ of an unbiased compressor whose second moment has a bound that does not depend on the data,
  // E||decode(encode(x))||^2 <= τ ||x||^2 for every x of `numel` elements; 0 when there is none
  // (biased compressors, or a bound that depends on x). CHOCO scales such decodes by 1/τ, which
  // makes them contractions (Koloskova et al. 2019): random-k τ = the largest block, ceil(d / k);
  // QSGD τ = 1 + min(B / s^2, sqrt(B) / s) with B = min(bucket, d).
  virtual double variance_factor(int64_t numel) const { return 0.0; }
  // Whether one step's packets can be summed without decoding: every rank's payload (same key.step)
  // is payload_bytes / 4 float32 values at the same positions, and the packet whose payload is the
  // elementwise sum decodes to the sum of the decodes. Such packets travel through an allreduce
  // instead of all-to-all (random-k: coordinates shared by every rank, values linear).
  virtual bool summable() const { return false; }
  // The payload size for `numel` elements (the packet adds kPacketHeaderBytes): what the tests
  // hold the packets to.
  virtual size_t payload_bytes(int64_t numel) const = 0;
  // x: contiguous float32, any shape (encoded flat) into `packet`, whose storage is reused.
  virtual void encode_into(const at::Tensor& x, const EncodeKey& key, comm::Bytes& packet) const = 0;
  // The tensor `packet` encodes, written into `out` (contiguous float32; its numel is the element
  // count expected); `key` is the sender's (its rank names it in errors). Throws PacketError for a
  // packet that is truncated, corrupted or not of this compressor; `out` is then unspecified.
  virtual void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const = 0;

  // Called by the mixing rule on every worker before it encodes `message` (what every worker is
  // about to encode this step), with a function that sums a float64 tensor over the workers taking
  // part. A compressor that adapts its settings to the messages (layerwise.h, L-GreCo) does it
  // here, from sums, so that every worker makes the same choice. Default: nothing.
  virtual void adapt(const at::Tensor& message, const EncodeKey& key,
                     const std::function<void(at::Tensor&)>& sum_over_workers) {}
  // The settings adapt() chose, for checkpoints (undefined when there are none), and their restore.
  virtual at::Tensor adapted_state() const { return {}; }
  virtual void load_adapted_state(const at::Tensor& state) {}

  // The same into fresh storage (first touch of fresh memory is slow here: reuse buffers in loops).
  comm::Bytes encode(const at::Tensor& x, const EncodeKey& key) const;
  at::Tensor decode(const comm::Bytes& packet, int64_t numel, const EncodeKey& key) const;
};

// Every method name make_compressor accepts.
std::vector<std::string> compressor_names();
// Builds and validates; throws std::invalid_argument for an unknown method (listing the known ones).
std::unique_ptr<Compressor> make_compressor(const CompressorOptions& options);

}  // namespace gossamer::compress
